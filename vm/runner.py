"""Run the suites in one VM per (kernel, cgroup mode), in parallel, each with a time limit.

Per VM the out dir gets `<vm>.json` (results, schema 1 + `vm` object) and `<vm>.console.log`;
`vm-merged.json` holds all of them. QEMU processes are killed on time-out and on Ctrl-C, and the
temporary directory holding the initramfs images is removed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable

from vm import accel, initramfs, qemu, results
from vm.kernels import Kernel, cache_root

POLL_S = 0.25
BOOT_MARK = b"ckc-init: booted"
READY_MARK = b"ckc-init: running"
DONE_MARK = b"CKC-DONE"


Log = Callable[[str], None]


@dataclass(frozen=True)
class Planned:
    """One job of the matrix, by name only (no kernel fetched yet)."""

    name: str     # <kernel slug>-<mode>, the stem of its files
    kernel: str   # Kernel.name: the matrix name or the path given
    mode: str


@dataclass(frozen=True)
class RunConfig:
    kernels: list[Kernel]
    modes: list[str]
    payload: initramfs.Payload
    modules: list[str]
    out: Path
    jobs: int = 2
    timeout: int = 300
    boot_timeout: int = 90    # until the init runs; a boot that hangs is tried again
    boot_attempts: int = 3    # boots of a VM that dies or hangs before its init runs
    append: list[str] = field(default_factory=list)
    accel: str = "tcg"
    accel_reason: str = ""    # why not KVM (the probe's answer), recorded in every VM's results
    memory_mib: int = 1024
    cpus: int = 2             # cpuset rows pin to a second CPU
    qemu: str = qemu.QEMU_BINARY
    planned: tuple[Planned, ...] | None = None  # the jobs to run; None: every kernel × mode


@dataclass(frozen=True)
class VmJob:
    name: str
    kernel: Kernel
    mode: str
    initrd: Path


def slug(text: str) -> str:
    """File-name-safe name of a kernel: the matrix name, or the vmlinuz file's name."""
    image = text.partition(":")[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(image).name if "/" in image else image)


def unique_slugs(kernel_names: list[str]) -> dict[str, str]:
    """kernel name → slug, numbered when two local kernels share a file name."""
    names: dict[str, str] = {}
    for name in kernel_names:
        base = candidate = slug(name)
        n = 1
        while candidate in names.values():
            n += 1
            candidate = f"{base}-{n}"
        names[name] = candidate
    return names


def unique_names(chosen: list[Kernel]) -> dict[str, str]:
    return unique_slugs([k.name for k in chosen])


def plan(kernel_names: list[str], modes: list[str]) -> list[Planned]:
    """Every job in its canonical order: the kernels as given × the modes as given."""
    slugs = unique_slugs(kernel_names)
    return [Planned(f"{slugs[k]}-{m}", k, m) for k in kernel_names for m in modes]


def shard(jobs: list[Planned], k: int, n: int) -> list[Planned]:
    """The K-th of N disjoint parts (1 ≤ K ≤ N): job i goes to part (i mod N) + 1, so the parts
    stay the same from run to run and differ in size by one at most."""
    return [job for i, job in enumerate(jobs) if i % n == k - 1]


def list_tests(binary: Path) -> list[str]:
    """The tests a suite binary would run, asked on the host (listing touches no kernel API)."""
    try:
        proc = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return results.parse_test_list(proc.stdout) if proc.returncode == 0 else []


class Progress:
    """One stderr line per VM state change: booting, running <suite>, done (<outcome>)."""

    def __init__(self, total: int) -> None:
        self._lock = threading.Lock()
        self._total = total
        self._finished = 0
        self._start = time.monotonic()

    def say(self, vm: str, state: str, final: bool = False) -> None:
        with self._lock:
            self._finished += final
            elapsed = time.monotonic() - self._start
            print(f"ckc vm [{self._finished}/{self._total} done, {elapsed:5.1f}s] {vm}: {state}",
                  file=sys.stderr, flush=True)


