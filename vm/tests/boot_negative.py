"""Negative controls, demonstrated: rows that pass on a kernel booted plainly skip, naming the
setting, when the kernel is booted with an option or sysctl that turns their behaviour off (the
"Negative control:" line of each row's test comment). Never a host setting: each control is a
guest's kernel command line (`ckc vm --append`). And with swapaccount=0 on 5.10 in v1, only the
memsw row skips; the other memory rows still run.

Each boot runs only the suites the rows need; boots run two at a time."""

import concurrent.futures
import tempfile
import unittest
from pathlib import Path

from vm import runner
from vm.tests import bootutil

KERNEL = "bookworm"
NS_LIMITS = " ".join(f"sysctl.user.max_{t}_namespaces=0"
                     for t in ("net", "pid", "ipc", "uts", "time", "cgroup"))
# boot name -> (kernel command-line arguments, suites)
BOOTS = {
    "plain": ("", ("namespaces", "security", "cgroups")),
    "limits": (f"{NS_LIMITS} lsm=capability maxcpus=1", ("namespaces", "security", "cgroups")),
    "controllers": ("cgroup_disable=memory,pids", ("cgroups",)),
    "accounting": ("cgroup.memory=nokmem,nosocket", ("cgroups",)),
}
# (boot, row, the skip reason's first word): each row passes in the plain boot.
CONTROLS = [
    ("limits", "net.lo-up", "sysctl:user.max_net_namespaces"),
    ("limits", "net.veth-pair", "sysctl:user.max_net_namespaces"),
    ("limits", "net.routes-isolated", "sysctl:user.max_net_namespaces"),
    ("limits", "pid.first-is-1", "sysctl:user.max_pid_namespaces"),
    ("limits", "pid.init-death-kills-all", "sysctl:user.max_pid_namespaces"),
    ("limits", "ipc.sysv-shm-isolated", "sysctl:user.max_ipc_namespaces"),
    ("limits", "ipc.posix-mq-isolated", "sysctl:user.max_ipc_namespaces"),
    ("limits", "uts.hostname-isolated", "sysctl:user.max_uts_namespaces"),
    ("limits", "time.offsets", "sysctl:user.max_time_namespaces"),
    ("limits", "cgns.root-view", "sysctl:user.max_cgroup_namespaces"),
    ("limits", "lsm.active", "lsm:none-able-to-deny"),
    ("limits", "cpuset.pin", "setup:needs-2-cpus"),
    ("controllers", "mem.limit-oom-kill", "cmdline:cgroup_disable=memory"),
    ("controllers", "mem.peak", "cmdline:cgroup_disable=memory"),
    ("controllers", "mem.stat-anon-file", "cmdline:cgroup_disable=memory"),
    ("controllers", "pids.max", "cmdline:cgroup_disable=pids"),
    ("accounting", "mem.kmem-accounted", "cmdline:cgroup.memory=nokmem"),
    ("accounting", "mem.sock-charged", "cmdline:cgroup.memory=nosocket"),
]


def outcomes(run: dict) -> dict[str, dict]:
    return {r["id"]: r for r in run["results"] if r.get("id")}


class BootNegative(unittest.TestCase):
    def boot(self, out: Path, kernel: str, mode: str, append: str,
             suites: tuple[str, ...]) -> dict:
        payload = bootutil.payload_or_skip(suites)
        chosen = bootutil.kernels_or_skip([kernel])
        cfg = bootutil.config(out, chosen, [mode], payload, timeout=400,
                              append=append.split())
        (run,) = runner.run(cfg, log=bootutil.quiet)["runs"]
        self.assertEqual(run["vm"]["state"], "ok", run["vm"].get("console_tail"))
        return run

    def test_each_setting_makes_its_rows_skip_naming_it(self):
        with tempfile.TemporaryDirectory() as tmp, \
                concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(self.boot, Path(tmp) / name, KERNEL, "v2", *boot)
                       for name, boot in BOOTS.items()}
            runs = {name: outcomes(f.result()) for name, f in futures.items()}
        self.assertGreaterEqual(len(CONTROLS), 15)
        for boot, row, reason in CONTROLS:
            with self.subTest(row=row, append=BOOTS[boot][0]):
                plain, off = runs["plain"].get(row, {}), runs[boot].get(row, {})
                self.assertEqual(plain.get("outcome"), "pass", plain)
                self.assertEqual(off.get("outcome"), "skip", off)
                self.assertEqual(off.get("reason", "").split(" ")[0], reason, off)

    def test_swapaccount_off_skips_only_the_memsw_row(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = outcomes(self.boot(Path(tmp), "bullseye", "v1", "swapaccount=0", ("cgroups",)))
        memsw = run.get("mem.memsw-limit-kill", {})
        self.assertEqual(memsw.get("outcome"), "skip", memsw)
        self.assertTrue(memsw.get("reason", "").startswith("cmdline:swapaccount=0"), memsw)
        memory = {i: r for i, r in run.items() if i.startswith("mem.")}
        named = sorted(i for i, r in memory.items() if "swapaccount" in r.get("reason", ""))
        self.assertEqual(named, ["mem.memsw-limit-kill"])
        bad = {i: r["outcome"] for i, r in memory.items() if r["outcome"] not in ("pass", "skip")}
        self.assertEqual(bad, {})
        for row in ("mem.limit-oom-kill", "mem.limit-reclaims-cache", "mem.oom-disable-freezes",
                    "mem.limit-without-memsw-swaps"):
            self.assertEqual(memory.get(row, {}).get("outcome"), "pass", memory.get(row))


if __name__ == "__main__":
    unittest.main()
