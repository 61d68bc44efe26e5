"""`ckc vm`: run the suites on a matrix of kernels × cgroup modes in QEMU.

    python3 -m vm.cli                          # default matrix (4 kernels × v1, v2)
    python3 -m vm.cli --kernels 5.10,6.12,/path/vmlinuz --modes v1,v2,hybrid --jobs 2
    python3 -m vm.cli --list                   # known kernels and what is cached
    python3 -m vm.cli --shard 2/3 --dry-run    # the jobs of the 2nd of 3 parts, one per line

Bad input is one line on stderr and exit status 2, before anything is fetched or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from reports import schema
from vm import accel, aptsrc, initramfs, kernels, qemu, runner

REPO = Path(__file__).resolve().parent.parent
# The host guard: in every VM its snapshot runs before the suites and its comparison after them
# (initramfs.GUARD_STEPS).
GUARD = "ckc-guard"


class UsageError(Exception):
    """Input that cannot be run; the message is the one line shown."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ckc vm", description=__doc__.split("\n")[0])
    p.add_argument("--kernels", help="comma list: matrix names (bullseye or 5.10, ...) or "
                   "paths to a vmlinuz[:modules dir]; default: the default matrix")
    p.add_argument("--modes", default="v1,v2", help="comma list of v1, v2, hybrid")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="VMs at once")
    p.add_argument("--timeout", type=int, default=300, help="seconds per VM")
    p.add_argument("--boot-timeout", type=int, default=90,
                   help="seconds until the guest's init must run (else booted again)")
    p.add_argument("--boot-attempts", type=int, default=3,
                   help="boots of a VM that dies or hangs before its init runs")
    p.add_argument("--append", default="", help="extra kernel command-line arguments")
    p.add_argument("--out", type=Path, default=Path("out/vm"), help="results directory")
    p.add_argument("--build", type=Path, default=None,
                   help="build directory holding suites/ckc-suite-* (default: build/)")
    p.add_argument("--suites", help="comma list of suite areas (default: every one built)")
    p.add_argument("--bench", nargs="?", const="short", choices=("smoke", "short", "full"),
                   help="also run bench/ckc-bench-* binaries, in this mode (default short)")
    p.add_argument("--bench-args", default="", metavar="ARGS",
                   help="more arguments for every benchmark binary, e.g. '--rounds=10 "
                   "--filter=loop:populate'")
    p.add_argument("--memory", type=int, default=1024, help="MiB per VM")
    p.add_argument("--cpus", type=int, default=2, help="vCPUs per VM")
    p.add_argument("--refresh", action="store_true", help="re-resolve kernels through apt")
    p.add_argument("--accel", metavar="|".join(accel.ACCELS),
                   help=f"accelerator (default: ${accel.ENV}, else auto: KVM if a probe guest "
                   "runs under it, else TCG)")
    p.add_argument("--shard", metavar="K/N", default="1/1",
                   help="run the K-th of N disjoint parts of the (kernel, mode) jobs")
    p.add_argument("--dry-run", action="store_true",
                   help="print the jobs that would run, one per line, and exit")
    p.add_argument("--list", action="store_true", help="show known kernels and the cache")
    return p.parse_args(argv)


def split(text: str | None) -> list[str]:
    return [w.strip() for w in (text or "").split(",") if w.strip()]


def check_modes(modes: list[str]) -> list[str]:
    for mode in modes:
        if mode not in qemu.CGROUP_MODES:
            raise UsageError(f"unknown mode '{mode}'; known: {', '.join(qemu.CGROUP_MODES)}")
    if not modes:
        raise UsageError("no cgroup mode given")
    return modes


def parse_shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise UsageError(f"--shard takes K/N with 1 ≤ K ≤ N (e.g. 2/3), got '{text}'")


def kernel_name(spec: str, entries: list[kernels.MatrixEntry]) -> str:
    """The name the kernel will have once resolved (Kernel.name), without apt."""
    entry = None if kernels.looks_like_path(spec) else kernels.find_entry(entries, spec)
    return entry.name if entry else spec


def plan_jobs(args: argparse.Namespace, entries: list[kernels.MatrixEntry],
              default: list[str]) -> tuple[list[str], list[runner.Planned]]:
    """(kernel specs, this shard's jobs); names only, nothing fetched."""
    specs = split(args.kernels) or default
    modes = check_modes(split(args.modes))
    try:
        kernels.check_specs(specs, entries)
    except kernels.KernelError as err:
        raise UsageError(str(err)) from err
    k, n = parse_shard(args.shard)
    return specs, runner.shard(runner.plan([kernel_name(s, entries) for s in specs], modes), k, n)


