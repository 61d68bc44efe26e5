"""The accelerator choice (vm/accel.py) and the runner's move to TCG, against a stand-in QEMU that
fails the two ways a broken nested KVM does: aborting at once ("failed to set MSR", SIGABRT) or
hanging. The /dev/kvm path is injected, so these run alike with working, broken or no KVM."""

import base64
import contextlib
import gzip
import io
import json
import os
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

from vm import accel, cli, initramfs, kernels, qemu, runner

# Under -accel kvm the stand-in does BEHAVIOUR; under tcg (and under kvm with "work") it does
# what a working QEMU would: the probe guest prints its marker and exits through
# isa-debug-exit (status 99), a VM boot writes the init's marks, one suite's results and
# CKC-DONE. Every start is logged as "<pid> <accel> <probe|boot> <ckc.accel=...>".
STAND_IN = r'''#!{python}
import os, resource, signal, sys, time
BEHAVIOUR, LOG, MARKER, FRAME = {behaviour!r}, {log!r}, {marker!r}, {frame!r}
argv = sys.argv[1:]
accel = argv[argv.index("-accel") + 1].split(",")[0]
append = argv[argv.index("-append") + 1].split() if "-append" in argv else []
word = next((w for w in append if w.startswith("ckc.accel=")), "-")
with open(LOG, "a") as log:
    log.write(f"{{os.getpid()}} {{accel}} {{'boot' if '-kernel' in argv else 'probe'}} {{word}}\n")
paths = {{}}
for i, a in enumerate(argv):
    if a == "-chardev":
        fields = dict(f.split("=", 1) for f in argv[i + 1].split(",")[1:])
        paths[fields["id"]] = fields["path"]
if accel == "kvm" and BEHAVIOUR == "abort":
    for path in paths.values():  # as QEMU does: the chardev files are opened before the vCPU
        open(path, "w").close()
    sys.stderr.write("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
                     "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: "
                     "Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n")
    sys.stderr.flush()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), signal.SIGABRT)
if accel == "kvm" and BEHAVIOUR == "hang":
    sys.stdout.write("R")
    sys.stdout.flush()
    time.sleep(3600)
if accel == "kvm" and BEHAVIOUR == "die":  # dies before booting, saying nothing about KVM
    sys.exit(1)
if accel == "kvm" and BEHAVIOUR == "panic":  # the kernel's own death, not KVM's
    with open(paths["console"], "w") as f:
        f.write("Kernel panic - not syncing: Requested init /nonexistent-init failed\n")
    sys.exit(0)
if "-kernel" not in argv:
    sys.stdout.write("RPL " + MARKER + "\n")
    sys.exit(99)
with open(paths["console"], "w") as f:
    f.write("ckc-init: booted\nckc-init: running namespaces\n")
with open(paths["results"], "w") as f:
    f.write(FRAME + "CKC-DONE\n")
'''

TEST = "NsTest.Works"


def frame() -> str:
    """What the guest's init sends for one suite: CKC-FILE, base64 of the gzipped JSON, CKC-END."""
    doc = {"schema": 1, "run": {"id": "r1"}, "machine": {"accel": "guest-said"},
           "results": [{"id": "", "test": TEST, "suite": "namespaces", "outcome": "pass",
                        "reason": "", "details": "", "source": "", "duration_ms": 1}]}
    payload = base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()
    return f"CKC-FILE namespaces 0 0\n{payload}\nCKC-END\n"


class StandIn:
    """A stand-in qemu-system-x86_64 in a temp dir, and the log of its starts."""

    def __init__(self, tmp: Path, behaviour: str) -> None:
        self.log = tmp / f"{behaviour}.starts"
        self.path = tmp / f"qemu-{behaviour}"
        self.path.write_text(STAND_IN.format(
            python=os.path.realpath(sys.executable), behaviour=behaviour, log=str(self.log),
            marker=accel.MARKER.decode(), frame=frame()))
        self.path.chmod(0o755)

    def starts(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split() for line in self.log.read_text().splitlines()]


