use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: under load glibc's spends a fifth of the
/// server's CPU in malloc and free, and its per-thread arenas keep the memory of finished
/// password hashes (README › Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    taskql::cli::Cli::parse().run()
}
