#!/usr/bin/env python3
"""Reads a Bazel execution log (--execution_log_json_file) and proves the remote cache.

Prints, per mnemonic, how many cacheable spawns were remote cache hits, and exits 1 unless
every compile action (rustc, C/C++, build scripts, proto descriptors, genrules) was one.

The log is a stream of JSON objects (one SpawnExec each), not one JSON document; it is read
with the standard library's decoder, one object after another.

Usage: exec_log_summary.py LOG
"""

import json
import sys
from collections import Counter

COMPILE_MNEMONICS = {
    "Rustc",
    "RustcMetadata",
    "CppCompile",
    "CppLink",
    "CargoBuildScriptRun",
    "GenProtoDescriptorSet",
    "Genrule",
}
# Fields that, when false, keep a spawn out of any cache (absent means cacheable).
NOT_CACHEABLE_WHEN_FALSE = ("remotable", "cacheable", "remoteCacheable")


def spawns(text):
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return
        spawn, position = decoder.raw_decode(text, position)
        yield spawn


def summarize(spawn_list):
    """(hits, totals) per mnemonic, counting cacheable spawns only."""
    hits, totals = Counter(), Counter()
    for spawn in spawn_list:
        if any(spawn.get(field, True) is False for field in NOT_CACHEABLE_WHEN_FALSE):
            continue
        mnemonic = spawn.get("mnemonic", "?")
        totals[mnemonic] += 1
        if spawn.get("cacheHit") or spawn.get("remoteCacheHit"):
            hits[mnemonic] += 1
    return hits, totals


def main(path):
    with open(path, encoding="utf-8") as log:
        hits, totals = summarize(spawns(log.read()))
    print(f"{'mnemonic':<28} {'hits':>8} {'spawns':>8}")
    for mnemonic in sorted(totals):
        print(f"{mnemonic:<28} {hits[mnemonic]:>8} {totals[mnemonic]:>8}")
    compile_total = sum(totals[m] for m in COMPILE_MNEMONICS)
    compile_misses = sum(totals[m] - hits[m] for m in COMPILE_MNEMONICS)
    other_misses = sum(totals[m] - hits[m] for m in totals if m not in COMPILE_MNEMONICS)
    if compile_total == 0:
        print("FAIL: the fresh build ran no compile action at all: nothing to prove", file=sys.stderr)
        return 1
    if compile_misses:
        print(
            f"FAIL: {compile_misses} of {compile_total} compile actions in the fresh output base "
            "were not remote cache hits",
            file=sys.stderr,
        )
        return 1
    print(
        f"remote cache proved: all {compile_total} compile actions of the fresh build were remote "
        f"cache hits ({other_misses} other cacheable spawns ran locally)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
