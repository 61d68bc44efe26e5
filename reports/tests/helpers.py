"""Shared bits of the reports unit tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD = ["host-6.18-hybrid.json", "vm-5.10-v1.json", "vm-5.10-v2.json", "vm-6.1-v2.json",
        "vm-6.12-v1.json", "vm-6.19-v2-crash.json"]
BAD = {"empty.json": "empty file", "truncated.json": "truncated JSON",
       "corrupt.json": "malformed JSON", "foreign.json": "not a ckc results file",
       "schema99.json": "schema 99 is not supported", "badfield.json": "results[3].outcome"}


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m reports.cli ARGS` from the repository root, as ./ckc would run it."""
    return subprocess.run([sys.executable, "-m", "reports.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
