"""Real boots with --bench: one kernel in v2 mode, booted with memory accounting on and with
cgroup_disable=memory. Checks that the benchmark binary's entries come back tagged, that the
accounting-off boot ran the loops with no groups under bench.memcg-off, and that the report sets
the two side by side. Smoke sizes: it checks the path, never the figures."""

import dataclasses
import tempfile
import unittest
from pathlib import Path

from reports import charts, schema
from vm import runner
from vm.tests import bootutil

KERNEL = bootutil.BOOT_KERNELS[0]


class BootBench(unittest.TestCase):
    def run_vm(self, out: Path, append: list[str]) -> dict:
        payload = bootutil.payload_or_skip(("cgroups",))
        bench = bootutil.build_dir() / "bench" / "ckc-bench-memcg"
        if not bench.is_file():
            raise unittest.SkipTest(f"{bench} not built")
        payload = dataclasses.replace(payload, benches={"bench-memcg": bench},
                                      bench_args=["--smoke"])
        chosen = bootutil.kernels_or_skip([KERNEL])
        cfg = bootutil.config(out, chosen, ["v2"], payload, timeout=240, append=append)
        (run,) = runner.run(cfg, log=bootutil.quiet)["runs"]
        self.assertEqual(run["vm"]["state"], "ok", run["vm"].get("console_tail"))
        self.assertEqual(run["vm"]["binaries"]["bench-memcg"]["status"], 0,
                         run["vm"].get("console_tail"))
        return run

    def test_accounting_on_and_off_side_by_side(self):
        with tempfile.TemporaryDirectory() as tmp:
            on = self.run_vm(Path(tmp) / "on", [])
            off = self.run_vm(Path(tmp) / "off", ["cgroup_disable=memory"])
            paths = []
            for name, run in (("on", on), ("off", off)):
                paths.append(str(Path(tmp) / f"{name}.json"))
                schema.write_json_atomic(paths[-1], run)
            runs, errors = schema.load_many(paths)
        self.assertEqual(errors, [])

        on_ids = {e["behaviour"] for e in on["benchmarks"]}
        self.assertIn("bench.memcg-fault-anon", on_ids)
        self.assertNotIn("bench.memcg-off", on_ids)
        self.assertTrue(all(e["accel"] == on["machine"]["accel"] for e in on["benchmarks"]))

        off_entries = off["benchmarks"]
        self.assertTrue(off_entries, off["vm"].get("console_tail"))
        self.assertEqual({e["behaviour"] for e in off_entries}, {"bench.memcg-off"})
        self.assertEqual({e["context"].get("ckc_memcg_off") for e in off_entries},
                         {"cmdline:cgroup_disable=memory"})
        # No groups: only the depth:0 loops ran.
        self.assertTrue(all("depth:0/" in e["run_name"] for e in off_entries))
        # The cgroups suite saw the controller off too.
        memory_rows = [r for r in off["results"] if r["id"].startswith("mem.")]
        self.assertTrue(memory_rows)
        self.assertEqual({r["reason"] for r in memory_rows}, {"cmdline:cgroup_disable=memory"})

        html = charts.benchmarks_section(schema.merge(runs))
        self.assertIn("accounting off (cgroup_disable=memory) vs on, side by side", html)


if __name__ == "__main__":
    unittest.main()
