#!/usr/bin/env python3
"""Unit tests of exec_log_summary.py (run: python3 tools/ci/exec_log_summary_test.py)."""

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exec_log_summary  # noqa: E402

# As Bazel 7 writes it: pretty-printed objects one after another, nested fields included.
LOG = """{
  "commandArgs": ["rustc", "--crate-name", "a"],
  "environmentVariables": [{"name": "X", "value": "}{"}],
  "mnemonic": "Rustc",
  "cacheHit": true
}{
  "commandArgs": ["rustc"],
  "mnemonic": "Rustc",
  "remoteCacheHit": true
}
{
  "commandArgs": ["test"],
  "mnemonic": "TestRunner",
  "cacheable": false
}{
  "commandArgs": ["sh"],
  "mnemonic": "FileWrite"
}
"""


class SummaryTest(unittest.TestCase):
    def test_objects_are_read_one_after_another_whatever_their_layout(self):
        spawns = list(exec_log_summary.spawns(LOG))
        self.assertEqual([s["mnemonic"] for s in spawns], ["Rustc", "Rustc", "TestRunner", "FileWrite"])

    def test_uncacheable_spawns_are_not_counted_and_hits_are(self):
        hits, totals = exec_log_summary.summarize(exec_log_summary.spawns(LOG))
        self.assertEqual(totals, {"Rustc": 2, "FileWrite": 1})
        self.assertEqual(hits, {"Rustc": 2})

    def run_main(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as log:
            log.write(text)
        # The summary's table and verdict are not this test's output.
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return exec_log_summary.main(log.name)
        finally:
            os.unlink(log.name)

    def test_a_compile_miss_fails_the_proof(self):
        miss = LOG + '{"mnemonic": "CppCompile", "commandArgs": ["cc"]}'
        self.assertEqual(self.run_main(miss), 1)
        self.assertEqual(self.run_main(LOG), 0)

    def test_a_log_without_compile_actions_proves_nothing(self):
        self.assertEqual(self.run_main('{"mnemonic": "FileWrite"}'), 1)


if __name__ == "__main__":
    unittest.main()
