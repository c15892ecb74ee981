#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: builds the kitchen and the benchmark in release mode, then runs
# `bench all`, which starts a throwaway durable PostgreSQL (fsync and synchronous_commit on) and
# the kitchen (PRINT_ORDERS=false, RUST_LOG=warn) on free loopback ports, runs the ingest and
# fan-out scenarios, stops everything and prints Markdown tables.
#
#   tools/bench/run.sh                      # the defaults: 100,000 orders at 64 in flight; 200 x 500/s for 30 s
#   tools/bench/run.sh --with-printing      # also measure with PRINT_ORDERS=true (stdout to /dev/null)
#   tools/bench/run.sh --help               # every option
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p kitchen_batch_tool_service -p bench
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
exec "${CARGO_TARGET_DIR:-target}/release/bench" all "$@"
