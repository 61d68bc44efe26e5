"""Real boots with ckc.chaos=10 (vm/guest/init.sh): inside a pure cgroup v2 guest and a v1
guest, a clean run of the cgroups suite, ten runs of it SIGKILLed as a process group (the first
while a group is frozen, the second while a loop device is attached, the rest at random), then
the suites' own clean run. The guard's comparison (HostGuard.Unchanged) must pass in the
column, and the guest's picture made with busybox alone, before and after, must be identical."""

import re
import tempfile
import unittest
from pathlib import Path

from vm import runner
from vm.tests import bootutil

KERNEL = bootutil.BOOT_KERNELS[0]
KILLS = 10


class BootChaos(unittest.TestCase):
    def test_killed_runs_leave_the_guest_as_it_was(self):
        payload = bootutil.payload_or_skip(("cgroups",), guard=True)
        if payload.guard is None:
            raise unittest.SkipTest("ckc-guard not built")
        chosen = bootutil.kernels_or_skip([KERNEL])
        with tempfile.TemporaryDirectory() as tmp:
            cfg = bootutil.config(Path(tmp), chosen, ["v2", "v1"], payload, timeout=400,
                                  append=[f"ckc.chaos={KILLS}"])
            doc = runner.run(cfg, log=bootutil.quiet)
            for run in doc["runs"]:
                mode = run["machine"].get("cgroup_mode") or run["vm"].get("mode")
                with self.subTest(mode=mode):
                    self.assertEqual(run["vm"]["state"], "ok", run["vm"].get("console_tail"))
                    consoles = list(Path(tmp).glob(f"*-{run['vm']['mode']}.console.log"))
                    self.assertEqual(len(consoles), 1, consoles)
                    console = consoles[0].read_text(errors="replace")
                    kills = re.findall(r"ckc-init: chaos: kill (\d+) aimed at (\w+)(?:, on: (.*)|: .*)",
                                       console)
                    self.assertEqual(len(kills), KILLS, console[-3000:])
                    by_aim = {aim: on for _, aim, on in kills[:2]}
                    self.assertIn("frozen", by_aim.get("frozen", ""), kills)
                    self.assertIn("loop", by_aim.get("loop", ""), kills)
                    self.assertIn("ckc-init: chaos: picture unchanged", console,
                                  "\n".join(l for l in console.splitlines()
                                            if "ckc-chaos-diff" in l))
                    guard = [r for r in run["results"] if r["test"] == "HostGuard.Unchanged"]
                    self.assertEqual([r["outcome"] for r in guard], ["pass"], guard)


if __name__ == "__main__":
    unittest.main()
