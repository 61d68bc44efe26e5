"""`ckc`: the one entry point.

    ckc [run] [options]   the main job: host suites, the VM kernel matrix, report.html
    ckc test              build and run every ctest label
    ckc vm ...            VM runner (vm/cli.py)
    ckc report ...        merge, html, diff (reports/cli.py)
    ckc check-config ...  container-relevant kernel options (reports/cli.py)
    ckc bench ...         benchmarks (bench/cli.py)
    ckc catalogue ...     the behaviour catalogue, as a table or JSON (reports/catalogue_cli.py)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from harness import deps, hostrun, summary
from harness.build import BuildError, build
from reports import schema

REPO = Path(__file__).resolve().parent.parent
SUBCOMMANDS = ("run", "test", "vm", "report", "check-config", "bench", "catalogue")


class UsageError(Exception):
    """Bad input or an unusable environment; str() is one line for the user."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"ckc: {message} (see `ckc --help`)", file=sys.stderr)
        sys.exit(2)


def log(message: str) -> None:
    print(f"ckc: {message}", file=sys.stderr, flush=True)


def run_parser() -> Parser:
    p = Parser(prog="ckc", description="Run ckc's conformance suites on this host.")
    p.add_argument("--out", type=Path, default=None, help="directory for results (default ./out)")
    p.add_argument("--results", type=Path, help="results file to write (default OUT/host-<id>.json)")
    p.add_argument("--build", type=Path, default=REPO / "build", help="build directory")
    p.add_argument("--suites", help="comma-separated suites (default: every ckc-suite-* built)")
    p.add_argument("--test-timeout", type=float, default=300.0, help="seconds one test may take")
    p.add_argument("--no-install", action="store_true", help="never run apt")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    p.add_argument("--no-vm", action="store_true", help="host suites only (no kernel matrix)")
    p.add_argument("--kernels", help="VM kernels (default: the default matrix; see `ckc vm --list`)")
    p.add_argument("--modes", default="v1,v2", help="VM cgroup modes (default v1,v2)")
    from vm import accel as vm_accel
    p.add_argument("--accel", choices=vm_accel.ACCELS,
                   help=f"VM accelerator (default: ${vm_accel.ENV}, else auto; see vm/README.md)")
    return p


def writable_dir(path: Path) -> bool:
    """True if a file can really be created in `path` (access(2) says yes to root on /proc)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".ckc-probe.", dir=path)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def results_path(args: argparse.Namespace) -> Path:
    """Where results go; a bad explicit path is an error before anything runs."""
    if args.results:
        target, parent = args.results, args.results.parent
        if not parent.is_dir():
            raise UsageError(f"results path {target}: directory {parent} does not exist")
        if target.is_dir():
            raise UsageError(f"results path {target}: is a directory")
        if not writable_dir(parent) or (target.exists() and not os.access(target, os.W_OK)):
            raise UsageError(f"results path {target}: not writable")
        return target
    out = args.out or REPO / "out"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if args.out is not None:
            raise UsageError(f"output directory {out}: {e.strerror}")
    if not writable_dir(out):
        if args.out is not None:
            raise UsageError(f"output directory {out}: not writable")
        out = Path(tempfile.gettempdir()) / f"ckc-out.{os.geteuid()}"
        out.mkdir(parents=True, exist_ok=True)
        log(f"{REPO / 'out'} is not writable by this user; writing results to {out}")
    return out / f"host-{time.strftime('%Y%m%dT%H%M%S')}.json"


def prepare(args: argparse.Namespace, parts: list[str]) -> None:
    """Installs what is missing and builds, unless told not to."""
    if not args.no_install:
        deps.ensure(parts, log)
    if args.no_build:
        return
    if not os.access(args.build if args.build.exists() else args.build.parent, os.W_OK):
        log(f"{args.build} is not writable by this user; using the binaries already built there")
        return
    build(REPO, args.build, log)


def suite_binaries(build_dir: Path, wanted: str | None) -> list[Path]:
    found = sorted((build_dir / "suites").glob("ckc-suite-*"))
    if not wanted:
        if not found:
            raise UsageError(f"no suite binaries in {build_dir / 'suites'}; build first")
        return found
    by_name = {b.name.removeprefix("ckc-suite-"): b for b in found}
    chosen = []
    for name in wanted.split(","):
        if name not in by_name:
            raise UsageError(f"unknown suite `{name}` (known: {', '.join(sorted(by_name)) or 'none built'})")
        chosen.append(by_name[name])
    return chosen


def guard_binary(build_dir: Path) -> Path:
    """The host guard, which every build makes beside the suites: without it there is no
    before/after picture, so no run."""
    binary = build_dir / "suites" / "ckc-guard"
    if not binary.is_file():
        raise UsageError(f"no ckc-guard in {build_dir / 'suites'}; build first")
    return binary


def guard(binary: Path, work: Path, step: str) -> list[dict]:
    """Runs the host guard's Snapshot (before) or Unchanged (after) step."""
    os.environ["CKC_GUARD_FILE"] = str(work / "guard.json")
    outcome = hostrun.run_suite_filtered(binary, work, f"HostGuard.{step}", 120.0)
    return outcome.results


