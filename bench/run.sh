#!/usr/bin/env bash
# The load benchmark (README › Performance): builds taskql and this crate, then measures the
# reference server, taskql on SQLite and taskql on PostgreSQL side by side with wrk.
#   bench/run.sh           the full run (release builds, medians of three runs)
#   bench/run.sh --smoke   one short run on a little data with the debug builds CI already
#                          has: it proves that every step still works and measures nothing
# BENCH_POSTGRES_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
# a fresh database is created on it and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi

profile=release
build=(--release)
if [ "${1:-}" = "--smoke" ]; then
    profile=debug
    build=()
fi
# One target directory for both crates, so the bench crate reuses the workspace's builds.
export CARGO_TARGET_DIR="$PWD/target"
cargo build "${build[@]}" --bin taskql
cargo build "${build[@]}" --manifest-path bench/Cargo.toml
exec "target/$profile/taskql-bench" \
    --taskql "target/$profile/taskql" \
    --reference "target/$profile/reference" "$@"
