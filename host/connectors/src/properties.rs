//! Client settings from job specs, with secrets taken from the TaskManager's environment.

use weir_runtime::error::TaskError;

/// `value` with each `${VAR}` replaced by that environment variable of this process; an unset
/// variable is an error naming it and the setting, never an empty secret.
pub(crate) fn resolve(operator: &str, key: &str, value: &str) -> Result<String, TaskError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(TaskError::Config {
                operator: operator.to_string(),
                message: format!("property `{key}`: `${{` without a closing `}}`"),
            });
        };
        let name = &after[..end];
        let variable = std::env::var(name).map_err(|_| TaskError::Config {
            operator: operator.to_string(),
            message: format!(
                "property `{key}` names the environment variable `{name}`, which is not set"
            ),
        })?;
        out.push_str(&variable);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn variables_are_replaced_and_a_missing_one_is_named() {
        let path = std::env::var("PATH").unwrap_or_default();
        let resolved = resolve("sink", "sasl.password", "x-${PATH}-y");
        assert_eq!(resolved.ok(), Some(format!("x-{path}-y")));
        let missing = resolve("sink", "sasl.password", "${WEIR_NOT_SET_ANYWHERE}");
        let message = missing.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("WEIR_NOT_SET_ANYWHERE") && message.contains("sasl.password"));
    }
}