class Base(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ckc-accel-test-")
        self.tmp = Path(self._tmp.name)
        self.kvm = self.tmp / "kvm"  # a read/writable stand-in for /dev/kvm
        self.kvm.write_bytes(b"")
        self.missing = self.tmp / "no-kvm"

    def tearDown(self):
        self._tmp.cleanup()

    def assertGone(self, stand_in: StandIn):
        for pid, *_ in stand_in.starts():
            with self.assertRaises(ProcessLookupError, msg=f"stand-in {pid} left behind"):
                os.kill(int(pid), 0)


class Requested(unittest.TestCase):
    def test_flag_wins_over_environment(self):
        self.assertEqual(accel.requested("tcg", {accel.ENV: "kvm"}), "tcg")
        self.assertEqual(accel.requested(None, {accel.ENV: "kvm"}), "kvm")
        self.assertEqual(accel.requested(None, {}), "auto")
        self.assertEqual(accel.requested(None, {accel.ENV: ""}), "auto")

    def test_bad_values_name_the_source_and_the_allowed_ones(self):
        with self.assertRaisesRegex(accel.AccelError, r"'xyz' \(--accel\); allowed: auto, kvm"):
            accel.requested("xyz", {})
        with self.assertRaisesRegex(accel.AccelError, r"'xyz' \(CKC_ACCEL\)"):
            accel.requested(None, {accel.ENV: "xyz"})

    def test_cli_rejects_them_in_one_line_with_status_2(self):
        for argv, env in ((["--accel", "xyz"], {}), ([], {accel.ENV: "xyz"})):
            err = io.StringIO()
            with self.subTest(argv=argv, env=env), mock.patch.dict(os.environ, env), \
                    mock.patch.object(kernels, "resolve", side_effect=AssertionError), \
                    contextlib.redirect_stderr(err):
                self.assertEqual(cli.main(argv), 2)
                self.assertEqual(len(err.getvalue().splitlines()), 1, err.getvalue())
                self.assertRegex(err.getvalue(),
                                 r"^ckc vm: unknown accelerator 'xyz'.*auto, kvm, tcg")


class Probe(Base):
    def test_missing_device_means_tcg_without_starting_qemu(self):
        qemu_bin = StandIn(self.tmp, "work")
        choice = accel.choose("auto", str(qemu_bin.path), device=self.missing)
        self.assertEqual((choice.accel, choice.reason), ("tcg", f"no {self.missing}"))
        self.assertEqual(qemu_bin.starts(), [])

    @unittest.skipIf(os.geteuid() == 0, "root may open any file")
    def test_inaccessible_device_means_tcg(self):
        self.kvm.chmod(0)
        choice = accel.choose("auto", str(StandIn(self.tmp, "work").path), device=self.kvm)
        self.assertEqual((choice.accel, choice.reason), ("tcg", f"{self.kvm} not accessible"))

    def test_qemu_aborting_under_kvm_means_tcg_naming_the_msr(self):
        qemu_bin = StandIn(self.tmp, "abort")
        choice = accel.choose("auto", str(qemu_bin.path), device=self.kvm)
        self.assertEqual(choice.accel, "tcg")
        self.assertEqual(choice.reason, f"{self.kvm} present but unusable "
                         "(qemu aborted: failed to set MSR 0x10a to 0x69)")
        self.assertEqual([s[1:3] for s in qemu_bin.starts()], [["kvm", "probe"]])

    def test_hanging_guest_is_killed_at_the_bound_and_means_tcg(self):
        qemu_bin = StandIn(self.tmp, "hang")
        start = time.monotonic()
        choice = accel.choose("auto", str(qemu_bin.path), device=self.kvm, timeout=1.0)
        self.assertLess(time.monotonic() - start, 3.0)
        self.assertEqual(choice.accel, "tcg")
        self.assertIn("guest stuck after real mode, no marker within 1 s", choice.reason)
        self.assertGone(qemu_bin)

    def test_working_kvm_is_used(self):
        qemu_bin = StandIn(self.tmp, "work")
        self.assertEqual(accel.choose("auto", str(qemu_bin.path), device=self.kvm),
                         accel.Choice("kvm"))
        self.assertEqual(accel.choose("kvm", str(qemu_bin.path), device=self.kvm).accel, "kvm")

    def test_kvm_asked_for_but_unusable_is_an_error(self):
        for behaviour, device in (("abort", self.kvm), ("hang", self.kvm),
                                  ("work", self.missing)):
            with self.subTest(behaviour=behaviour, device=device.name), \
                    self.assertRaisesRegex(accel.AccelError, "^cannot use kvm: "):
                accel.choose("kvm", str(StandIn(self.tmp, behaviour).path), device=device,
                             timeout=1.0)

    def test_tcg_asked_for_runs_no_probe(self):
        qemu_bin = StandIn(self.tmp, "abort")
        self.assertEqual(accel.choose("tcg", str(qemu_bin.path), device=self.kvm),
                         accel.Choice("tcg"))
        self.assertEqual(qemu_bin.starts(), [])

    def test_probe_uses_the_machine_and_cpu_of_the_real_vms(self):
        vm_argv = qemu.build_argv(qemu.VmConfig(Path("k"), Path("i"), Path("c"), Path("r"), "v2",
                                                accel="kvm"))
        probe = accel.probe_argv("qemu", Path("probe.bios"))
        for flag in ("-machine", "-accel", "-cpu"):
            self.assertEqual(probe[probe.index(flag) + 1], vm_argv[vm_argv.index(flag) + 1])
        self.assertEqual(len(accel.probe_image()), 0x10000)

    def test_probe_guest_reaches_its_marker_under_real_tcg(self):
        found = qemu.find_qemu()
        if found is None:
            self.skipTest("qemu-system-x86_64 not installed")
        image = self.tmp / "probe.bios"
        image.write_bytes(accel.probe_image())
        import subprocess
        proc = subprocess.run(accel.probe_argv(found, image, "tcg"), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=20)
        self.assertIn(b"RPL " + accel.MARKER, proc.stdout, proc.stderr)
        self.assertEqual(proc.returncode, 99)  # isa-debug-exit: 0x31 * 2 + 1


class CliChoice(Base):
    """make_config: the probe runs before any kernel is fetched; kvm unusable is exit 2."""

    def make_config(self, behaviour, *argv):
        payload = initramfs.Payload(suites={"namespaces": Path("/nonexistent")})
        fake = kernels.Kernel("bookworm", Path("/k/vmlinuz"), "6.1.0", None)
        err = io.StringIO()
        with mock.patch.object(accel, "KVM_DEVICE", self.kvm), \
                mock.patch.object(cli, "find_payload", return_value=payload), \
                mock.patch.object(cli, "ensure_tools",
                                  return_value=str(StandIn(self.tmp, behaviour).path)), \
                mock.patch.object(kernels, "resolve", return_value=[fake]) as resolve, \
                mock.patch.dict(os.environ, {accel.ENV: ""}), contextlib.redirect_stderr(err):
            args = cli.parse_args(["--kernels", "bookworm", "--modes", "v2", *argv])
            try:
                return cli.make_config(args), err.getvalue(), resolve.called
            except cli.UsageError as e:
                return e, err.getvalue(), resolve.called

    def test_auto_with_broken_kvm_prints_the_fallback_line(self):
        cfg, err, _ = self.make_config("abort")
        self.assertEqual(err, f"ckc vm: {self.kvm} present but unusable (qemu aborted: failed "
                         "to set MSR 0x10a to 0x69); using TCG\n")
        self.assertEqual((cfg.accel, cfg.accel_reason.split(" (")[0]),
                         ("tcg", f"{self.kvm} present but unusable"))

    def test_kvm_asked_for_and_broken_fetches_nothing(self):
        got, _, fetched = self.make_config("abort", "--accel", "kvm")
        self.assertIsInstance(got, cli.UsageError)
        self.assertIn("failed to set MSR 0x10a", str(got))
        self.assertFalse(fetched)

    def test_working_kvm_records_no_reason(self):
        cfg, err, _ = self.make_config("work")
        self.assertEqual((cfg.accel, cfg.accel_reason, err), ("kvm", "", ""))


class RunnerFallback(Base):
    """A VM whose QEMU dies of KVM during a real boot is booted again under TCG."""

    def run_vm(self, qemu_bin: StandIn, name: str, fallback=None, vms=None, err=None, **kw):
        cfg = runner.RunConfig(kernels=[], modes=["v2"], payload=initramfs.Payload(suites={}),
                               modules=[], out=self.tmp, accel="kvm", qemu=str(qemu_bin.path),
                               boot_timeout=10, timeout=30, **kw)
        kernel = kernels.Kernel("bookworm", Path("/nonexistent/vmlinuz"), "6.1.0", None)
        job = runner.VmJob(name, kernel, "v2", Path("/nonexistent/initrd"))
        err = err or io.StringIO()
        with contextlib.redirect_stderr(err):
            doc = runner.run_vm(cfg, job, {"namespaces": [TEST]}, runner.Progress(1),
                                vms or runner.Vms(), fallback)
        return doc, err.getvalue()

    def test_kvm_abort_during_boot_reruns_under_tcg_and_records_why(self):
        qemu_bin = StandIn(self.tmp, "abort")
        fallback = accel.Fallback("kvm")
        doc, err = self.run_vm(qemu_bin, "bookworm-v2", fallback)
        self.assertEqual([s[1:] for s in qemu_bin.starts()],
                         [["kvm", "boot", "ckc.accel=kvm"], ["tcg", "boot", "ckc.accel=tcg"]])
        self.assertEqual(doc["vm"]["state"], "ok")
        self.assertEqual([r["outcome"] for r in doc["results"]], ["pass"])
        why = "qemu under kvm failed: failed to set MSR 0x10a to 0x69"
        self.assertEqual((doc["machine"]["accel"], doc["machine"]["accel_reason"]), ("tcg", why))
        self.assertEqual((doc["vm"]["accel"], doc["vm"]["accel_reason"]), ("tcg", why))
        self.assertIn("ckc.accel=tcg", doc["kernel"]["cmdline"])
        self.assertEqual(doc["vm"]["attempts"], 2)
        self.assertTrue((self.tmp / "bookworm-v2.attempt1.console.log").exists())
        self.assertIn("died under kvm", err)
        # The rest of the run goes straight to TCG.
        doc2, _ = self.run_vm(qemu_bin, "sid-v2", fallback)
        self.assertEqual([s[1] for s in qemu_bin.starts()[2:]], ["tcg"])
        self.assertEqual((doc2["vm"]["attempts"], doc2["machine"]["accel_reason"]), (1, why))

    def test_silent_early_deaths_under_kvm_switch_after_two(self):
        qemu_bin = StandIn(self.tmp, "die")
        doc, _ = self.run_vm(qemu_bin, "bookworm-v2", boot_attempts=3)
        self.assertEqual([s[1] for s in qemu_bin.starts()], ["kvm", "kvm", "tcg"])
        self.assertEqual(doc["machine"]["accel"], "tcg")
        self.assertIn("2 boots under kvm ended before their init ran",
                      doc["machine"]["accel_reason"])
        self.assertEqual(doc["vm"]["state"], "ok")

    def test_a_kernel_panic_under_kvm_is_not_blamed_on_kvm(self):
        qemu_bin = StandIn(self.tmp, "panic")
        doc, _ = self.run_vm(qemu_bin, "bookworm-v2", boot_attempts=3)
        self.assertEqual([s[1] for s in qemu_bin.starts()], ["kvm", "kvm", "kvm"])
        self.assertEqual((doc["machine"]["accel"], doc["vm"]["state"]), ("kvm", "crash"))
        self.assertNotIn("accel_reason", doc["machine"])

    def test_working_kvm_stays_and_records_no_reason(self):
        qemu_bin = StandIn(self.tmp, "work")
        doc, _ = self.run_vm(qemu_bin, "bookworm-v2")
        self.assertEqual([s[1] for s in qemu_bin.starts()], ["kvm"])
        self.assertEqual(doc["machine"]["accel"], "kvm")
        self.assertNotIn("accel_reason", doc["machine"])
        self.assertNotIn("accel_reason", doc["vm"])

    def test_tcg_from_the_probe_keeps_the_probe_reason(self):
        qemu_bin = StandIn(self.tmp, "abort")
        doc, _ = self.run_vm(qemu_bin, "bookworm-v2",
                             fallback=accel.Fallback("tcg", "no /dev/kvm"))
        self.assertEqual([s[1] for s in qemu_bin.starts()], ["tcg"])
        self.assertEqual((doc["machine"]["accel"], doc["machine"]["accel_reason"]),
                         ("tcg", "no /dev/kvm"))

    def test_a_stopped_run_kills_its_vm_and_calls_nothing_a_crash(self):
        # Negative control: with the stop checked after the exit in runner.watch, the killed
        # QEMU is an early death: "died before its first binary ran; booting again".
        qemu_bin = StandIn(self.tmp, "hang")
        vms = runner.Vms()
        stopper = threading.Timer(1.0, vms.kill_all)
        stopper.start()
        self.addCleanup(stopper.cancel)
        err = io.StringIO()
        with self.assertRaises(KeyboardInterrupt):
            self.run_vm(qemu_bin, "bookworm-v2", fallback=accel.Fallback("kvm"), vms=vms, err=err)
        self.assertEqual(len(qemu_bin.starts()), 1)
        self.assertGone(qemu_bin)
        self.assertNotIn("again", err.getvalue())
        self.assertNotIn("crash", err.getvalue())


if __name__ == "__main__":
    unittest.main()
