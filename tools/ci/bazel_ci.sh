#!/usr/bin/env bash
# CI for the Bazel build, with a remote cache, proved.
#
#  1. Provisions the offline Bazel environment if needed (tools/bazel does it on first use).
#  2. Remote cache: uses BAZEL_REMOTE_CACHE if the environment sets it (a team's own cache);
#     otherwise starts a local HTTP cache on loopback (nginx with WebDAV) for this run.
#  3. `tools/bazel test --config=ci //...`: builds everything with clippy + rustfmt, runs every
#     test (integration tests included), uploads results to the cache.
#  4. Builds //... again in a fresh, empty output base and fails unless every compile action
#     (Rustc, CppCompile, build-script runs, proto descriptors) came from the remote cache.
#
# Environment: BAZEL_REMOTE_CACHE (optional, e.g. http://cache.example:8080 or grpc://...),
# BAZEL_REMOTE_HEADER (optional), BAZEL_CI_CACHE_DIR (where the local cache keeps its data).
set -euo pipefail

ws=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ws"
bazel="$ws/tools/bazel"
cache_base=${BAZEL_OFFLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orders-monorepo}
mkdir -p "$cache_base"
cache_base=$(readlink -f "$cache_base")
start=$(date +%s)
log() { printf '[bazel-ci +%ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

nginx_pid=
fresh_base=
local_cache_dir=
cleanup() {
  if [ -n "$fresh_base" ] && [ -d "$fresh_base" ]; then
    "$bazel" --output_base="$fresh_base" shutdown >/dev/null 2>&1 || true
    rm -rf --one-file-system "$fresh_base" "$fresh_base.build.log" || true
  fi
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# --- 0. crate_universe needs every Cargo workspace member's manifest listed in MODULE.bazel. ---
members=$(awk '/^members *= *\[/ { on = 1; next } on && /\]/ { on = 0 } on' Cargo.toml |
  tr -d ' ",' | grep -v '^$' | grep -v '^#' | sort)
listed=$(grep -o '"//[^"]*:Cargo.toml"' MODULE.bazel | sed 's|"//||; s|:Cargo.toml"||' | grep -v '^$' | sort)
if [ "$members" != "$listed" ]; then
  echo "FAIL: MODULE.bazel's crate.from_cargo(manifests = ...) must list exactly the Cargo workspace members:" >&2
  diff <(echo "$members") <(echo "$listed") | sed 's/^</  missing in MODULE.bazel: /; s/^>/  not a member:           /' | grep ':' >&2
  exit 1
fi

# --- 1. Provision (idempotent) and show the Bazel in use. -------------------------------------
log "Bazel environment"
"$bazel" --version

# --- 2. Remote cache. --------------------------------------------------------------------------
if [ -z "${BAZEL_REMOTE_CACHE:-}" ]; then
  if [ ! -x /usr/sbin/nginx ] || ! command -v curl >/dev/null 2>&1; then
    log "installing nginx (the local remote cache) and curl"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package from starting its default site on port 80.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
      policy_created=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nginx curl ca-certificates >/dev/null
    [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
  # Outside /root: nginx's workers (www-data) must reach it.
  dir=${BAZEL_CI_CACHE_DIR:-/var/cache/orders-monorepo/bazel-remote-cache}
  mkdir -p "$dir/data" "$dir/tmp"
  chown -R www-data "$dir/data" "$dir/tmp"
  port=
  for try in 1 2 3 4 5 6 7 8 9 10; do
    candidate=$(( 20000 + RANDOM % 20000 ))
    cat >"$dir/nginx.conf" <<CONF
daemon off;
user www-data;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$candidate;
    location / {
      root $dir/data;
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
      dav_access user:rw group:rw all:r;
    }
  }
}
CONF
    /usr/sbin/nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
    nginx_pid=$!
    for _ in $(seq 1 50); do
      if curl -s -o /dev/null "http://127.0.0.1:$candidate/"; then port=$candidate; break; fi
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$port" ] && break
    kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=
  done
  [ -n "$port" ] || { echo "could not start the local remote cache (nginx)" >&2; cat "$dir/error.log" >&2; exit 1; }
  # Prove it takes writes and serves them.
  curl -fsS -X PUT --data-binary ping "http://127.0.0.1:$port/cas/selftest" >/dev/null
  [ "$(curl -fsS "http://127.0.0.1:$port/cas/selftest")" = ping ]
  export BAZEL_REMOTE_CACHE="http://127.0.0.1:$port"
  local_cache_dir=$dir
  log "local remote cache: $BAZEL_REMOTE_CACHE (data in $dir/data)"
else
  log "remote cache from the environment: $BAZEL_REMOTE_CACHE"
fi

# --- 3. Build, lint and test everything. -------------------------------------------------------
# CI builds in its own output base, bound to the cache it fills: Bazel uploads only the actions it
# executes, so an output base that holds results the cache never received (a wiped cache, another
# cache address) is expunged first, or the proof below would fail for no fault of the cache.
outroot="$cache_base/output_user_root"
mkdir -p "$outroot"
if [ -n "$local_cache_dir" ]; then
  if [ ! -f "$local_cache_dir/data/.cache-id" ]; then
    cat /proc/sys/kernel/random/uuid >"$local_cache_dir/data/.cache-id"
  fi
  cache_key=local
  cache_id=$(cat "$local_cache_dir/data/.cache-id")
else
  cache_key=$(printf '%s' "$BAZEL_REMOTE_CACHE" | sha256sum | cut -c1-12)
  cache_id=$cache_key
fi
main_base="$outroot/ci-main-$cache_key"
# Output bases of other caches: 2-3 GB each, not kept.
for other in "$outroot"/ci-main-*; do
  [ -d "$other" ] && [ "$other" != "$main_base" ] || continue
  "$bazel" --output_base="$other" shutdown >/dev/null 2>&1 || true
  rm -rf --one-file-system "$other" "$other.cache-id"
done
if [ "$(cat "$main_base.cache-id" 2>/dev/null)" != "$cache_id" ] && [ -d "$main_base" ]; then
  log "the CI output base was filled without this cache: expunging it"
  "$bazel" --output_base="$main_base" clean --expunge
fi
mkdir -p "$main_base"
echo "$cache_id" >"$main_base.cache-id"
log "bazel test --config=ci //... (clippy + rustfmt, all tests)"
"$bazel" --output_base="$main_base" test --config=ci //...
log "build and tests passed"
# Free memory for the second server (2 cores, one JVM at a time is enough).
"$bazel" --output_base="$main_base" shutdown >/dev/null 2>&1 || true

# --- 4. A fresh output base must get every compile action from the remote cache. ------------
fresh_base=$(mktemp -d "$outroot/ci-fresh-base.XXXXXX")
exec_log="$outroot/ci-fresh-build.exec.json"
rm -f "$exec_log"
log "bazel build --config=ci //... in the fresh output base $fresh_base"
"$bazel" --output_base="$fresh_base" build --config=ci //... --experimental_convenience_symlinks=ignore \
  --execution_log_json_file="$exec_log" 2>&1 | tee "$fresh_base.build.log"
"$bazel" --output_base="$fresh_base" shutdown >/dev/null 2>&1 || true

# Count, per mnemonic, the spawns that came from the remote cache and those that ran.
summary=$(awk '
  # Bazel 7 writes the log as pretty-printed JSON objects, each with two-space-indented fields.
  function flush() {
    if (seen && cacheable) { total[mn]++; if (hit) hits[mn]++ }
    seen = 0; mn = "?"; hit = 0; cacheable = 1
  }
  /^  "commandArgs":/ { flush(); seen = 1 }
  /^  "mnemonic":/ { s = $0; sub(/^  "mnemonic": *"/, "", s); sub(/".*/, "", s); mn = s }
  /^  "cacheHit": *true/ { hit = 1 }
  /^  "(remotable|cacheable|remoteCacheable)": *false/ { cacheable = 0 }
  END {
    flush()
    for (m in total) printf "%s %d %d\n", m, hits[m] + 0, total[m]
  }' "$exec_log" | sort)
echo "$summary" | awk 'BEGIN { printf "%-28s %8s %8s\n", "mnemonic", "hits", "spawns" } { printf "%-28s %8d %8d\n", $1, $2, $3 }'
grep -E 'processes: ' "$fresh_base.build.log" | tail -1 || true
compile_total=$(echo "$summary" | awk '$1 ~ /^(Rustc|RustcMetadata|CppCompile|CppLink|CargoBuildScriptRun|GenProtoDescriptorSet|Genrule)$/ { t += $3 } END { print t + 0 }')
compile_misses=$(echo "$summary" | awk '$1 ~ /^(Rustc|RustcMetadata|CppCompile|CppLink|CargoBuildScriptRun|GenProtoDescriptorSet|Genrule)$/ { m += $3 - $2 } END { print m + 0 }')
all_misses=$(echo "$summary" | awk '{ m += $3 - $2 } END { print m + 0 }')
if [ "$compile_total" -eq 0 ]; then
  echo "FAIL: the fresh build ran no compile action at all: nothing to prove" >&2; exit 1
fi
if [ "$compile_misses" -ne 0 ]; then
  echo "FAIL: $compile_misses of $compile_total compile actions in the fresh output base were not remote cache hits" >&2
  echo "(execution log kept in $exec_log)" >&2
  exit 1
fi
rm -f "$exec_log"
log "remote cache proved: all $compile_total compile actions of the fresh build were remote cache hits ($all_misses other cacheable spawns ran locally)"
