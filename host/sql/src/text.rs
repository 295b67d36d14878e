//! The parts of Flink's SQL dialect that sqlparser does not parse, taken out of the text before
//! it does, every byte kept in place (what is taken out becomes spaces) so that line and column
//! numbers stay those of the user's text:
//!
//! - `WATERMARK FOR ts AS ts - INTERVAL '1' SECOND` in `CREATE TABLE` (kept aside, per table);
//! - `TABLE name` as an argument of a windowing table-valued function (`TUMBLE(TABLE bids, …)`),
//!   which leaves the plain table name; a session's `TABLE bids PARTITION BY bidder` becomes
//!   `bids , bidder` (the key as a second argument).

/// A `WATERMARK FOR column AS expression` clause taken out of a `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatermarkClause {
    /// Which `CREATE TABLE` of the text it belongs to (0 = the first).
    pub(crate) table: usize,
    /// The time attribute column.
    pub(crate) column: String,
    /// The watermark expression's text.
    pub(crate) expression: String,
    /// Where the clause starts: (line, column).
    pub(crate) place: (u64, u64),
}

/// A `CREATE FUNCTION name AS 'module' [LANGUAGE WASM]` statement taken out of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionStatement {
    pub(crate) name: String,
    /// The module: a `.wasm` component, a UDF source directory, or an uploaded module's sha256.
    pub(crate) module: String,
    /// The `LANGUAGE`, upper-cased, if given.
    pub(crate) language: Option<String>,
    /// Where the statement starts: (line, column).
    pub(crate) place: (u64, u64),
}

/// The text for sqlparser, and the clauses taken out of it.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) text: String,
    pub(crate) watermarks: Vec<WatermarkClause>,
    pub(crate) functions: Vec<FunctionStatement>,
}

/// A string literal token's text, its quotes removed and `''` read as `'`.
fn literal(text: &str, token: &Token) -> Option<String> {
    let raw = text.get(token.start..token.end)?;
    let inner = raw.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// A `CREATE [TEMPORARY] [SYSTEM] FUNCTION [IF NOT EXISTS] name AS 'module' [LANGUAGE l]`
/// starting at token `i`: the statement and the index of its last token.
fn function_statement(
    text: &str,
    tokens: &[Token],
    i: usize,
) -> Option<(FunctionStatement, usize)> {
    let mut j = i + 1;
    while is_word(tokens.get(j), "TEMPORARY") || is_word(tokens.get(j), "SYSTEM") {
        j += 1;
    }
    if !is_word(tokens.get(j), "FUNCTION") {
        return None;
    }
    j += 1;
    if is_word(tokens.get(j), "IF")
        && is_word(tokens.get(j + 1), "NOT")
        && is_word(tokens.get(j + 2), "EXISTS")
    {
        j += 3;
    }
    let name = tokens.get(j)?;
    let name = match name.quoted {
        true => name.text.clone(),
        false => text[name.start..name.end].to_string(),
    };
    if !is_word(tokens.get(j + 1), "AS") {
        return None;
    }
    let module = literal(text, tokens.get(j + 2)?)?;
    let mut last = j + 2;
    let mut language = None;
    if is_word(tokens.get(j + 3), "LANGUAGE") {
        language = tokens.get(j + 4).map(|t| t.text.to_ascii_uppercase());
        last = j + 4;
    }
    Some((
        FunctionStatement {
            name,
            module,
            language,
            place: place(text, tokens[i].start),
        },
        last,
    ))
}

/// A word (or quoted name) of the text, outside string literals and comments.
#[derive(Debug, Clone)]
struct Token {
    start: usize,
    end: usize,
    /// Upper-cased word, or the unquoted name; punctuation as itself.
    text: String,
    quoted: bool,
}

fn tokens(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i += 2;
        } else if c == b'\'' {
            // A string literal ('' is a quote inside it).
            let start = i;
            i += 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push(Token {
                start,
                end: i.min(b.len()),
                text: "'".into(),
                quoted: false,
            });
        } else if c == b'`' || c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != c {
                i += 1;
            }
            let name = text.get(start + 1..i.min(b.len())).unwrap_or_default();
            i += 1;
            out.push(Token {
                start,
                end: i.min(b.len()),
                text: name.to_string(),
                quoted: true,
            });
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            out.push(Token {
                start,
                end: i,
                text: text[start..i].to_uppercase(),
                quoted: false,
            });
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push(Token {
                start: i,
                end: i + len,
                text: text[i..i + len].to_string(),
                quoted: false,
            });
            i += len;
        }
    }
    out
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    token.is_some_and(|t| !t.quoted && t.text == word)
}

/// (line, column) of byte `at`, both 1-based, columns counted in characters.
pub(crate) fn place(text: &str, at: usize) -> (u64, u64) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[line_start..].chars().count() as u64 + 1)
}

fn blank(bytes: &mut [u8], from: usize, to: usize) {
    let to = to.min(bytes.len());
    for byte in &mut bytes[from.min(to)..to] {
        if *byte != b'\n' {
            *byte = b' ';
        }
    }
}

