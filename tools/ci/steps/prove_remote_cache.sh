#!/usr/bin/env bash
# Builds //... in a fresh, empty output base and fails unless every compile action came from the
# remote cache (BAZEL_REMOTE_CACHE, which tools/bazel's --config=ci uses).
#
# The proof needs the cache's answers, not its bytes: --remote_download_minimal leaves the outputs
# in the cache, so the fresh base holds little more than the extracted crates (a full download
# once filled a CI disk). Bases left by an interrupted run are removed first.
#
# Usage: prove_remote_cache.sh OUTPUT_USER_ROOT
set -euo pipefail
outroot=${1:?usage: prove_remote_cache.sh OUTPUT_USER_ROOT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
bazel="$here/../../bazel"

remove_base() {
  "$bazel" --output_base="$1" shutdown >/dev/null 2>&1 || true
  rm -rf --one-file-system "$1" "$1.build.log" || true
}
for stale in "$outroot"/ci-fresh-base.*; do
  [ -d "$stale" ] && remove_base "$stale"
done
fresh_base=$(mktemp -d "$outroot/ci-fresh-base.XXXXXX")
exec_log="$outroot/ci-fresh-build.exec.json"
trap 'remove_base "$fresh_base"' EXIT
rm -f "$exec_log"
echo "bazel build --config=ci //... in the fresh output base $fresh_base"
"$bazel" --output_base="$fresh_base" build --config=ci //... --experimental_convenience_symlinks=ignore \
  --remote_download_minimal \
  --execution_log_json_file="$exec_log" 2>&1 | tee "$fresh_base.build.log"
grep -E 'processes: ' "$fresh_base.build.log" | tail -1 || true
if python3 "$here/../exec_log_summary.py" "$exec_log"; then
  rm -f "$exec_log"
else
  echo "(execution log kept in $exec_log)" >&2
  exit 1
fi