class Vms:
    """Registry of running QEMU processes so that Ctrl-C can kill them all."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self, argv: list[str], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self.stopping.is_set():
                raise KeyboardInterrupt
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=stderr, start_new_session=True)
            self._procs.add(proc)
            return proc

    def forget(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            for proc in self._procs:
                _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def suite_timeout(cfg: RunConfig) -> int:
    """The guest's time budget for all binaries: the VM's limit less boot time, so a hanging
    test is cut by the guest (keeping every earlier result) before the host kills the VM."""
    return max(10, cfg.timeout - 45)


def vm_config(cfg: RunConfig, job: VmJob, console: Path, serial: Path) -> qemu.VmConfig:
    return qemu.VmConfig(kernel=job.kernel.vmlinuz, initrd=job.initrd, console_log=console,
                         results_log=serial, mode=job.mode, accel=cfg.accel,
                         memory_mib=cfg.memory_mib, cpus=cfg.cpus,
                         suite_timeout=suite_timeout(cfg), append=cfg.append)


def watch(proc: subprocess.Popen[bytes], vcfg: qemu.VmConfig, limits: tuple[float, float],
          name: str, progress: Progress, vms: Vms) -> tuple[str, dict[str, float]]:
    """Wait for the VM, reporting state changes. `limits` = (boot, total) deadlines. Returns
    ('exited'|'boot-hang'|'timeout', marks): seconds from start until the init ran ("booted")
    and until the first binary ran ("ready")."""
    start, marks, state = time.monotonic(), {}, ""
    while True:
        exited = proc.poll() is not None
        text = _read(vcfg.console_log)
        if "done" not in marks and DONE_MARK in _read(vcfg.results_log):
            marks["done"] = time.monotonic() - start
        if not exited and "done" in marks and time.monotonic() - start > marks["done"] + 15:
            # Everything was sent; a guest that then fails to power off is not waited for.
            _kill(proc)
            exited = True
        for key, mark in (("booted", BOOT_MARK), ("ready", READY_MARK)):
            if key not in marks and mark in text:
                marks[key] = time.monotonic() - start
        running = re.findall(rb"ckc-init: running (\S+)", text)
        now = f"running {running[-1].decode()}" if running else "booting"
        if now != state and not exited:
            state = now
            progress.say(name, state)
        if vms.stopping.is_set():  # before `exited`: a VM killed by Ctrl-C did not crash
            raise KeyboardInterrupt
        if exited:
            return "exited", marks
        if "booted" not in marks and time.monotonic() > limits[0]:
            _kill(proc)
            return "boot-hang", marks
        if time.monotonic() > limits[1]:
            _kill(proc)
            return "timeout", marks
        time.sleep(POLL_S)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@dataclass
class Attempt:
    """One boot of a VM: how it ended, what the guest sent, and how long it took."""

    state: str
    stream: results.SerialStream
    marks: dict[str, float]
    total: float
    qemu_stderr: str


def boot_once(cfg: RunConfig, vcfg: qemu.VmConfig, name: str, progress: Progress,
              vms: Vms) -> Attempt:
    start = time.monotonic()
    with tempfile.TemporaryFile() as stderr:
        proc = vms.start(qemu.build_argv(vcfg, cfg.qemu), stderr)
        try:
            limits = (start + min(cfg.boot_timeout, cfg.timeout), start + cfg.timeout)
            state, marks = watch(proc, vcfg, limits, name, progress, vms)
        finally:
            _kill(proc)
            vms.forget(proc)
        stderr.seek(0)
        err = stderr.read().decode(errors="replace").strip()
    stream = results.parse_serial(_read(vcfg.results_log).decode(errors="replace"))
    if state == "exited":
        state = "ok" if stream.done else "crash"
    return Attempt(state, stream, marks, time.monotonic() - start, err)


def vm_timings(attempt: Attempt) -> dict[str, float]:
    """boot (kernel until init), setup (modules, cgroups, swap), tests (binaries, power-off)."""
    booted = attempt.marks.get("booted", attempt.total)
    ready = attempt.marks.get("ready", attempt.total)
    return {"boot_s": booted, "setup_s": max(0.0, ready - booted),
            "tests_s": max(0.0, attempt.total - ready), "total_s": attempt.total}


def boot_with_retries(cfg: RunConfig, vcfg: qemu.VmConfig, name: str, progress: Progress,
                      vms: Vms, fallback: accel.Fallback
                      ) -> tuple[Attempt, int, float, qemu.VmConfig]:
    """(last attempt, attempts, seconds lost to failed boots, the last boot's config). Boots
    that die before the first binary runs, or hang before the init runs, are tried again (TCG
    on a loaded host makes some kernels fault or stall early, see vm/README.md); a boot under
    KVM that dies of KVM (accel.Fallback) is booted again under TCG, with fresh retries, and so
    is every later boot of the run. Each failed console is kept as <vm>.attemptN.console.log."""
    lost, attempts, tries = 0.0, 0, 0
    while True:
        vcfg = replace(vcfg, accel=fallback.current()[0])
        attempts, tries = attempts + 1, tries + 1
        attempt = boot_once(cfg, vcfg, name, progress, vms)
        # Before the first binary ran only the kernel and the init script were at work.
        early = attempt.state in ("crash", "boot-hang") and "ready" not in attempt.marks
        to_tcg = _left_kvm(attempt, vcfg, fallback)
        if not to_tcg and (not early or tries >= cfg.boot_attempts):
            break
        lost += attempt.total
        if vcfg.console_log.exists():  # QEMU may die before it opens the file
            vcfg.console_log.replace(vcfg.console_log.with_name(
                f"{name}.attempt{attempts}.console.log"))
        if to_tcg:
            tries = 0
            progress.say(name, f"died under kvm ({to_tcg}); booting again under tcg")
        else:
            what = "died" if attempt.state == "crash" else "hung"
            progress.say(name, f"{what} before its first binary ran; booting again")
    if attempt.state == "boot-hang":
        attempt.state = "timeout"
    return attempt, attempts, lost, vcfg


def _left_kvm(attempt: Attempt, vcfg: qemu.VmConfig, fallback: accel.Fallback) -> str:
    """Why the run leaves KVM after this boot ("" to stay)."""
    if vcfg.accel != "kvm":
        return ""
    if "booted" in attempt.marks:
        fallback.booted_under_kvm()
        return ""
    if attempt.state not in ("crash", "boot-hang"):
        return ""
    return fallback.died_under_kvm(attempt.qemu_stderr, not _read(vcfg.console_log).strip())


def run_vm(cfg: RunConfig, job: VmJob, tests: dict[str, list[str]], progress: Progress,
           vms: Vms, fallback: accel.Fallback | None = None) -> dict[str, Any]:
    """Boot the VM (with retries of early deaths), then turn what came back into its results
    file. `fallback` is the run's accelerator, shared by its VMs."""
    fallback = fallback or accel.Fallback(cfg.accel, cfg.accel_reason)
    console = cfg.out / f"{job.name}.console.log"
    fd, serial_name = tempfile.mkstemp(prefix=f"ckc-{job.name}-", suffix=".serial")
    os.close(fd)
    serial = Path(serial_name)
    try:
        vcfg = vm_config(cfg, job, console, serial)
        attempt, attempts, lost, vcfg = boot_with_retries(cfg, vcfg, job.name, progress, vms,
                                                          fallback)
    finally:
        serial.unlink(missing_ok=True)
    tail = results.console_tail(console)
    if not tail and attempt.qemu_stderr:
        tail = "qemu: " + attempt.qemu_stderr[-results.TAIL_CHARS:]
    ident = results.VmIdentity(
        kernel=job.kernel.name, release=job.kernel.release, mode=job.mode, accel=vcfg.accel,
        cmdline=" ".join(qemu.kernel_cmdline(vcfg)), append=" ".join(cfg.append), suites=tests,
        accel_reason=fallback.current()[1] if vcfg.accel == "tcg" else "",
        guard=dict(initramfs.GUARD_STEPS) if cfg.payload.guard else {})
    timings = vm_timings(attempt)
    if lost:
        timings["retry_lost_s"] = lost
    doc = results.run_document(ident, attempt.stream, results.VmOutcome(attempt.state, tail),
                               timings)
    doc["vm"]["attempts"] = attempts
    results.write_json_atomic(cfg.out / f"{job.name}.json", doc)
    progress.say(job.name, f"done ({_summary(doc)}, {attempt.total:.1f}s)", final=True)
    return doc


def _summary(doc: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for entry in doc["results"]:
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    text = " ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"vm {doc['vm']['state']}: {text}"


def build_images(cfg: RunConfig, workdir: Path, log: Log) -> dict[str, Path]:
    """One initramfs per kernel."""
    images: dict[str, Path] = {}
    for kernel in cfg.kernels:
        path = workdir / f"{len(images)}-{slug(kernel.name)}.initrd.gz"
        report = initramfs.build(kernel, cfg.payload, cfg.modules, path,
                                 cache_root() / "kernels")
        log(f"{kernel.name} ({kernel.release}): initramfs {report.size // 1024} KiB, "
            f"{len(report.modules)} modules"
            + (f", not available: {' '.join(report.missing_modules)}"
               if report.missing_modules else "")
            + (f", built in: {' '.join(report.builtin_modules)}"
               if report.builtin_modules else ""))
        images[kernel.name] = path
    return images


def run(cfg: RunConfig,
        log: Log = lambda msg: print(msg, file=sys.stderr)) -> dict[str, Any]:
    """Run the whole matrix; returns the merged document (also written to vm-merged.json)."""
    tests = {name: list_tests(path) for name, path in cfg.payload.suites.items()}
    cfg.out.mkdir(parents=True, exist_ok=True)
    vms = Vms()
    with tempfile.TemporaryDirectory(prefix="ckc-vm-") as tmp:
        images = build_images(cfg, Path(tmp), log)
        planned = cfg.planned if cfg.planned is not None else \
            plan([k.name for k in cfg.kernels], cfg.modes)
        by_name = {k.name: k for k in cfg.kernels}
        jobs = [VmJob(p.name, by_name[p.kernel], p.mode, images[p.kernel]) for p in planned]
        progress = Progress(len(jobs))
        fallback = accel.Fallback(cfg.accel, cfg.accel_reason)
        pool = ThreadPoolExecutor(max_workers=max(1, cfg.jobs))
        try:
            futures = [pool.submit(run_vm, cfg, job, tests, progress, vms, fallback)
                       for job in jobs]
            runs = [f.result() for f in futures]
        except BaseException:
            vms.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
    merged = results.merge_runs(runs)
    results.write_json_atomic(cfg.out / "vm-merged.json", merged)
    return merged
