"""Real boots: one Debian kernel in cgroup v1 and v2; results come back with the kernel's
release and the cgroup mode the guest's init mounted, every listed test present."""

import json
import tempfile
import unittest
from pathlib import Path

from vm import runner
from vm.tests import bootutil


class BootModes(unittest.TestCase):
    def test_v1_and_v2_results_come_back(self):
        payload = bootutil.payload_or_skip()
        kernel = bootutil.kernel_or_skip()
        listed = runner.list_tests(payload.suites["namespaces"])
        self.assertTrue(listed, "the suite lists no tests")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            cfg = bootutil.config(out, kernel, ["v1", "v2"], payload, timeout=240)
            merged = runner.run(cfg, log=bootutil.quiet)
            self.assertEqual(json.loads((out / "vm-merged.json").read_text()), merged)
            runs = {run["vm"]["mode"]: run for run in merged["runs"]}
            self.assertEqual(set(runs), {"v1", "v2"})
            for mode, run in runs.items():
                with self.subTest(mode=mode):
                    self.assertEqual(run["vm"]["state"], "ok", run["vm"].get("console_tail"))
                    self.assertEqual(run["kernel"]["release"], kernel.release)
                    self.assertEqual(run["kernel"]["cgroup_mode"], mode)
                    self.assertEqual(run["machine"]["accel"], cfg.accel)
                    self.assertIn(f"ckc.mode={mode}", run["kernel"]["cmdline"])
                    self.assertEqual({r["test"] for r in run["results"]} & set(listed),
                                     set(listed))
                    self.assertTrue((out / f"{kernel.name}-{mode}.console.log").is_file())


if __name__ == "__main__":
    unittest.main()
