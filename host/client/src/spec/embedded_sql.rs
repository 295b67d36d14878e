//! `sql:` in a job spec: the job's steps written as a Flink SQL script inside the YAML, which
//! keeps the job's settings (parallelism, checkpointing, state backend, restart strategy),
//! modules and dead-letter sink. The script is planned here, at load, into the `pipeline` the
//! rest of the client validates like any other; an error in it names its place in the file.

use super::{LoadedSpec, SpecError};

/// Plans `loaded`'s `sql:` script, if it has one, into its pipeline.
pub(super) fn expand(mut loaded: LoadedSpec) -> Result<LoadedSpec, SpecError> {
    let Some(script) = loaded.spec.sql.take() else {
        return Ok(loaded);
    };
    let refuse = |loaded: &LoadedSpec, message: String| loaded.error("sql", message, None);
    if !loaded.spec.pipeline.is_empty() {
        return Err(refuse(
            &loaded,
            "a job spec has `sql:` or `pipeline:`, not both".into(),
        ));
    }
    let plan = match weir_sql::plan(&script, &loaded.spec.name) {
        Ok(plan) => plan,
        Err(error) => {
            let mut refused = refuse(
                &loaded,
                format!(
                    "in the SQL, line {}, column {}: {}",
                    error.line, error.column, error.message
                ),
            );
            // A block scalar (`sql: |`) starts on the line after its key.
            if let Some(line) = &mut refused.line
                && error.line > 0
            {
                *line += error.line as usize;
                refused.column = None;
            }
            return Err(refused);
        }
    };
    if plan.explain {
        return Err(refuse(
            &loaded,
            "EXPLAIN in a job spec: run `weir sql -f` on the script to see its plan".into(),
        ));
    }
    if let Some(key) = plan.settings.first() {
        return Err(refuse(
            &loaded,
            format!(
                "SET '{key}' in a job spec's SQL: the job's settings are its YAML fields (parallelism, checkpointing, state_backend, name)"
            ),
        ));
    }
    for (name, module) in plan.spec.modules {
        if loaded.spec.modules.contains_key(&name) {
            return Err(refuse(
                &loaded,
                format!("CREATE FUNCTION {name}: `modules` already has a module of that name"),
            ));
        }
        loaded.spec.modules.insert(name, module);
    }
    loaded.spec.pipeline = plan.spec.pipeline;
    Ok(loaded)
}
