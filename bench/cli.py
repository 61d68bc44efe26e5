"""`ckc bench`: run the benchmark binaries and merge their figures into a results file.

    ckc bench [--short | --full | --smoke] [--build DIR] [--out DIR] [--results FILE]
              [--binaries memcg,pieces] [--filter REGEX] [--rounds N] [--replicates N]

--short takes seconds (CI), --full minutes (progress on stderr). Each binary writes Google
Benchmark JSON (kept next to the results file); its entries go into the results file's
"benchmarks" array (reports/SCHEMA.md), each with "behaviour" = its bench.* catalogue ID (the
first word of its label), "accel" and "binary". An existing results file (e.g. from `ckc run`)
gets the entries appended; otherwise the run header comes from a suite binary run with no tests
(it writes the kernel facts), or from a minimal header when no suite binary is built.

--replicates N runs each binary N times, each a fresh process (and so fresh groups, pages and
namespaces): every replicate's JSON is kept (<results>.<binary>.r<k>.json), its entries carry
"replicate": k, and each overhead and slope figure gets a "replicates" entry combining the runs
(bench/replicates.py). stderr ends with one line per overhead, slope and combined figure; an
unresolved one gives only its bound ("not resolved, < 0.8 %").
Bad input: one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import replicates  # noqa: E402
from reports import schema  # noqa: E402

BINARIES = ("memcg", "pieces")


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"ckc bench: {message}", file=sys.stderr)
        sys.exit(2)


def parser() -> Parser:
    p = Parser(prog="ckc bench", description="Run ckc's benchmarks on this host.")
    mode = p.add_mutually_exclusive_group()
    for m in ("smoke", "short", "full"):
        mode.add_argument(f"--{m}", dest="mode", action="store_const", const=m)
    p.add_argument("--build", type=Path, default=REPO / "build", help="build directory")
    p.add_argument("--out", type=Path, default=REPO / "out", help="output directory")
    p.add_argument("--results", type=Path, help="results file (default OUT/bench-<time>.json)")
    p.add_argument("--binaries", default=",".join(BINARIES), help="memcg,pieces")
    p.add_argument("--filter", help="regex over benchmark case names")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default: the mode's)")
    p.add_argument("--replicates", type=int, default=1,
                   help="independent runs of each binary, combined per figure (default 1)")
    return p


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cgroup_mode(mountinfo: str) -> str:
    """v1 / v2 / hybrid / none, as kernel.h's DetectCgroupLayout decides it."""
    v1 = v2 = False
    for line in mountinfo.splitlines():
        fields = line.split(" - ")
        if len(fields) != 2:
            continue
        fstype, _source, options = (fields[1].split() + ["", "", ""])[:3]
        if fstype == "cgroup2":
            v2 = True
        elif fstype == "cgroup" and any(o for o in options.split(",")
                                        if o not in ("rw", "ro") and not o.startswith(
                                            ("name=", "release_agent", "clone_children",
                                             "noprefix", "xattr", "cpuset_v2_mode"))):
            v1 = True
    return "hybrid" if v1 and v2 else "v1" if v1 else "v2" if v2 else "none"


def meminfo_kib(key: str) -> int:
    for line in read("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def minimal_header(argv: list[str]) -> dict[str, Any]:
    """The run header when no suite binary is built (kernel facts read here)."""
    u = platform.uname()
    mem = meminfo_kib("MemTotal")
    swaps = [s for s in read("/proc/swaps").splitlines()[1:] if s.strip()]
    return {"schema": schema.SCHEMA_VERSION,
            "run": {"id": os.urandom(4).hex(), "started": now(), "finished": None,
                    "tool_version": "0.1.0", "suites": [], "argv": argv},
            "kernel": {"release": u.release, "version": u.version, "arch": u.machine,
                       "config_source": "", "cmdline": read("/proc/cmdline").strip(),
                       "cgroup_mode": cgroup_mode(read("/proc/self/mountinfo")),
                       "lsms": [x for x in read("/sys/kernel/security/lsm").strip().split(",") if x],
                       "swap": {"total_kib": meminfo_kib("SwapTotal"),
                                "free_kib": meminfo_kib("SwapFree"), "devices": len(swaps)}},
            "machine": {"accel": os.environ.get("CKC_MACHINE_ACCEL") or "host",
                        "cpus": os.cpu_count() or 0, "memory_kib": mem},
            "results": [], "benchmarks": []}


def header(build: Path, argv: list[str]) -> dict[str, Any]:
    """A results document with kernel facts, from a suite binary that runs no test."""
    suites = sorted((build / "suites").glob("ckc-suite-*"))
    for binary in suites:
        with tempfile.TemporaryDirectory(prefix="ckc-bench.") as tmp:
            out = Path(tmp) / "header.json"
            proc = subprocess.run([str(binary), "--gtest_filter=-*", f"--ckc-results={out}"],
                                  capture_output=True, text=True, timeout=60, check=False)
            if proc.returncode == 0 and out.exists():
                doc = json.loads(out.read_text())
                doc["run"]["suites"] = []
                doc["run"]["argv"] = argv
                doc["results"] = []
                doc.setdefault("benchmarks", [])
                return doc
    return minimal_header(argv)


def load_target(path: Path, build: Path, argv: list[str]) -> dict[str, Any]:
    if not path.exists():
        return header(build, argv)
    try:
        schema.load_results(path)
    except schema.SchemaError as err:
        raise UsageError(str(err)) from None
    doc = json.loads(path.read_text())
    if "runs" in doc:
        raise UsageError(f"{path}: holds several runs; give a single-run results file")
    doc.setdefault("benchmarks", [])
    return doc


class UsageError(Exception):
    """Bad input; str() is one line."""


def run_binary(binary: Path, mode: str, json_path: Path, args: argparse.Namespace) -> int:
    cmd = [str(binary), f"--{mode}", f"--json={json_path}"]
    if args.filter:
        cmd.append(f"--filter={args.filter}")
    if args.rounds:
        cmd.append(f"--rounds={args.rounds}")
    print(f"ckc bench: {' '.join(cmd)}", file=sys.stderr, flush=True)
    # stderr passes through: the binary's progress lines and its summary.
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False).returncode


