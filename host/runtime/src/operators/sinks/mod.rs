//! Sinks: where records leave a job. A sink is the last operator of its chain.

mod blackhole;
mod console;
mod file;
mod format;
mod part_files;

pub use blackhole::Blackhole;
pub use console::{Console, ConsoleStream};
pub use file::FileSink;
pub use format::LineFormatter;
pub use part_files::PartFileSink;
