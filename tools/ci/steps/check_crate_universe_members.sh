#!/usr/bin/env bash
# crate_universe needs every Cargo workspace member's manifest listed in MODULE.bazel's
# crate.from_cargo(manifests = ...): fails, naming the difference, when the two lists disagree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

members=$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null | python3 -c '
import json, os, sys
root = os.getcwd()
for package in json.load(sys.stdin)["packages"]:
    print(os.path.relpath(os.path.dirname(package["manifest_path"]), root))
' | sort)
# The root manifest (//:Cargo.toml, the virtual workspace) is listed too, and is no member.
listed=$(grep -o '"//[^"]*:Cargo.toml"' MODULE.bazel | sed 's|"//||; s|:Cargo.toml"||' | grep -v '^$' | sort)
if [ "$members" != "$listed" ]; then
  echo "FAIL: MODULE.bazel's crate.from_cargo(manifests = ...) must list exactly the Cargo workspace members:" >&2
  diff <(echo "$members") <(echo "$listed") | sed 's/^</  missing in MODULE.bazel: /; s/^>/  not a member:           /' | grep ':' >&2
  exit 1
fi
