"""reports.schema: validation of results files, one clear line per bad file, atomic writes."""
from __future__ import annotations

import json
import os
import tempfile
import unittest
from pathlib import Path

from reports.schema import SchemaError, load_many, load_results, write_json_atomic
from reports.tests.helpers import BAD, GOOD, fixture, run_cli


class LoadTest(unittest.TestCase):
    def test_good_fixtures_load(self) -> None:
        for name in GOOD:
            with self.subTest(name=name):
                runs = load_results(fixture(name))
                self.assertEqual(len(runs), 1)
                self.assertEqual(len([r for r in runs[0].results if r.id]), 118)

    def test_multi_run_file(self) -> None:
        runs = load_results(fixture("vm-merged.json"))
        self.assertEqual([r.kernel.cgroup_mode for r in runs], ["v1", "v2", "v2", "v1", "v2"])
        self.assertEqual(runs[3].machine.accel, "tcg")
        self.assertIsNone(runs[4].finished)
        vm = runs[4].vm
        assert vm is not None
        self.assertIn("Kernel panic", vm["console_tail"])

    def test_each_bad_file_is_one_line_naming_it(self) -> None:
        for name, words in BAD.items():
            with self.subTest(name=name):
                with self.assertRaises(SchemaError) as ctx:
                    load_results(fixture(name))
                msg = str(ctx.exception)
                self.assertNotIn("\n", msg)
                self.assertTrue(msg.startswith(fixture(name) + ": "), msg)
                self.assertIn(words, msg)

    def test_truncation_anywhere_near_the_end(self) -> None:
        text = Path(fixture("vm-5.10-v1.json")).read_text()
        with tempfile.TemporaryDirectory() as tmp:
            for cut in ('"outcome": "pa', '"duration_ms": 1', '"results": [', '"lsms": [', "tr"):
                with self.subTest(cut=cut):
                    path = os.path.join(tmp, "cut.json")
                    end = text.index(cut.replace("tr", '"vm": {')) + len(cut)
                    Path(path).write_text(text[:end] if cut != "tr" else '{"a": tr')
                    with self.assertRaises(SchemaError) as ctx:
                        load_results(path)
                    self.assertIn("truncated JSON", str(ctx.exception))

    def test_missing_file(self) -> None:
        with self.assertRaises(SchemaError) as ctx:
            load_results("/nonexistent/ckc.json")
        self.assertIn("cannot read", str(ctx.exception))

    def test_wrong_types_and_missing_fields(self) -> None:
        doc = json.loads(Path(fixture("vm-5.10-v1.json")).read_text())
        cases = {"kernel": ("kernel.release: missing", lambda d: d["kernel"].pop("release")),
                 "mode": ("'v3' is not one of", lambda d: d["kernel"].update(cgroup_mode="v3")),
                 "results": ("results: expected list", lambda d: d.update(results={})),
                 "accel": ("machine.accel", lambda d: d["machine"].update(accel="xen")),
                 "top": ("top level is a JSON list", None)}
        with tempfile.TemporaryDirectory() as tmp:
            for name, (words, change) in cases.items():
                with self.subTest(name=name):
                    bad = json.loads(json.dumps(doc))
                    if change:
                        change(bad)
                    else:
                        bad = [bad]
                    path = os.path.join(tmp, f"{name}.json")
                    Path(path).write_text(json.dumps(bad))
                    with self.assertRaises(SchemaError) as ctx:
                        load_results(path)
                    self.assertIn(words, str(ctx.exception))

    def test_one_bad_file_does_not_sink_the_others(self) -> None:
        runs, errors = load_many([fixture("vm-5.10-v1.json"), fixture("empty.json"),
                                  fixture("vm-6.1-v2.json")])
        self.assertEqual(len(runs), 2)
        self.assertEqual([e.path for e in errors], [fixture("empty.json")])


class WriteTest(unittest.TestCase):
    def test_atomic_write_round_trip(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sub", "r.json")
            doc = json.loads(Path(fixture("vm-5.10-v1.json")).read_text())
            write_json_atomic(path, doc)
            write_json_atomic(path, doc)
            self.assertEqual(os.listdir(os.path.dirname(path)), ["r.json"])  # no temp left
            self.assertEqual(load_results(path)[0].run_id, "a1050001")
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)


class CliBadInputTest(unittest.TestCase):
    def test_cli_one_line_and_non_zero_for_each_bad_file(self) -> None:
        for name, words in BAD.items():
            for command in (["merge", "-o", os.devnull], ["html", "-o", os.devnull], ["diff"]):
                with self.subTest(name=name, command=command[0]):
                    extra = [fixture("vm-5.10-v1.json")] if command[0] == "diff" else []
                    done = run_cli(*command, fixture(name), *extra)
                    self.assertEqual(done.returncode, 2, done.stderr)
                    lines = done.stderr.strip().splitlines()
                    self.assertEqual(len(lines), 1 if command[0] == "diff" else 2, lines)
                    self.assertIn(name, lines[0])
                    self.assertIn(words, lines[0])
                    self.assertNotIn("Traceback", done.stderr)


if __name__ == "__main__":
    unittest.main()
