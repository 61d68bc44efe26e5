"""Real boots: two Debian kernels, each in cgroup v1 and v2; results come back with the kernel's
release and the cgroup mode the guest's init mounted, every listed test present, and the host
guard's snapshot and comparison around them."""

import json
import tempfile
import unittest
from pathlib import Path

from vm import runner
from vm.tests import bootutil


class BootModes(unittest.TestCase):
    def test_v1_and_v2_results_come_back(self):
        payload = bootutil.payload_or_skip(guard=True)
        chosen = bootutil.kernels_or_skip(bootutil.BOOT_KERNELS)
        listed = runner.list_tests(payload.suites["namespaces"])
        self.assertTrue(listed, "the suite lists no tests")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            cfg = bootutil.config(out, chosen, ["v1", "v2"], payload, timeout=240)
            merged = runner.run(cfg, log=bootutil.quiet)
            self.assertEqual(json.loads((out / "vm-merged.json").read_text()), merged)
            runs = {(run["vm"]["kernel"], run["vm"]["mode"]): run for run in merged["runs"]}
            self.assertEqual(set(runs), {(k.name, m) for k in chosen for m in ("v1", "v2")})
            release = {k.name: k.release for k in chosen}
            for (name, mode), run in runs.items():
                with self.subTest(kernel=name, mode=mode):
                    self.assertEqual(run["vm"]["state"], "ok", run["vm"].get("console_tail"))
                    # The guest's own document came back (not a synthesized one).
                    self.assertTrue(run["run"]["id"], run["vm"].get("console_tail"))
                    self.assertTrue(any(r["outcome"] in ("pass", "fail", "skip")
                                        for r in run["results"]), run["vm"].get("console_tail"))
                    self.assertEqual(run["kernel"]["release"], release[name])
                    self.assertEqual(run["kernel"]["cgroup_mode"], mode)
                    self.assertEqual(run["machine"]["accel"], cfg.accel)
                    self.assertIn(f"ckc.mode={mode}", run["kernel"]["cmdline"])
                    self.assertEqual({r["test"] for r in run["results"]} & set(listed),
                                     set(listed))
                    if payload.guard:  # the guard's steps bracket the suite, both passing
                        guard = [(r["test"], r["outcome"]) for r in run["results"]
                                 if r["suite"] == "guard"]
                        self.assertEqual(guard, [("HostGuard.Snapshot", "pass"),
                                                 ("HostGuard.Unchanged", "pass")],
                                         run["vm"].get("console_tail"))
                    self.assertTrue((out / f"{name}-{mode}.console.log").is_file())


if __name__ == "__main__":
    unittest.main()
