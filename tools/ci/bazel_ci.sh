#!/usr/bin/env bash
# CI for the Bazel build, with a remote cache, proved. Each step is a script of its own in
# tools/ci/steps/:
#
#  1. check_crate_universe_members.sh: MODULE.bazel lists every Cargo workspace member.
#  2. The remote cache: BAZEL_REMOTE_CACHE if the environment sets it (a team's own cache);
#     otherwise local_remote_cache.sh starts one on loopback (nginx with WebDAV) for this run.
#  3. ci_output_base.sh picks the output base bound to that cache; then
#     `tools/bazel test --config=ci //...` builds everything with clippy + rustfmt, runs every
#     test (integration tests included) and uploads the results to the cache.
#  4. prove_remote_cache.sh builds //... again in a fresh output base and fails unless every
#     compile action came from the remote cache.
#  5. generated_service.sh generates an RPC service into a copy of the repository and builds and
#     tests it there, with Cargo and with Bazel (through the same cache).
#
# Environment: BAZEL_REMOTE_CACHE (optional, e.g. http://cache.example:8080 or grpc://...),
# BAZEL_REMOTE_HEADER (optional), BAZEL_CI_CACHE_DIR (where the local cache keeps its data).
set -euo pipefail

ws=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ws"
steps="$ws/tools/ci/steps"
bazel="$ws/tools/bazel"
cache_base=${BAZEL_OFFLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orders-monorepo}
mkdir -p "$cache_base"
outroot="$(readlink -f "$cache_base")/output_user_root"
start=$(date +%s)
log() { printf '[bazel-ci +%ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

disk() { "$steps/disk_report.sh" "$1" "$ws" "$outroot" ${local_cache_dir:+"$local_cache_dir"}; }
disk "before Bazel"

log "crate_universe members"
"$steps/check_crate_universe_members.sh"

log "Bazel environment"
"$bazel" --version

local_cache_dir=
stop_local_cache() {
  if [ -n "$local_cache_dir" ] && [ -s "$local_cache_dir/nginx.pid" ]; then
    kill "$(cat "$local_cache_dir/nginx.pid")" 2>/dev/null || true
  fi
}
trap stop_local_cache EXIT
if [ -z "${BAZEL_REMOTE_CACHE:-}" ]; then
  local_cache_dir=${BAZEL_CI_CACHE_DIR:-/var/cache/orders-monorepo/bazel-remote-cache}
  BAZEL_REMOTE_CACHE=$("$steps/local_remote_cache.sh" "$local_cache_dir")
  export BAZEL_REMOTE_CACHE
  [ -f "$local_cache_dir/data/.cache-id" ] || cat /proc/sys/kernel/random/uuid >"$local_cache_dir/data/.cache-id"
  cache_id=local-$(cat "$local_cache_dir/data/.cache-id")
  log "local remote cache: $BAZEL_REMOTE_CACHE (data in $local_cache_dir/data)"
else
  cache_id=$BAZEL_REMOTE_CACHE
  log "remote cache from the environment: $BAZEL_REMOTE_CACHE"
fi

main_base=$("$steps/ci_output_base.sh" "$outroot" "$cache_id")
log "bazel test --config=ci //... (clippy + rustfmt, all tests)"
"$bazel" --output_base="$main_base" test --config=ci //...
log "build and tests passed"
# Free memory for the next server (2 cores, one JVM at a time is enough).
"$bazel" --output_base="$main_base" shutdown >/dev/null 2>&1 || true

disk "after the main build"

log "remote cache proof"
"$steps/prove_remote_cache.sh" "$outroot"

log "a generated RPC service, built and tested in a copy of the repository"
"$steps/generated_service.sh" "$outroot"
disk "after Bazel"
log "done"
