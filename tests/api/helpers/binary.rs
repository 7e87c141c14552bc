//! The `taskql` binary, run as an operator runs it on the machine.

use std::process::{Command, Output};

/// Runs the binary with only `vars` in its environment, in an empty directory.
pub fn taskql(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_taskql"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run taskql")
}

/// What the run wrote to stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What the run wrote to stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
