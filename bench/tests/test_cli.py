"""bench.cli: argument checks (one line, exit 2), entry conversion, the run header, merging."""
from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import unittest
from contextlib import redirect_stderr
from pathlib import Path

from bench import cli
from reports import schema

MOUNTINFO_HYBRID = (
    "30 1 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "31 1 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
    "32 1 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n")

BENCH_JSON = {
    "context": {"ckc_mode": "smoke", "host_name": "x"},
    "benchmarks": [
        {"name": "BM_MemcgFaultAnon/loop:write/depth:0/limit:0", "run_type": "iteration",
         "real_time": 10.0, "time_unit": "ns", "label": "bench.memcg-fault-anon"},
        {"name": "BM_MemcgFaultAnon/loop:write/depth:4/limit:0_overhead",
         "run_type": "aggregate", "aggregate_name": "overhead", "real_time": 0.02,
         "label": "bench.memcg-fault-anon vs:BM_X not-resolved"},
        {"name": "BM_Other", "label": ""},
    ],
}


def run_main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        try:
            rc = cli.main(argv)
        except SystemExit as e:
            rc = int(e.code or 0)
    return rc, err.getvalue()


class ArgsTest(unittest.TestCase):
    def test_unknown_binary_is_one_line_exit_2(self) -> None:
        rc, err = run_main(["--binaries", "nope"])
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("nope", err)

    def test_missing_build_is_one_line_exit_2(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            rc, err = run_main(["--build", tmp, "--out", tmp])
        self.assertEqual(rc, 2)
        self.assertIn("not built", err)
        self.assertEqual(len(err.strip().splitlines()), 1)

    def test_bad_flag_and_bad_rounds(self) -> None:
        self.assertEqual(run_main(["--bogus"])[0], 2)
        self.assertEqual(run_main(["--rounds", "0"])[0], 2)
        self.assertEqual(run_main(["--short", "--full"])[0], 2)


class EntriesTest(unittest.TestCase):
    def test_entries_name_their_behaviour(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "b.json"
            path.write_text(json.dumps(BENCH_JSON))
            entries, why = cli.entries_of(path, "ckc-bench-memcg", "kvm")
        self.assertEqual(why, "")
        self.assertEqual(len(entries), 2)  # the entry without a bench.* label is dropped
        self.assertEqual({e["behaviour"] for e in entries}, {"bench.memcg-fault-anon"})
        self.assertTrue(all(e["accel"] == "kvm" for e in entries))
        self.assertEqual(entries[0]["context"], {"ckc_mode": "smoke"})

    def test_a_skipped_binary_says_why_and_adds_nothing(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "b.json"
            path.write_text(json.dumps({"context": {"ckc_skipped": "needs:root (euid 65534)"},
                                        "benchmarks": []}))
            entries, why = cli.entries_of(path, "ckc-bench-memcg", "host")
        self.assertEqual(entries, [])
        self.assertEqual(why, "needs:root (euid 65534)")

    def test_cgroup_mode_from_mountinfo(self) -> None:
        self.assertEqual(cli.cgroup_mode(MOUNTINFO_HYBRID), "hybrid")
        self.assertEqual(cli.cgroup_mode(MOUNTINFO_HYBRID.splitlines()[1]), "v2")
        self.assertEqual(cli.cgroup_mode(MOUNTINFO_HYBRID.splitlines()[2]), "none")


class MergeTest(unittest.TestCase):
    def test_fake_binaries_merge_into_a_valid_results_file(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            build = Path(tmp) / "build"
            (build / "bench").mkdir(parents=True)
            for name in ("memcg", "pieces"):
                fake = build / "bench" / f"ckc-bench-{name}"
                payload = json.dumps(BENCH_JSON)
                fake.write_text("#!/bin/sh\nfor a; do case $a in --json=*) "
                                f"printf '%s' '{payload}' > \"${{a#--json=}}\";; esac; done\n")
                fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
            results = Path(tmp) / "r.json"
            rc, err = run_main(["--smoke", "--build", str(build), "--out", tmp,
                                "--results", str(results)])
            self.assertEqual(rc, 0, err)
            runs = schema.load_results(results)
            self.assertEqual(len(runs[0].benchmarks), 4)
            # A second run appends to the same file.
            rc, _ = run_main(["--smoke", "--build", str(build), "--out", tmp,
                              "--results", str(results), "--binaries", "memcg"])
            self.assertEqual(rc, 0)
            self.assertEqual(len(schema.load_results(results)[0].benchmarks), 6)
            self.assertTrue(os.path.exists(Path(tmp) / "r.ckc-bench-memcg.json"))


if __name__ == "__main__":
    unittest.main()
