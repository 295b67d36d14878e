//! Sinks: where records leave a job. A sink is the last operator of its chain.

mod blackhole;
mod console;
mod file;
mod format;
mod part_files;

pub(crate) use blackhole::Blackhole;
pub(crate) use console::{Console, ConsoleStream};
pub(crate) use file::FileSink;
pub(crate) use format::LineFormatter;
pub(crate) use part_files::PartFileSink;
