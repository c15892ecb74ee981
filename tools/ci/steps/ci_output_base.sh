#!/usr/bin/env bash
# Prints the output base CI builds in, bound to the remote cache it fills.
#
# Bazel uploads only the actions it executes, so an output base holding results the cache never
# received (a wiped cache, another cache address) would make the remote-cache proof fail for no
# fault of the cache: such a base is expunged first. Output bases of other caches (2-3 GB each)
# are removed.
#
# Usage: ci_output_base.sh OUTPUT_USER_ROOT CACHE_ID
#   CACHE_ID names the cache's contents: the local cache's id file, or a hash of its address.
set -euo pipefail
outroot=${1:?usage: ci_output_base.sh OUTPUT_USER_ROOT CACHE_ID}
cache_id=${2:?usage: ci_output_base.sh OUTPUT_USER_ROOT CACHE_ID}
bazel="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)/bazel"

key=$(printf '%s' "$cache_id" | sha256sum | cut -c1-12)
base="$outroot/ci-main-$key"
mkdir -p "$outroot"
for other in "$outroot"/ci-main-*; do
  [ -d "$other" ] && [ "$other" != "$base" ] || continue
  "$bazel" --output_base="$other" shutdown >/dev/null 2>&1 || true
  rm -rf --one-file-system "$other" "$other.cache-id"
done
if [ -d "$base" ] && [ "$(cat "$base.cache-id" 2>/dev/null)" != "$cache_id" ]; then
  echo "the CI output base was filled without this cache: expunging it" >&2
  "$bazel" --output_base="$base" clean --expunge >&2
fi
mkdir -p "$base"
echo "$cache_id" >"$base.cache-id"
echo "$base"
