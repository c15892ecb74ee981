#!/usr/bin/env bash
# Proves tools/new_rpc_service: in a copy of the repository, generates an Inventory service (a
# new owner, so a new proto crate) and a Payment service (into the order service's existing
# proto crate), checks that a second run and a bad name are refused without a change, then
# builds, lints and tests the result with Cargo and with Bazel, with no hand edit. The real tree
# must come out untouched.
#
# Caches: Cargo's target directory is the repository's own (CARGO_TARGET_DIR if set), so
# third-party crates are not rebuilt; Bazel uses the remote cache (BAZEL_REMOTE_CACHE, with
# --config=ci) and keeps the copy and its output base at fixed paths between runs.
#
# Usage: generated_service.sh [OUTPUT_USER_ROOT]
set -euo pipefail
ws=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)
cache_base=${BAZEL_OFFLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orders-monorepo}
mkdir -p "$cache_base"
cache_base=$(readlink -f "$cache_base")
outroot=${1:-$cache_base/output_user_root}
copy=$cache_base/generated-service/repo
output_base=$outroot/ci-generated-service
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
say() { printf '[generated-service] %s\n' "$*"; }
tree_state() { git -C "$1" status --porcelain=v1 --untracked-files=all | sha256sum; }
files_state() { (cd "$1" && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }

real_before=$(tree_state "$ws")

say "copying the repository to $copy"
if [ -d "$copy" ]; then
  "$copy/tools/bazel" --output_base="$output_base" shutdown >/dev/null 2>&1 || true
  rm -rf --one-file-system "$copy"
fi
mkdir -p "$copy"
(cd "$ws" && git ls-files -z -co --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -xf - -C "$copy"
cd "$copy"

say "generating inventory (owner inventory_service) and payment (owner order_management_service)"
tools/new_rpc_service inventory --owner inventory_service
tools/new_rpc_service payment --owner order_management_service

say "a second run and a bad name are refused, changing nothing"
generated=$(files_state "$copy")
if out=$(tools/new_rpc_service inventory --owner other_service 2>&1); then
  echo "FAIL: generating inventory twice succeeded: $out" >&2; exit 1
fi
grep -q "exists already" <<<"$out" || { echo "FAIL: unclear refusal: $out" >&2; exit 1; }
if out=$(tools/new_rpc_service Bad-Name --owner inventory_service 2>&1); then
  echo "FAIL: a bad name was accepted: $out" >&2; exit 1
fi
grep -q "not a snake_case name" <<<"$out" || { echo "FAIL: unclear refusal: $out" >&2; exit 1; }
[ "$(files_state "$copy")" = "$generated" ] || { echo "FAIL: a refused run changed files" >&2; exit 1; }

say "Cargo: fmt, clippy, the generated round-trip tests"
crates=(-p grpc_clients -p grpc_servers -p inventory_service_proto -p order_service_proto)
cargo fmt --all -- --check
cargo clippy --locked "${crates[@]}" --all-targets -- -D warnings
cargo test --locked -p grpc_servers --test inventory_round_trip --test payment_round_trip

say "Bazel: clippy, rustfmt and the generated tests"
# Only what the tests run is downloaded; the rest stays in the remote cache, not on the disk.
tools/bazel --output_base="$output_base" test --config=ci --remote_download_toplevel \
  //inventory_service/... //order_management_service/proto/... //shared/grpc/...
tools/bazel --output_base="$output_base" shutdown >/dev/null 2>&1 || true

cd "$ws"
[ "$(tree_state "$ws")" = "$real_before" ] || { echo "FAIL: the real tree changed" >&2; exit 1; }
say "passed; the real tree is untouched"
