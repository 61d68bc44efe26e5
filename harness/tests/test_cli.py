"""Bad input to `ckc` gets one clear line on stderr and exit status 2, and writes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def ckc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "ckc"), *args], capture_output=True,
                          text=True, timeout=60, check=False)


class BadInputTest(unittest.TestCase):
    def assert_one_line_error(self, proc: subprocess.CompletedProcess[str], needle: str) -> None:
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn(needle, lines[0])
        self.assertTrue(lines[0].startswith("ckc: "))

    def test_unknown_option(self) -> None:
        self.assert_one_line_error(ckc("--frobnicate"), "--frobnicate")

    def test_unknown_accelerator(self) -> None:
        self.assert_one_line_error(ckc("--accel", "xyz", "--no-install", "--no-build"), "xyz")
        proc = subprocess.run([sys.executable, str(REPO / "ckc"), "--no-install", "--no-build"],
                              capture_output=True, text=True, timeout=60, check=False,
                              env=dict(os.environ, CKC_ACCEL="xyz"))
        self.assert_one_line_error(proc, "unknown accelerator 'xyz' (CKC_ACCEL)")

    def test_unknown_command(self) -> None:
        self.assert_one_line_error(ckc("frobnicate"), "frobnicate")

    def test_results_in_missing_directory(self) -> None:
        self.assert_one_line_error(ckc("--results", "/nonexistent-ckc/r.json", "--no-build"),
                                   "does not exist")

    def test_unwritable_results_path(self) -> None:
        self.assert_one_line_error(ckc("--results", "/proc/ckc-results.json", "--no-build"),
                                   "not writable")

    def test_results_path_that_is_a_directory(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            self.assert_one_line_error(ckc("--results", d, "--no-build"), "is a directory")
            self.assertEqual(os.listdir(d), [])


if __name__ == "__main__":
    unittest.main()