def requested_accel(args: argparse.Namespace) -> str:
    try:
        return accel.requested(args.accel, os.environ)
    except accel.AccelError as err:
        raise UsageError(str(err)) from err


def choose_accel(asked: str, qemu_path: str) -> accel.Choice:
    """The probe (once per run); says so when KVM is there but not used."""
    try:
        choice = accel.choose(asked, qemu_path)
    except accel.AccelError as err:
        raise UsageError(str(err)) from err
    if choice.reason:
        print(f"ckc vm: {choice.reason}; using TCG", file=sys.stderr, flush=True)
    return choice


def discover(build: Path, pattern: str, prefix: str) -> dict[str, Path]:
    found = sorted(p for p in build.glob(pattern) if p.is_file() and os.access(p, os.X_OK))
    return {p.name.removeprefix(prefix): p for p in found}


def find_payload(args: argparse.Namespace) -> initramfs.Payload:
    build = args.build or REPO / "build"
    suites = discover(build, "suites/ckc-suite-*", "ckc-suite-")
    wanted = split(args.suites)
    for name in wanted:
        if name not in suites:
            known = ", ".join(suites) or "none"
            raise UsageError(f"suite '{name}' not built in {build}/suites (built: {known})")
    if wanted:
        suites = {n: suites[n] for n in wanted}
    if not suites:
        raise UsageError(f"no suite binaries in {build}/suites; build first "
                         f"(cmake -S . -B {build} -G Ninja && cmake --build {build})")
    benches = {}
    if args.bench_args and not args.bench:
        raise UsageError("--bench-args needs --bench")
    if any(not w.startswith("--") for w in args.bench_args.split()):
        raise UsageError(f"--bench-args takes flags only (--rounds=N --filter=REGEX ...), got "
                         f"'{args.bench_args}'")
    if args.bench:
        benches = {f"bench-{n}": p for n, p in discover(build, "bench/ckc-bench-*",
                                                          "ckc-bench-").items()
                   if not n.endswith("-test")}  # the bench harness's own unit tests
    helpers = [p for name, p in discover(build, "suites/ckc-*", "").items()
               if not name.startswith("ckc-suite-") and name != GUARD]
    guard = build / "suites" / GUARD
    return initramfs.Payload(suites=suites, benches=benches, helpers=helpers,
                             bench_args=[f"--{args.bench}", *args.bench_args.split()]
                             if args.bench else [],
                             guard=guard if os.access(guard, os.X_OK) else None)


def ensure_tools() -> str:
    """Path of qemu-system-x86_64; installed through apt when missing and we are root."""
    missing = [] if qemu.find_qemu() else ["qemu-system-x86"]
    if not any(Path(b).exists() for b in initramfs.BUSYBOX_CANDIDATES):
        missing.append("busybox-static")
    if shutil.which("depmod") is None and not Path("/usr/sbin/depmod").exists():
        missing.append("kmod")
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if missing:
        if not can_install:
            raise UsageError(f"{qemu.QEMU_BINARY} or helpers missing ({', '.join(missing)}) and "
                             "no way to install them (need root and apt-get)")
        if not apt_install(missing):
            raise UsageError(f"could not install {' '.join(missing)} with apt-get")
    ensure_guest_tools(can_install)
    found = qemu.find_qemu()
    if found is None:
        raise UsageError(f"{qemu.QEMU_BINARY} not found")
    return found


def ensure_guest_tools(can_install: bool) -> None:
    """The programs the guests get from the host (initramfs.GUEST_TOOLS), installed when we
    can. They are optional: a guest without one skips the rows that need it, so a missing one
    is a line on stderr, not an error."""
    _, lacking = initramfs.find_tools()
    packages = [initramfs.GUEST_TOOLS[t] for t in lacking]
    if lacking and can_install:
        apt_install(packages)
        _, lacking = initramfs.find_tools()
    if lacking:
        print(f"ckc vm: not on this host, so not in the guests: {', '.join(lacking)} "
              f"(apt-get install {' '.join(packages)}); rows that run them skip", file=sys.stderr)


