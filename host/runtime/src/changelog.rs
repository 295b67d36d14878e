//! Flink's row kinds, which every updating result (a changelog) carries in each row's `op`
//! field: `+I` (insert) and `+U` (the new version of an updated row) add a row; `-U` (the old
//! version) and `-D` (delete) take one back. The joins, aggregates and sinks that read an
//! updating result read them here alike.

/// Whether row kind `op` (the field's string) takes a row back; an error naming it when it is
/// none of the four.
pub fn retracts(op: &str) -> Result<bool, String> {
    match op {
        "+I" | "+U" => Ok(false),
        "-U" | "-D" => Ok(true),
        other => Err(format!("row kind `op` is +I, +U, -U or -D, not {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_four_row_kinds_and_nothing_else() {
        assert_eq!(super::retracts("+I"), Ok(false));
        assert_eq!(super::retracts("+U"), Ok(false));
        assert_eq!(super::retracts("-U"), Ok(true));
        assert_eq!(super::retracts("-D"), Ok(true));
        assert!(super::retracts("+X").is_err_and(|e| e.contains("\"+X\"")));
    }
}