def run_host(args: argparse.Namespace, out_file: Path) -> int:
    binaries = suite_binaries(args.build, args.suites)
    guard_bin = guard_binary(args.build)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with hostrun.run_dir() as work:
        results = guard(guard_bin, work, "Snapshot")
        header = None
        for binary in binaries:
            log(f"running {binary.name}")
            outcome = hostrun.run_suite(binary, work, args.test_timeout, lambda m: None)
            header = header or outcome.header
            results += outcome.results
            log(f"{binary.name}: {summary.line(outcome.results)}")
        results += guard(guard_bin, work, "Unchanged")
    if header is None:
        raise UsageError("no suite wrote a results header")
    doc = dict(header)
    doc["run"] = dict(header["run"], started=started,
                      finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      suites=[b.name.removeprefix("ckc-suite-") for b in binaries], argv=sys.argv)
    doc["results"] = results
    schema.write_json_atomic(out_file, doc)
    schema.load_results(out_file)  # what we wrote must read back as schema 1
    print(f"ckc: {len(results)} results on {doc['kernel']['release']} "
          f"({doc['kernel']['cgroup_mode']}), as uid {os.geteuid()}")
    print(summary.summarize(results))
    print(f"results: {out_file}")
    return 1 if summary.has_failures(results) else 0


def run_vms(args: argparse.Namespace, out_dir: Path) -> int:
    """The same suites on the kernel matrix, through the VM runner."""
    from vm import cli as vm_cli

    argv = ["--out", str(out_dir), "--build", str(args.build), "--modes", args.modes]
    if args.kernels:
        argv += ["--kernels", args.kernels]
    if args.suites:
        argv += ["--suites", args.suites]
    if args.accel:
        argv += ["--accel", args.accel]
    log("running the suites on the kernel matrix: ckc vm " + " ".join(argv))
    return vm_cli.main(argv)


def render_report(inputs: list[Path], out_dir: Path) -> int:
    from reports import cli as reports_cli

    return reports_cli.main(["html", *map(str, inputs), "-o", str(out_dir / "report.html")])


def check_accel(flag: str | None) -> None:
    """A bad $CKC_ACCEL, or kvm asked for where it cannot boot a guest, is bad input before the
    host suites run, not after."""
    from vm import accel as vm_accel
    from vm import qemu

    try:
        asked = vm_accel.requested(flag, os.environ)
        if asked == "kvm" and (qemu_bin := qemu.find_qemu()):
            vm_accel.choose(asked, qemu_bin)
    except vm_accel.AccelError as err:
        raise UsageError(str(err)) from None


def main_run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    out_file = results_path(args)
    prepare(args, ["build"] if args.no_vm else ["build", "vm"])
    if not args.no_vm:
        check_accel(args.accel)
    status = run_host(args, out_file)
    inputs = [out_file]
    if not args.no_vm:
        vm_dir = out_file.parent / out_file.name.replace("host-", "vm-").removesuffix(".json")
        status = max(status, run_vms(args, vm_dir))
        inputs.append(vm_dir)
    # The report's path is the last line printed.
    return max(status, render_report(inputs, out_file.parent))


def main_test(argv: list[str]) -> int:
    """Installs everything the tests need, builds, and runs ctest with every label."""
    p = Parser(prog="ckc test", description="Build ckc and run all of its ctest tests.")
    p.add_argument("--build", type=Path, default=REPO / "build")
    p.add_argument("--no-install", action="store_true")
    p.add_argument("ctest_args", nargs="*", help="extra ctest arguments (after --)")
    args = p.parse_args(argv)
    args.no_build = False
    prepare(args, ["build", "vm", "browser"])
    cmd = ["ctest", "--test-dir", str(args.build), "--output-on-failure", *args.ctest_args]
    log(" ".join(cmd))
    return os.spawnvp(os.P_WAIT, cmd[0], cmd)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        run_parser().print_help()
        return 0
    command = argv[0] if argv and not argv[0].startswith("-") else "run"
    rest = argv[1:] if argv and argv[0] == command else argv
    if command not in SUBCOMMANDS:
        print(f"ckc: unknown command `{command}` (commands: {', '.join(SUBCOMMANDS)})", file=sys.stderr)
        return 2
    try:
        return dispatch(command, rest)
    except (UsageError, deps.DepsError, BuildError) as e:
        print(f"ckc: {e}", file=sys.stderr)
        return 2


def dispatch(command: str, rest: list[str]) -> int:
    if command == "run":
        return main_run(rest)
    if command == "test":
        return main_test(rest)
    if command == "vm":
        from vm import cli as vm_cli
        return vm_cli.main(rest)
    if command == "report":
        from reports import cli as reports_cli
        return reports_cli.main(rest)
    if command == "check-config":
        from reports import cli as reports_cli
        return reports_cli.check_config_main(rest)
    if command == "catalogue":
        from reports import catalogue_cli
        return catalogue_cli.main(rest)
    from bench import cli as bench_cli  # type: ignore[import-not-found]
    return bench_cli.main(rest)
