//! `${NAME}` and `${NAME:-default}` in job specs, replaced before YAML parsing; `$${` is a
//! literal `${`. An unset variable without a default is an error naming its line.

/// A variable that could not be replaced.
#[derive(Debug)]
pub(super) struct EnvError {
    pub(super) line: usize,
    pub(super) column: usize,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

/// Replaces every `${...}` in `text` using `lookup`.
pub(super) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        if !tail.starts_with("${") {
            out.push('$');
            rest = &tail[1..];
            continue;
        }
        let offset = text.len() - tail.len();
        let (line, column) = position(text, offset);
        let Some(close) = tail.find('}') else {
            return Err(EnvError {
                line,
                column,
                message: "`${` without a closing `}`".into(),
                hint: Some("write `$${` for a literal `${`".into()),
            });
        };
        let body = &tail[2..close];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(EnvError {
                line,
                column,
                message: format!("`${{{body}}}` is not a valid variable reference"),
                hint: Some(
                    "use ${NAME} or ${NAME:-default}, NAME made of letters, digits and _".into(),
                ),
            });
        }
        match lookup(name).or_else(|| default.map(str::to_string)) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(EnvError {
                    line,
                    column,
                    message: format!("environment variable `{name}` is not set"),
                    hint: Some(format!("set {name}, or give a default: ${{{name}:-value}}")),
                });
            }
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// 1-based line and column of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}