def entries_of(json_path: Path, binary: str, accel: str) -> tuple[list[dict[str, Any]], str]:
    """The binary's entries for the results file, and why it skipped itself ("" if it ran)."""
    doc = json.loads(json_path.read_text())
    return schema.bench_entries(doc, binary, accel), str(doc.get("context", {}).get(
        "ckc_skipped", ""))


def check_args(args: argparse.Namespace) -> list[Path]:
    wanted = [b.strip() for b in args.binaries.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in BINARIES]
    if unknown or not wanted:
        raise UsageError(f"unknown --binaries {','.join(unknown) or '(none)'}; choose from "
                         f"{','.join(BINARIES)}")
    if args.rounds is not None and args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    if args.replicates < 1:
        raise UsageError("--replicates must be at least 1")
    paths = [args.build / "bench" / f"ckc-bench-{b}" for b in wanted]
    missing = [str(p) for p in paths if not os.access(p, os.X_OK)]
    if missing:
        raise UsageError(f"not built: {', '.join(missing)} (cmake --build {args.build} "
                         "--target ckc-bench)")
    return paths


@dataclass
class Outcome:
    entries: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def raw_path(results: Path, binary: Path, replicate: int, count: int) -> Path:
    """Where a binary's Google Benchmark JSON is kept: one file per replicate."""
    suffix = f".r{replicate}" if count > 1 else ""
    return results.with_name(f"{results.stem}.{binary.name}{suffix}.json")


def run_all(binaries: list[Path], mode: str, args: argparse.Namespace, results: Path,
            accel: str) -> Outcome:
    """Every binary, --replicates times (replicate by replicate), and the combined figures."""
    out = Outcome()
    per_binary: dict[str, list[list[dict[str, Any]]]] = {}
    for k in range(1, args.replicates + 1):
        if args.replicates > 1:
            print(f"ckc bench: replicate {k}/{args.replicates}", file=sys.stderr, flush=True)
        for binary in binaries:
            json_path = raw_path(results, binary, k, args.replicates)
            rc = run_binary(binary, mode, json_path, args)
            if rc != 0 or not json_path.exists():
                out.failed.append(f"{binary.name} (exit {rc})")
                continue
            entries, why = entries_of(json_path, binary.name, accel)
            if args.replicates > 1:
                entries = [{**e, "replicate": k} for e in entries]
            out.entries.extend(entries)
            per_binary.setdefault(binary.name, []).append(entries)
            if why and f"{binary.name} ({why})" not in out.skipped:
                out.skipped.append(f"{binary.name} ({why})")
    for runs in per_binary.values():
        out.entries.extend(replicates.combined_entries(runs))
    return out


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    mode = args.mode or "short"
    try:
        binaries = check_args(args)
        args.out.mkdir(parents=True, exist_ok=True)
        results = args.results or args.out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
        doc = load_target(results, args.build, ["ckc", "bench", *argv])
    except (UsageError, OSError) as err:
        print(f"ckc bench: {err}", file=sys.stderr)
        return 2
    accel = str(doc.get("machine", {}).get("accel", "host"))
    outcome = run_all(binaries, mode, args, results, accel)
    doc["benchmarks"].extend(outcome.entries)
    doc["run"]["finished"] = now()
    schema.write_json_atomic(results, doc)
    for line in replicates.summary(outcome.entries):
        print(f"ckc bench: {line}", file=sys.stderr)
    flagged = sum(1 for e in doc["benchmarks"] if "cv-exceeded" in str(e.get("label", "")))
    notes = [f"{flagged} with cv-exceeded"] if flagged else []
    notes += [f"skipped: {', '.join(outcome.skipped)}"] if outcome.skipped else []
    print(f"ckc bench: {len(doc['benchmarks'])} entries in {results}"
          f"{''.join('; ' + n for n in notes)}", file=sys.stderr)
    if outcome.failed:
        print(f"ckc bench: failed: {', '.join(outcome.failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
