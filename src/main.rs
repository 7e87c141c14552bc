use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    taskql::cli::Cli::parse().run()
}
