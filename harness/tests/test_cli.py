"""Bad input to `ckc` gets one clear line on stderr and exit status 2, and writes nothing; a
SIGTERM takes the Ctrl-C path and leaves nothing running."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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


class SignalTest(unittest.TestCase):
    def test_sigterm_stops_the_run_and_its_suite(self) -> None:
        # Negative control: without ckc's SIGTERM handler Python dies at once, exit -15, and
        # the hanging suite (its own session) keeps running.
        with tempfile.TemporaryDirectory() as d:
            build, out = Path(d) / "build", Path(d) / "out"
            (build / "suites").mkdir(parents=True)
            fake = build / "suites"  # the suite and the guard: both hang at B.Two
            for name in ("ckc-suite-fake", "ckc-guard"):
                shutil.copy(REPO / "harness" / "tests" / "fake_suite.py", fake / name)
            proc = subprocess.Popen(
                [sys.executable, str(REPO / "ckc"), "--no-install", "--no-build", "--no-vm",
                 "--build", str(build), "--out", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                env=dict(os.environ, FAKE_MODE="hang", TMPDIR=d))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.fake_running(fake):
                time.sleep(0.1)
            try:
                self.assertTrue(self.fake_running(fake), "no fake binary ever started")
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=30)
            finally:
                proc.kill()
                proc.communicate()
            self.assertEqual(proc.returncode, 130, err)
            self.assertIn("ckc: interrupted", err)
            self.assertFalse(self.fake_running(fake), "a fake binary outlived ckc")
            self.assertEqual(list((Path(d) / f"ckc.{os.geteuid()}").glob("ckc-*")), [])

    @staticmethod
    def fake_running(suites: Path) -> bool:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(suites).encode() + b"/" in cmdline.read_bytes():
                    return True
            except OSError:
                continue
        return False


if __name__ == "__main__":
    unittest.main()
