"""bench/RESULTS.md: every table is what bench.compare_runs prints from the committed raw files
(the command above it), and no unresolved figure is given as a point value."""
from __future__ import annotations

import glob
import io
import os
import re
import shlex
import unittest
from contextlib import redirect_stdout
from pathlib import Path

from bench import compare_runs

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "RESULTS.md"
COMMAND = re.compile(r"```\npython3 -m bench\.compare_runs (.*?)\n```\n\n(.*?)(?=\n\n[^|\n]|\Z)",
                     re.S)


def reprint(command: str) -> str:
    args = [x for a in shlex.split(command)
            for x in (sorted(glob.glob(str(REPO / a))) if a.startswith("bench/") else [a])]
    out = io.StringIO()
    with redirect_stdout(out):
        rc = compare_runs.main(args)
    assert rc == 0, command
    return "\n".join(line for line in out.getvalue().splitlines() if not line.startswith("#### "))


class ResultsMdTest(unittest.TestCase):
    def test_every_table_is_reprinted_from_its_raw_files(self) -> None:
        text = RESULTS.read_text()
        blocks = COMMAND.findall(text)
        self.assertGreaterEqual(len(blocks), 10)
        cwd = os.getcwd()
        try:
            os.chdir(REPO)
            for command, table in blocks:
                with self.subTest(command=command):
                    self.assertIn(table.strip(), reprint(command))
        finally:
            os.chdir(cwd)

    def test_no_point_value_marks_for_unresolved_figures(self) -> None:
        text = RESULTS.read_text()
        self.assertNotIn("n.r.", text)
        self.assertIsNone(re.search(r"[+-]\d+\.\d+\\?\*", text))  # the old "-0.91*"


if __name__ == "__main__":
    unittest.main()