/// Takes the Flink-only clauses out of `text`.
pub(crate) fn prepare(text: &str) -> Prepared {
    let tokens = tokens(text);
    let mut bytes = text.as_bytes().to_vec();
    let mut watermarks = Vec::new();
    let mut functions = Vec::new();
    let mut tables = 0usize;
    let mut depth = 0i32;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        match token.text.as_str() {
            "(" if !token.quoted => depth += 1,
            ")" if !token.quoted => depth -= 1,
            _ => {}
        }
        if is_word(Some(token), "CREATE")
            && let Some((function, last)) = function_statement(text, &tokens, i)
        {
            // The statement goes whole, with its semicolon: sqlparser sees nothing of it.
            let end = match tokens.get(last + 1) {
                Some(t) if t.text == ";" && !t.quoted => t.end,
                _ => tokens[last.min(tokens.len() - 1)].end,
            };
            blank(&mut bytes, token.start, end);
            functions.push(function);
            i = last + 1;
            continue;
        }
        if is_word(Some(token), "CREATE") {
            let mut j = i + 1;
            while is_word(tokens.get(j), "TEMPORARY") {
                j += 1;
            }
            if is_word(tokens.get(j), "TABLE") {
                tables += 1;
            }
        }
        if is_word(Some(token), "TABLE")
            && i > 0
            && matches!(tokens[i - 1].text.as_str(), "(" | ",")
            && !tokens[i - 1].quoted
            && tokens.get(i + 1).is_some_and(|t| t.quoted || t.text != "(")
        {
            blank(&mut bytes, token.start, token.end);
            let (partition, by) = (tokens.get(i + 2), tokens.get(i + 3));
            if is_word(partition, "PARTITION")
                && is_word(by, "BY")
                && let (Some(partition), Some(by)) = (partition, by)
            {
                blank(&mut bytes, partition.start, by.end);
                bytes[partition.start] = b',';
            }
        }
        if is_word(Some(token), "WATERMARK") && is_word(tokens.get(i + 1), "FOR") && tables > 0 {
            let clause_depth = depth;
            let column = tokens.get(i + 2).map(|t| {
                if t.quoted {
                    t.text.clone()
                } else {
                    text[t.start..t.end].to_string()
                }
            });
            let expression_start = match is_word(tokens.get(i + 3), "AS") {
                true => tokens.get(i + 4).map(|t| t.start),
                false => None,
            };
            // The clause ends at a comma or the closing parenthesis at its own depth.
            let mut j = i + 1;
            let mut nested = clause_depth;
            while let Some(t) = tokens.get(j) {
                if !t.quoted {
                    match t.text.as_str() {
                        "(" => nested += 1,
                        ")" if nested == clause_depth => break,
                        ")" => nested -= 1,
                        "," if nested == clause_depth => break,
                        _ => {}
                    }
                }
                j += 1;
            }
            let end = tokens.get(j).map_or(text.len(), |t| t.start);
            let expression = expression_start
                .map(|start| text[start..end.max(start)].trim().to_string())
                .unwrap_or_default();
            watermarks.push(WatermarkClause {
                table: tables - 1,
                column: column.unwrap_or_default(),
                expression,
                place: place(text, token.start),
            });
            // The comma before the clause goes with it (it may be the last element).
            let from = match i.checked_sub(1).map(|k| &tokens[k]) {
                Some(t) if t.text == "," && !t.quoted => t.start,
                _ => token.start,
            };
            blank(&mut bytes, from, end);
            i = j;
            continue;
        }
        i += 1;
    }
    Prepared {
        // Only whole tokens were replaced by ASCII spaces (a multi-byte character inside a
        // blanked string literal becomes several spaces: columns after it on that line shift,
        // nothing else does).
        text: String::from_utf8(bytes).unwrap_or_else(|_| text.to_string()),
        watermarks,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_out_watermarks_and_table_arguments_keeping_every_place() {
        let text = "CREATE TABLE bids (\n  auction BIGINT,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND\n) WITH ('connector' = 'bids');\nSELECT * FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND));";
        let prepared = prepare(text);
        assert_eq!(prepared.text.len(), text.len());
        assert_eq!(prepared.text.lines().count(), text.lines().count());
        assert!(!prepared.text.contains("WATERMARK"));
        assert!(
            prepared.text.contains("ts TIMESTAMP(3) \n"),
            "{}",
            prepared.text
        );
        assert!(prepared.text.contains("FROM TABLE(TUMBLE(      bids,"));
        assert_eq!(
            prepared.watermarks,
            [WatermarkClause {
                table: 0,
                column: "ts".into(),
                expression: "ts - INTERVAL '1' SECOND".into(),
                place: (4, 3),
            }]
        );
    }

    #[test]
    fn takes_out_create_function_whole() {
        let text =
            "CREATE FUNCTION to_euro AS 'udfs/rust/to_euro' LANGUAGE WASM;\nSELECT to_euro(1);";
        let prepared = prepare(text);
        assert_eq!(prepared.text.trim_start(), "SELECT to_euro(1);");
        assert_eq!(prepared.text.len(), text.len());
        assert_eq!(
            prepared.functions,
            [FunctionStatement {
                name: "to_euro".into(),
                module: "udfs/rust/to_euro".into(),
                language: Some("WASM".into()),
                place: (1, 1),
            }]
        );
    }

    #[test]
    fn leaves_strings_and_comments_alone() {
        let text = "-- WATERMARK FOR x\nSELECT 'WATERMARK FOR y', `table` FROM t";
        let prepared = prepare(text);
        assert_eq!(prepared.text, text);
        assert!(prepared.watermarks.is_empty());
    }

    #[test]
    fn a_sessions_partition_becomes_its_second_argument_in_place() {
        let text = "SELECT * FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(ts), INTERVAL '1' SECOND))";
        let prepared = prepare(text);
        assert_eq!(prepared.text.len(), text.len());
        assert!(
            prepared
                .text
                .contains("SESSION(      bid ,            bidder, DESCRIPTOR(ts)"),
            "{}",
            prepared.text
        );
    }
}
