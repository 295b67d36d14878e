//! A table function joined to each record (Flink's `LATERAL TABLE(f(…)) AS t(a, b)`): its
//! arguments evaluated over the batch, one call for the whole batch, and the batch expanded to
//! a row per row it returned, its output columns set beside the record's fields.

use crate::columns::Column;
use crate::error::SqlError;
use crate::expr::{Compiler, Scalar};
use crate::projection::{Input, argument_arrays, parser};
use crate::value::Value;
use weir_proto::spec::LateralSpec;

/// A compiled table function call.
#[derive(Debug, Clone)]
pub(crate) struct Lateral {
    args: Vec<Scalar>,
    columns: Vec<String>,
    /// For each input field of the step, the function's column it is (none: the record's own).
    field_columns: Vec<Option<usize>>,
    outer: bool,
}

/// A batch expanded by a table function: the fields of each output row, its event time, and
/// the input record it came from.
pub(crate) struct Expanded {
    pub(crate) fields: Vec<Column>,
    pub(crate) times: Vec<i64>,
    pub(crate) origin: Vec<usize>,
}

impl Lateral {
    /// Compiles the call's arguments with the step's `compiler` (sharing its input fields).
    pub(crate) fn compile(spec: &LateralSpec, compiler: &mut Compiler) -> Result<Self, SqlError> {
        let mut args = Vec::new();
        for text in &spec.args {
            let expr = parser(text)?.parse_expr().map_err(SqlError::parse)?;
            args.push(compiler.compile(&expr)?.0);
        }
        if spec.columns.is_empty() {
            return Err(SqlError::at_place(
                (1, 1),
                format!("table function {}: name its columns", spec.function),
            ));
        }
        Ok(Lateral {
            args,
            columns: spec.columns.clone(),
            field_columns: Vec::new(),
            outer: spec.outer,
        })
    }

    /// Adds the Wasm scalar functions its arguments call to `called`.
    pub(crate) fn calls(&self, called: &mut Vec<bool>) {
        self.args.iter().for_each(|a| a.calls(called));
    }

    /// Finds which input fields (of all the step's expressions) are the function's columns.
    pub(crate) fn bind(&mut self, fields: &[String]) {
        self.field_columns = fields
            .iter()
            .map(|f| self.columns.iter().position(|c| c == f))
            .collect();
    }

    /// The rows of `input` joined with what the table function returns for each; a record
    /// whose arguments or call fail gets its reason in `errors` and no rows.
    pub(crate) fn expand(&self, input: &mut Input, errors: &mut [Option<String>]) -> Expanded {
        let args: Vec<Vec<Value>> = self.args.iter().map(|a| input.eval(a, errors)).collect();
        let asked = argument_arrays(&args, errors);
        let mut expanded = Expanded {
            fields: vec![Column::with_capacity(input.rows); input.fields.len()],
            times: Vec::new(),
            origin: Vec::new(),
        };
        let results = match input.calls.table(&asked) {
            Ok(results) => results,
            Err(fatal) => {
                input.fatal.get_or_insert(fatal);
                return expanded;
            }
        };
        for (row, result) in results.into_iter().enumerate() {
            if asked.get(row).is_none_or(Option::is_none) {
                continue;
            }
            let rows = match result.and_then(|rows| self.rows(&rows)) {
                Ok(rows) => rows,
                Err(error) => {
                    errors[row].get_or_insert(error);
                    continue;
                }
            };
            let rows = match (rows.is_empty(), self.outer) {
                (true, true) => vec![vec![Value::Null; self.columns.len()]],
                _ => rows,
            };
            for mut values in rows {
                for (n, (field, column)) in expanded.fields.iter_mut().zip(input.fields).enumerate()
                {
                    match self.field_columns[n] {
                        Some(c) => field.push(std::mem::replace(&mut values[c], Value::Null)),
                        None => field.push(column.value(row)),
                    }
                }
                expanded.times.push(input.times[row]);
                expanded.origin.push(row);
            }
        }
        expanded
    }

    /// A row's columns from each JSON text the function returned.
    fn rows(&self, texts: &[Vec<u8>]) -> Result<Vec<Vec<Value>>, String> {
        texts.iter().map(|text| self.row(text)).collect()
    }

