//! How sinks turn record values into lines: JSON values as they are, or CSV rows.

use crate::error::TaskError;
use crate::operators::{RejectSink, Rejection};
use weir_proto::RecordRef;
use weir_proto::spec::SinkFormat;

/// Formats the records of one sink instance (a CSV header is written once, from the first record).
pub struct LineFormatter {
    operator: String,
    format: SinkFormat,
    csv_columns: Option<Vec<String>>,
}

impl LineFormatter {
    /// A formatter for step `operator`'s records in `format`.
    pub fn new(operator: String, format: SinkFormat) -> Self {
        LineFormatter {
            operator,
            format,
            csv_columns: None,
        }
    }

    /// Appends `record` as one or more lines to `out`; a record that cannot be written in this
    /// format is rejected.
    pub fn write(
        &mut self,
        record: RecordRef<'_>,
        out: &mut Vec<u8>,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        match self.format {
            SinkFormat::Json => {
                out.extend_from_slice(record.value);
                out.push(b'\n');
                Ok(())
            }
            SinkFormat::Csv => match self.csv_row(record.value, out) {
                Ok(()) => Ok(()),
                Err(error) => rejects.reject(Rejection {
                    operator: self.operator.clone(),
                    module: None,
                    export: None,
                    error,
                    origin: None,
                    record: record.into(),
                }),
            },
        }
    }

    fn csv_row(&mut self, value: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(value)
            .map_err(|e| format!("a CSV sink needs JSON object values: {e}"))?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        let columns = match &self.csv_columns {
            Some(columns) => columns.clone(),
            None => {
                let columns: Vec<String> = object.keys().cloned().collect();
                writer.write_record(&columns).map_err(|e| e.to_string())?;
                self.csv_columns = Some(columns.clone());
                columns
            }
        };
        if let Some(extra) = object.keys().find(|k| !columns.contains(k)) {
            return Err(format!(
                "field `{extra}` is not among the CSV columns {columns:?} (taken from the first record)"
            ));
        }
        let row = columns.iter().map(|c| match object.get(c) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
        writer.write_record(row).map_err(|e| e.to_string())?;
        out.extend_from_slice(&writer.into_inner().map_err(|e| e.to_string())?);
        Ok(())
    }
}
