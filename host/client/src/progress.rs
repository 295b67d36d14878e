//! Progress on stderr for the client's long work (building modules, uploading them): drawn only
//! when stderr is a terminal, so scripts and logs see nothing of it.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A spinner with `message` and the time elapsed, until it is finished or dropped.
pub(crate) fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar over `total` bytes, labelled `message`.
pub(crate) fn bytes(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total).with_message(message.to_string());
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} ({elapsed})";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