    /// A row's columns: an array's elements in order, an object's members by name, or (one
    /// column) the value itself.
    fn row(&self, text: &[u8]) -> Result<Vec<Value>, String> {
        let shown = || {
            String::from_utf8_lossy(text)
                .chars()
                .take(200)
                .collect::<String>()
        };
        let trimmed = text.trim_ascii();
        let n = self.columns.len();
        let misshapen = || {
            format!(
                "the table function returned {}, where a row of {n} columns ({}) is expected",
                shown(),
                self.columns.join(", ")
            )
        };
        match trimmed.first() {
            Some(b'[') if n > 1 => {
                let elements = weir_json::elements(trimmed).map_err(|e| e.to_string())?;
                match elements.len() == n {
                    true => Ok(elements.into_iter().map(Value::from_json).collect()),
                    false => Err(misshapen()),
                }
            }
            Some(b'{') if n > 1 => {
                let names: Vec<&str> = self.columns.iter().map(String::as_str).collect();
                let mut found = vec![None; n];
                weir_json::fields_into(trimmed, &names, &mut found).map_err(|e| e.to_string())?;
                Ok(found
                    .into_iter()
                    .map(|raw| raw.map_or(Value::Null, Value::from_json))
                    .collect())
            }
            _ if n > 1 => Err(misshapen()),
            _ => match std::str::from_utf8(trimmed) {
                Ok(raw) => Ok(vec![Value::from_json(raw)]),
                Err(_) => Err(format!("the table function returned {}, not JSON", shown())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{CallResults, Projection, ScalarCalls, TableResults};
    use weir_proto::RecordBatch;
    use weir_proto::spec::{LateralSpec, SelectSpec};

    /// A table function splitting its one string argument into `[word, position]` rows; an
    /// argument that is not a string fails its row.
    struct Split;

    impl ScalarCalls for Split {
        fn call(&mut self, index: usize, _: &[Option<Vec<u8>>]) -> Result<CallResults, String> {
            Err(format!("no scalar function {index}"))
        }

        fn table(&mut self, args: &[Option<Vec<u8>>]) -> Result<TableResults, String> {
            Ok(args
                .iter()
                .map(|arg| {
                    let text = String::from_utf8(arg.clone().unwrap_or_default()).unwrap();
                    let Some(words) = text.strip_prefix("[\"").and_then(|t| t.strip_suffix("\"]"))
                    else {
                        return Err(format!("not a string: {text}"));
                    };
                    Ok(words
                        .split_whitespace()
                        .enumerate()
                        .map(|(i, w)| format!("[\"{w}\",{i}]").into_bytes())
                        .collect())
                })
                .collect())
        }
    }

    fn run(outer: bool, condition: Option<&str>, records: &[&str]) -> Vec<String> {
        let spec = SelectSpec {
            columns: vec![
                "id".into(),
                "UPPER(word) AS w".into(),
                "position + 1 AS n".into(),
            ],
            condition: condition.map(str::to_string),
            lateral: Some(LateralSpec {
                function: "split".into(),
                args: vec!["text".into()],
                columns: vec!["word".into(), "position".into()],
                outer,
            }),
            ..SelectSpec::default()
        };
        let projection = Projection::parse(&spec).unwrap();
        let mut batch = RecordBatch::default();
        for (i, r) in records.iter().enumerate() {
            batch.push(Some(b"k"), r.as_bytes(), i as i64);
        }
        let (out, refused) = projection.apply(&batch, &mut Split).unwrap();
        let mut lines: Vec<String> = out
            .iter()
            .map(|r| format!("{}@{}", String::from_utf8_lossy(r.value), r.timestamp))
            .collect();
        lines.extend(
            refused
                .into_iter()
                .map(|(i, e)| format!("refused {i}: {e}")),
        );
        lines
    }

    #[test]
    fn each_record_joins_the_rows_its_table_function_returns() {
        let records = [
            r#"{"id":1,"text":"a b"}"#,
            r#"{"id":2,"text":""}"#,
            r#"{"id":3,"text":7}"#,
            r#"{"id":4,"text":"c"}"#,
        ];
        assert_eq!(
            run(false, None, &records),
            [
                r#"{"id":1,"w":"A","n":1}@0"#,
                r#"{"id":1,"w":"B","n":2}@0"#,
                r#"{"id":4,"w":"C","n":1}@3"#,
                "refused 2: not a string: [7]",
            ]
        );
        assert_eq!(
            run(true, Some("position IS NULL OR position > 0"), &records),
            [
                r#"{"id":1,"w":"B","n":2}@0"#,
                r#"{"id":2,"w":null,"n":null}@1"#,
                "refused 2: not a string: [7]",
            ]
        );
    }
}
