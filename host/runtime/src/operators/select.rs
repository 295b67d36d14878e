//! The `select` step: SQL projections and filters over records' JSON fields, evaluated natively
//! a batch at a time by weir-sql, calling Wasm scalar functions (and a table function joined to
//! each record) once per batch. A record it cannot evaluate (not a JSON object, a division by
//! zero, a function's rejection) is rejected with the reason, never dropped.

use super::{Operator, RejectSink, Rejection};
use crate::error::TaskError;
use weir_proto::RecordBatch;
use weir_proto::spec::SelectSpec;
use weir_sql::{CallResults, Projection, ScalarCalls, TableResults};
use weir_wasm::TransformUdf;

/// One subtask of a `select` step.
pub(super) struct Select {
    operator: String,
    projection: Projection,
    functions: Functions,
}

/// The Wasm functions of a `select` step, one instance each: its scalar functions in the
/// projection's order (none for one it names but never calls), and its table function.
pub(super) struct Functions {
    scalars: Vec<Option<TransformUdf>>,
    table: Option<TransformUdf>,
}

impl Select {
    /// The step `operator` with the expressions of `spec`, its functions instantiated by
    /// `instance` (from a module name).
    pub(super) fn new(
        operator: String,
        spec: &SelectSpec,
        instance: impl Fn(&str) -> Result<TransformUdf, TaskError>,
    ) -> Result<Self, TaskError> {
        let projection = Projection::parse(spec).map_err(|error| TaskError::Config {
            operator: operator.clone(),
            message: format!("select: {error}"),
        })?;
        let mut scalars = Vec::new();
        for (index, function) in spec.functions.iter().enumerate() {
            scalars.push(match projection.calls(index) {
                true => Some(instance(function)?),
                false => None,
            });
        }
        let table = match &spec.lateral {
            Some(lateral) => Some(instance(&lateral.function)?),
            None => None,
        };
        Ok(Select {
            operator,
            projection,
            functions: Functions { scalars, table },
        })
    }
}

/// Calls `udf` once for the rows of `args` asked for (`Some`), each a record keyed by its
/// place among them, which a map or a flat_map keeps: per row, the values returned or why the
/// row failed (`Err` for a row not asked). `Err` as a whole when the call trapped.
fn call_rows(udf: &mut TransformUdf, args: &[Option<Vec<u8>>]) -> Result<TableResults, String> {
    let mut batch = RecordBatch::default();
    let mut asked = Vec::new();
    for (row, arg) in args.iter().enumerate() {
        if let Some(arg) = arg {
            batch.push(Some(&(asked.len() as u32).to_le_bytes()), arg, 0);
            asked.push(row);
        }
    }
    let mut results: TableResults = vec![Ok(Vec::new()); args.len()];
    if asked.is_empty() {
        return Ok(results);
    }
    let module = udf.module().to_string();
    let (output, errors) = udf
        .process(&mut batch)
        .map_err(|e| format!("function {module}: {e}"))?;
    for record in output.iter() {
        let place = record
            .key
            .and_then(|key| key.try_into().ok())
            .map(u32::from_le_bytes)
            .and_then(|i| asked.get(i as usize));
        let Some(&row) = place else {
            return Err(format!(
                "function {module} returned a record whose key is not its input's (a SQL function keeps the key it is given)"
            ));
        };
        if let Ok(values) = &mut results[row] {
            values.push(record.value.to_vec());
        }
    }
    for error in errors {
        if let Some(&row) = asked.get(error.index as usize) {
            results[row] = Err(error.message);
        }
    }
    Ok(results)
}

impl ScalarCalls for Functions {
    fn call(&mut self, index: usize, args: &[Option<Vec<u8>>]) -> Result<CallResults, String> {
        let udf = self
            .scalars
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or_else(|| format!("no scalar function {index} is loaded"))?;
        let module = udf.module().to_string();
        Ok(call_rows(udf, args)?
            .into_iter()
            .zip(args)
            .map(|(result, asked)| match (result, asked) {
                (Err(error), _) => Err(error),
                (Ok(mut values), Some(_)) if values.len() == 1 => Ok(values.remove(0)),
                (Ok(values), Some(_)) => Err(format!(
                    "scalar function {module} returned {} results for one row",
                    values.len()
                )),
                (Ok(_), None) => Err(String::new()),
            })
            .collect())
    }

    fn table(&mut self, args: &[Option<Vec<u8>>]) -> Result<TableResults, String> {
        let udf = self
            .table
            .as_mut()
            .ok_or_else(|| "no table function is loaded".to_string())?;
        call_rows(udf, args)
    }
}

impl Operator for Select {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (out, refused) =
            self.projection
                .apply(&batch, &mut self.functions)
                .map_err(|message| TaskError::Config {
                    operator: self.operator.clone(),
                    message,
                })?;
        for (index, error) in refused {
            rejects.reject(Rejection {
                operator: self.operator.clone(),
                module: None,
                export: None,
                error,
                origin: None,
                record: batch.get(index).into(),
            })?;
        }
        Ok(out)
    }
}
