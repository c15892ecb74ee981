#!/usr/bin/env bash
# The pipeline benchmark: builds the kitchen, the order management service and the benchmark in
# release mode, then runs `bench pipeline`, which starts SecantusDB (`secantusd-py`; install it
# with `pip install SecantusDB==0.7.0b3`), a throwaway durable PostgreSQL (fsync and
# synchronous_commit on), the kitchen (PRINT_ORDERS=false, RUST_LOG=warn) and the order service
# (RUST_LOG=warn) on free loopback ports, and measures MongoDB insert -> kitchen event stream:
# a backlog drained after SIGCONT (against a bare change-stream reader on the same server) and
# steady one-at-a-time inserts. It stops everything and prints Markdown tables.
#
#   tools/bench/pipeline.sh                                  # defaults: 10,000 backlog; 30/s for 30 s
#   tools/bench/pipeline.sh --fresh-secantus --order-service-bin old=/tmp/oms-old,new=target/release/order_management_service
#                                                            # side by side; --fresh-secantus gives each its own
#                                                            # SecantusDB (a shared one slows down with use)
#   tools/bench/pipeline.sh --order-service-env GRPC_DEADLINE_MS=10000
#   tools/bench/pipeline.sh --help                           # every option
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v "${SECANTUSD:-secantusd-py}" >/dev/null ||
  { echo "secantusd-py not found: pip install SecantusDB==0.7.0b3" >&2; exit 1; }
cargo build --release --quiet -p kitchen_batch_tool_service -p order_management_service -p bench
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
exec "${CARGO_TARGET_DIR:-target}/release/bench" pipeline "$@"
