"""bench.compare_runs: the RESULTS.md tables out of raw files (gzipped Google Benchmark JSON,
results files with replicates, merged VM files)."""
from __future__ import annotations

import gzip
import io
import json
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from bench import compare_runs
from bench.tests.test_replicates import NAME, overhead

ROOT = NAME.replace("paired:root/depth:8", "depth:0")


def gbench(pct: float, half: float, mean: float) -> dict:
    label = {"label": "bench.memcg-fault-anon"}
    return {"context": {"ckc_accel": "host", "executable": "build/bench/ckc-bench-memcg"},
            "benchmarks": [
                {**overhead(pct, half), **label},
                {"name": f"{ROOT}_mean", "run_name": ROOT, "run_type": "aggregate",
                 "aggregate_name": "mean", "repetitions": 20, "real_time": mean,
                 "time_unit": "ns", **label},
                {"name": f"{ROOT}_stddev", "run_name": ROOT, "run_type": "aggregate",
                 "aggregate_name": "stddev", "repetitions": 20, "real_time": mean / 10,
                 "time_unit": "ns", **label}]}


def run(files: list[str], *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        rc = compare_runs.main([*files, *extra])
    return rc, out.getvalue()


class TablesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def write_gz(self, name: str, doc: dict) -> str:
        path = self.dir / name
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(doc, f)
        return str(path)

    def test_three_gzipped_runs_give_the_overhead_row_with_its_combination(self) -> None:
        files = [self.write_gz(f"run{k}.json.gz", gbench(p, 0.5, 900.0 + k))
                 for k, p in ((1, 2.0), (2, 3.0), (3, 2.5))]
        rc, text = run(files)
        self.assertEqual(rc, 0)
        self.assertIn("from run1.json.gz, run2.json.gz, run3.json.gz", text)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{NAME}`"))
        self.assertIn("+2.00 % [+1.50, +2.50] | +3.00 % [+2.50, +3.50] | +2.50 % [+2.00, +3.00]",
                      row)
        self.assertIn("| 20 % | 1.00 pp | +2.50 % [+1.26, +3.74] | 77 %, p 0.013 DISAGREE |", row)
        self.assertIn(f"| `{ROOT}` | 901 ns (10.0 %) | 902 ns (10.0 %) | 903 ns (10.0 %) |", text)

    def test_a_replicates_results_file_is_one_column_per_replicate(self) -> None:
        entries = []
        for k, p in ((1, 0.3037), (2, 0.4142)):
            entries += [{**e, "replicate": k, "behaviour": "bench.memcg-fault-anon"}
                        for e in gbench(p, 0.5, 1000.0)["benchmarks"]]
        doc = {"schema": 2, "run": {"id": "x"}, "kernel": {"release": "6.1"},
               "machine": {"accel": "host"}, "results": [], "benchmarks": entries}
        rc, text = run([self.write_gz("r.json.gz", doc)], "--tables", "overheads")
        self.assertEqual(rc, 0)
        self.assertIn("| r.json.gz r1 | r.json.gz r2 |", text)
        self.assertIn("not resolved, < 0.81 % | not resolved, < 0.92 %", text)
        for point in ("0.30", "0.41", "0.36"):
            self.assertNotIn(point, text)

    def test_a_merged_vm_file_pairs_accounting_off_with_on(self) -> None:
        def vm_run(append: str, mean: float, behaviour: str) -> dict:
            doc = gbench(0.0, 1.0, mean)
            entries = [{**e, "behaviour": behaviour} for e in doc["benchmarks"][1:]]
            if not append:
                entries += [{**e, "run_name": e["run_name"].replace("depth:0", "depth:4"),
                             "real_time": e["real_time"] * (1.1 if "mean" in e["name"] else 1),
                             "behaviour": behaviour} for e in entries]
            return {"run": {"id": append or "on"}, "kernel": {"release": "6.1.0"},
                    "vm": {"append": append}, "benchmarks": entries, "results": []}
        merged = {"schema": 2, "runs": [vm_run("", 1000.0, "bench.memcg-fault-anon"),
                                        vm_run("cgroup_disable=memory", 900.0,
                                               "bench.memcg-off")]}
        rc, text = run([self.write_gz("vm-merged.json.gz", merged)], "--tables", "off")
        self.assertEqual(rc, 0)
        self.assertIn("vm-merged.json.gz run 2 (accounting off) vs vm-merged.json.gz run 1", text)
        # Root: 1000 over 900 with both sd 10 % over 20 rounds: +11.1 %, resolved.
        self.assertIn("| 900 ns (10.0 %) | 1 µs: +11.11 % [", text)

    def test_three_pairs_of_boots_are_combined_per_loop_and_depth(self) -> None:
        def vm_file(name: str, append: str, mean: float) -> str:
            behaviour = "bench.memcg-off" if append else "bench.memcg-fault-anon"
            entries = [{**e, "behaviour": behaviour}
                       for e in gbench(0.0, 1.0, mean)["benchmarks"][1:]]
            return self.write_gz(name, {"schema": 2, "runs": [
                {"run": {"id": name}, "kernel": {"release": "6.1.0"}, "vm": {"append": append},
                 "benchmarks": entries, "results": []}]})
        files = []
        for k, on in ((1, 1100.0), (2, 1120.0), (3, 1080.0)):
            files += [vm_file(f"on{k}.json.gz", "", on),
                      vm_file(f"off{k}.json.gz", "cgroup_disable=memory", 1000.0)]
        rc, text = run(files, "--tables", "off")
        self.assertEqual(rc, 0)
        self.assertIn("3 pairs of boots of 6.1.0, accounting on over off (off1.json.gz vs "
                      "on1.json.gz; off2.json.gz vs on2.json.gz; off3.json.gz vs on3.json.gz)",
                      text)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{ROOT}`"))
        # Each pair: +10/+12/+8 % with sd 10 % of both over 20 rounds (half-width about 6.6 pp
        # each, so every pair is resolved); they agree, so the combination is their
        # inverse-variance weighted mean, with t at 2 df.
        self.assertIn("| root cgroup | 1 µs | +10.00 % [", row)
        self.assertIn("+12.00 % [", row)
        self.assertIn("| +9.97 % [+1.72, +18.23] | 0 %, p 0.7 |", row)
        self.assertNotIn("DISAGREE", row)

    def test_bad_input_is_one_line_exit_2(self) -> None:
        bad = self.dir / "x.json"
        bad.write_text("[]")
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertEqual(compare_runs.main([str(bad)]), 2)
            self.assertEqual(compare_runs.main([str(bad), "--tables", "nope"]), 2)
        self.assertEqual(len(err.getvalue().strip().splitlines()), 2)


if __name__ == "__main__":
    unittest.main()
