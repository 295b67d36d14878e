//! The `weir` command: run jobs on the embedded mini-cluster, validate job specs, build and
//! scaffold UDFs, and benchmark.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