def apt_install(packages: list[str]) -> bool:
    print(f"ckc vm: installing {' '.join(packages)}", file=sys.stderr)
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                           *packages], stdout=sys.stderr)
    return proc.returncode == 0


def show_list() -> int:
    entries, default, _ = kernels.load_matrix()
    print("known kernels (default: " + ", ".join(default) + "):")
    for entry in entries:
        cached = kernels.cached_kernel(entry)
        where = f"cached: {cached.release} ({cached.package})" if cached else "not cached"
        alias = f" [{', '.join(entry.aliases)}]" if entry.aliases else ""
        print(f"  {entry.name}{alias}: {entry.metapackage}/{entry.suite}, {where}")
    print(f"cache: {kernels.cache_root()}")
    print("local kernels: --kernels /path/vmlinuz[:/path/lib/modules/<release>]")
    return 0


def make_config(args: argparse.Namespace) -> runner.RunConfig:
    """Validate everything, choose the accelerator, then fetch the kernels this shard needs;
    raises UsageError on bad input or when KVM was asked for and is not usable."""
    asked = requested_accel(args)
    entries, default, modules = kernels.load_matrix()
    specs, planned = plan_jobs(args, entries, default)
    if args.jobs < 1 or args.timeout < 10:
        raise UsageError("--jobs must be ≥ 1 and --timeout ≥ 10 seconds")
    payload = find_payload(args)
    qemu_path = ensure_tools()
    # Looked for once ensure_tools may have installed them.
    payload = dataclasses.replace(payload, tools=initramfs.find_tools()[0])
    choice = choose_accel(asked, qemu_path)
    say = lambda msg: print(f"ckc vm: {msg}", file=sys.stderr, flush=True)
    needed = {job.kernel for job in planned}
    specs = [s for s in specs if kernel_name(s, entries) in needed]
    try:
        resolved = kernels.resolve(specs, entries, refresh=args.refresh, log=say)
    except (aptsrc.AptError, kernels.KernelError) as err:
        raise UsageError(str(err)) from err
    # Named as planned, so that the jobs find their kernels.
    chosen = [dataclasses.replace(k, name=kernel_name(s, entries))
              for k, s in zip(resolved, specs)]
    return runner.RunConfig(
        kernels=chosen, modes=list(dict.fromkeys(job.mode for job in planned)), payload=payload,
        modules=modules, out=args.out, jobs=args.jobs, timeout=args.timeout,
        boot_timeout=args.boot_timeout, boot_attempts=args.boot_attempts,
        append=args.append.split(), accel=choice.accel, accel_reason=choice.reason,
        memory_mib=args.memory, cpus=args.cpus, qemu=qemu_path, planned=tuple(planned))


def dry_run(args: argparse.Namespace) -> int:
    """The jobs this shard would run, one per line: names only (no apt, QEMU or binaries)."""
    requested_accel(args)
    entries, default, _ = kernels.load_matrix()
    _, planned = plan_jobs(args, entries, default)
    for job in planned:
        print(job.name)
    return 0


def timing_summary(merged: dict, wall: float) -> str:
    timings = [run["vm"].get("timings", {}) for run in merged["runs"]]
    parts = ", ".join(f"{key[:-2]} {sum(t.get(key, 0.0) for t in timings):.0f}s"
                      for key in ("boot_s", "setup_s", "tests_s"))
    return f"wall {wall:.0f}s for {len(timings)} VMs; summed over VMs: {parts}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.list:
        return show_list()
    try:
        if args.dry_run:
            return dry_run(args)
        cfg = make_config(args)
    except UsageError as err:
        print(f"ckc vm: {err}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        merged = runner.run(cfg, log=lambda m: print(f"ckc vm: {m}", file=sys.stderr))
    except KeyboardInterrupt:
        print("ckc vm: interrupted; VMs stopped", file=sys.stderr)
        return 130
    except initramfs.InitramfsError as err:
        print(f"ckc vm: {err}", file=sys.stderr)
        return 2
    print(f"ckc vm: {timing_summary(merged, time.monotonic() - start)}", file=sys.stderr)
    lost = sum(r["outcome"] in schema.NOT_RUN_CLEANLY
               for run in merged["runs"] for r in run["results"])
    print(f"ckc vm: {len(merged['runs'])} runs written to {cfg.out}/vm-merged.json"
          f" ({lost} failed/broken/crashed/timed-out results)", file=sys.stderr)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
