"""Real boots that go wrong: a kernel that panics at once (bad init) gives `crash` results for
every listed test, with the panic in the console tail; a VM that hangs gives `timeout`."""

import tempfile
import unittest
from pathlib import Path

from vm import runner
from vm.tests import bootutil


class BootCrash(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.payload = bootutil.payload_or_skip()
        cls.kernels = bootutil.kernels_or_skip(bootutil.BOOT_KERNELS[:1])
        cls.listed = runner.list_tests(cls.payload.suites["namespaces"])

    def run_one(self, append, timeout, attempts=3):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = bootutil.config(Path(tmp), self.kernels, ["v2"], self.payload,
                                  timeout=timeout, append=append, boot_attempts=attempts)
            return runner.run(cfg, log=bootutil.quiet)["runs"][0]

    def test_bad_init_panics_and_yields_crash(self):
        run = self.run_one(["rdinit=/nonexistent-init"], timeout=120)
        self.assertEqual(run["vm"]["state"], "crash")
        self.assertIn("panic", run["vm"]["console_tail"].lower())
        self.assertEqual({r["test"] for r in run["results"]}, set(self.listed))
        self.assertEqual({r["outcome"] for r in run["results"]}, {"crash"})
        self.assertIn("panic", run["results"][0]["details"].lower())
        self.assertEqual(run["vm"]["attempts"], 3)  # early deaths are booted again

    def test_hanging_init_yields_timeout(self):
        # Words without '=' go to init as arguments: init is `sleep 600`.
        run = self.run_one(["rdinit=/bin/sleep", "600"], timeout=12, attempts=1)
        self.assertEqual(run["vm"]["state"], "timeout")
        self.assertEqual({r["outcome"] for r in run["results"]}, {"timeout"})
        self.assertEqual(len(run["results"]), len(self.listed))


if __name__ == "__main__":
    unittest.main()
