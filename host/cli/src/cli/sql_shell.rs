//! `weir sql` without a script: an interactive shell, as Flink's SQL client. Statements end
//! with `;`. `CREATE TABLE`, `CREATE FUNCTION` and `SET` stay in the session; a `SELECT` runs
//! as a job over them and shows its result as a table — on a terminal redrawn live as rows
//! come, an updating result (`GROUP BY` without a window) with its changelog applied, so the
//! table is always the query's current answer. `INSERT INTO` and `EXPLAIN` run as `weir sql
//! -e` would. A mistake prints its error and the session goes on; `quit` (or the end of
//! input) ends it.

use super::Outcome;
use super::output;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a live result is redrawn on a terminal.
const REDRAW: Duration = Duration::from_millis(250);
/// Rows shown while a result is live (the final table shows every row).
const LIVE_ROWS: usize = 30;

/// Runs the shell over standard input.
pub(super) fn shell() -> Outcome {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!("Weir SQL shell: CREATE TABLE …; SET …; SELECT …; — `quit;` ends.");
    }
    let mut session: Vec<String> = Vec::new();
    let mut pending = String::new();
    let prompt = |pending: &str| {
        if interactive {
            print!(
                "{}",
                if pending.trim().is_empty() {
                    "weir> "
                } else {
                    "   -> "
                }
            );
            let _ = std::io::stdout().flush();
        }
    };
    prompt(&pending);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        pending.push_str(&line);
        pending.push('\n');
        while let Some(end) = statement_end(&pending) {
            let statement: String = pending.drain(..=end).collect();
            let statement = statement.trim();
            let first = statement
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match first.as_str() {
                "QUIT" | "EXIT" => return Outcome::Done,
                "CREATE" | "SET" => session.push(statement.to_string()),
                "" => {}
                _ => run(&session, statement),
            }
        }
        prompt(&pending);
    }
    Outcome::Done
}

/// The index of the `;` that ends the first statement of `text`, outside strings and comments.
fn statement_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut i, mut quote) = (0, None::<u8>);
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"' | b'`') => quote = Some(bytes[i]),
            (None, b'-') if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (None, b';') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Runs `statement` over the session's tables as `weir sql -e` in a child process; a query's
/// rows become a table on stdout.
fn run(session: &[String], statement: &str) {
    let script = format!("{}\n{statement}", session.join("\n"));
    let query = statement
        .split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("SELECT") || w.eq_ignore_ascii_case("WITH"));
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return output::error(&format!("cannot find weir itself: {error}")),
    };
    let mut child = match Command::new(exe)
        .args(["sql", "-q", "-e", &script])
        .stdin(Stdio::null())
        .stdout(if query {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => return output::error(&format!("cannot run the statement: {error}")),
    };
    if let Some(stdout) = child.stdout.take() {
        show(stdout);
    }
    if let Ok(status) = child.wait()
        && !status.success()
    {
        output::error(&"the statement failed (above)");
    }
}

/// Reads a query's JSON rows from `stdout` and shows them as a table: redrawn as they come on
/// a terminal, once at the end elsewhere.
fn show(stdout: std::process::ChildStdout) {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let live = std::io::stdout().is_terminal();
    let mut table = ResultTable::default();
    let mut drawn = Instant::now();
    loop {
        match received.recv_timeout(REDRAW) {
            Ok(line) => table.apply(&line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if live && drawn.elapsed() >= REDRAW {
            print!("\x1b[2J\x1b[H{}", table.render(LIVE_ROWS));
            let _ = std::io::stdout().flush();
            drawn = Instant::now();
        }
    }
    if live {
        print!("\x1b[2J\x1b[H");
    }
    print!("{}", table.render(usize::MAX));
}

/// A query's current result: its columns in order of appearance and its rows, an updating
/// result's changelog applied (`-U` removes the row it retracts).
#[derive(Default)]
struct ResultTable {
    columns: Vec<String>,
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl ResultTable {
    fn apply(&mut self, line: &str) {
        let Ok(serde_json::Value::Object(mut row)) = serde_json::from_str(line) else {
            // Not a JSON row: shown as a one-column row, never dropped.
            let mut row = serde_json::Map::new();
            row.insert("value".into(), serde_json::Value::String(line.to_string()));
            return self.insert(row);
        };
        // `shift_remove` keeps the columns in the query's order (`remove` swaps the last in).
        match row.shift_remove("op").as_ref().and_then(|op| op.as_str()) {
            Some("-U" | "-D") => {
                if let Some(at) = self.rows.iter().position(|r| *r == row) {
                    self.rows.remove(at);
                }
            }
            _ => self.insert(row),
        }
    }

    fn insert(&mut self, row: serde_json::Map<String, serde_json::Value>) {
        for column in row.keys() {
            if !self.columns.contains(column) {
                self.columns.push(column.clone());
            }
        }
        self.rows.push(row);
    }

    /// The table as text, at most `limit` rows of it.
    fn render(&self, limit: usize) -> String {
        let cell = |row: &serde_json::Map<String, serde_json::Value>, column: &str| match row
            .get(column)
        {
            None | Some(serde_json::Value::Null) => "NULL".to_string(),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        let shown = &self.rows[..self.rows.len().min(limit)];
        let widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| {
                shown
                    .iter()
                    .map(|r| cell(r, c).chars().count())
                    .chain([c.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(text, width)| format!(" {text:<width$} "))
                .collect();
            format!("|{}|\n", padded.join("|"))
        };
        let rule: String = format!(
            "+{}+\n",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("+")
        );
        let mut text = rule.clone();
        text.push_str(&line(self.columns.clone()));
        text.push_str(&rule);
        for row in shown {
            text.push_str(&line(self.columns.iter().map(|c| cell(row, c)).collect()));
        }
        text.push_str(&rule);
        let more = self.rows.len() - shown.len();
        match more {
            0 => text.push_str(&format!("{} rows\n", self.rows.len())),
            _ => text.push_str(&format!("{} rows ({more} more)\n", self.rows.len())),
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_strings_and_comments() {
        assert_eq!(statement_end("SELECT ';' -- ;\n FROM t;"), Some(23));
        assert_eq!(statement_end("SELECT 1"), None);
    }

    #[test]
    fn a_changelog_folds_into_the_current_table() {
        let mut table = ResultTable::default();
        for line in [
            r#"{"op":"+I","k":1,"n":1}"#,
            r#"{"op":"+I","k":2,"n":1}"#,
            r#"{"op":"-U","k":1,"n":1}"#,
            r#"{"op":"+U","k":1,"n":2}"#,
        ] {
            table.apply(line);
        }
        assert_eq!(
            table.render(usize::MAX),
            "+---+---+\n| k | n |\n+---+---+\n| 2 | 1 |\n| 1 | 2 |\n+---+---+\n2 rows\n"
        );
    }
}
