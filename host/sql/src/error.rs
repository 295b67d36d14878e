//! An error in SQL text, located where the user wrote it: line and column of the statement
//! text (1-based), so a wrong argument type or an unknown name points at its place.

use sqlparser::tokenizer::Span;

/// A SQL error with its place in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SqlError {
    /// 1-based line (0: the text as a whole).
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong, and what would be right where that helps.
    pub message: String,
}

impl SqlError {
    /// An error at the start of `span`.
    pub(crate) fn at(span: Span, message: impl Into<String>) -> Self {
        SqlError {
            line: span.start.line,
            column: span.start.column,
            message: message.into(),
        }
    }

    /// An error at a (line, column).
    pub(crate) fn at_place((line, column): (u64, u64), message: impl Into<String>) -> Self {
        SqlError {
            line,
            column,
            message: message.into(),
        }
    }

    /// sqlparser's error, whose text ends in "at Line: L, Column: C" when it knows the place.
    pub(crate) fn parse(error: impl std::fmt::Display) -> Self {
        let text = error.to_string();
        let number_after = |label: &str| -> Option<u64> {
            let rest = &text[text.rfind(label)? + label.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let (line, column) = (number_after("Line: "), number_after("Column: "));
        let message = match text.find(" at Line: ") {
            Some(end) => text[..end].to_string(),
            None => text.clone(),
        };
        let message = message
            .strip_prefix("sql parser error: ")
            .unwrap_or(&message)
            .to_string();
        SqlError {
            line: line.unwrap_or(0),
            column: column.unwrap_or(0),
            message,
        }
    }
}
