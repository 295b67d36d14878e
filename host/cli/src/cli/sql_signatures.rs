//! The argument types of a SQL script's functions from modules, asked of the modules at plan
//! time: each SDK's `scalar`/`table_function` answers a request for its signature (a value
//! `{"weir:signature":true}`, which no SQL row is) with its parameters' SQL types, so
//! `weir sql` can check every call's arguments before the job runs and name the place of a
//! wrong one in the script. A module that does not answer (a C function, an older build) is
//! checked row by row when it runs, as before.

use weir_proto::RecordBatch;
use weir_proto::graph::JobGraph;
use weir_sql::{Signatures, SqlType};
use weir_wasm::{EngineConfig, SandboxLimits, TransformUdf, WasmEngine};

/// What a SQL function's module is sent to ask for its signature (as the Rust SDK's
/// `weir_sdk::json::SIGNATURE_REQUEST`).
const SIGNATURE_REQUEST: &[u8] = br#"{"weir:signature":true}"#;

/// The declared argument types of each of `functions` (modules of `graph`) that answers.
pub(super) fn signatures(
    graph: &JobGraph,
    functions: &[String],
    cache: std::path::PathBuf,
) -> Signatures {
    let mut signatures = Signatures::new();
    if functions.is_empty() {
        return signatures;
    }
    let Ok(engine) = WasmEngine::new(EngineConfig::new(cache)) else {
        return signatures;
    };
    for name in functions {
        let Some(module) = graph.modules.get(name) else {
            continue;
        };
        let path = std::path::Path::new(&module.path);
        let Ok(loaded) = engine.load(name, path, Some(&module.sha256)) else {
            continue;
        };
        let udf = TransformUdf::new(&engine, &loaded, "select", SandboxLimits::default());
        let Ok(mut udf) = udf.map(TransformUdf::stateless) else {
            continue;
        };
        let mut request = RecordBatch::default();
        request.push(Some(b"0"), SIGNATURE_REQUEST, 0);
        let answer = match udf.process(&mut request) {
            Ok((output, errors)) if errors.is_empty() => output,
            _ => continue,
        };
        if let Some(types) = answer.iter().next().and_then(|r| parse(r.value)) {
            signatures.insert(name.clone(), types);
        }
    }
    signatures
}

/// The argument types of a signature `{"args": ["BIGINT", …]}`; `None` for anything else.
fn parse(answer: &[u8]) -> Option<Vec<SqlType>> {
    let answer: serde_json::Value = serde_json::from_slice(answer).ok()?;
    answer["args"]
        .as_array()?
        .iter()
        .map(|t| match t.as_str()? {
            "BIGINT" => Some(SqlType::Bigint),
            "DOUBLE" => Some(SqlType::Double),
            "STRING" => Some(SqlType::String),
            "BOOLEAN" => Some(SqlType::Boolean),
            "TIMESTAMP(3)" => Some(SqlType::Timestamp),
            "ANY" => Some(SqlType::Any),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_read_and_anything_else_is_no_signature() {
        let types = parse(br#"{"args":["BIGINT","STRING","ANY"]}"#);
        assert_eq!(
            types,
            Some(vec![SqlType::Bigint, SqlType::String, SqlType::Any])
        );
        for other in [
            &b"42"[..],
            br#"{"args":["INTERVAL"]}"#,
            br#"[1]"#,
            b"not json",
        ] {
            assert_eq!(parse(other), None);
        }
    }
}
