"""Results of one VM: decode what the guest sent over its second serial port, add what only the
host knows (accelerator, command line, vm object), and turn every test that did not report
into a `crash` or `timeout` result carrying the console tail — never a silent gap."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports import catalogue, schema

SCHEMA = schema.SCHEMA_VERSION
TAIL_LINES = 40
TAIL_CHARS = 4000
RUNNING = -1  # exit status of a file sent while its binary was still running
GUARD_SUITE = "guard"  # the suite the host guard's results name (suites/guard)


@dataclass
class Shipped:
    """One file the guest sent: name, the binary's exit status, whether its time ran out."""

    name: str
    status: int
    timed_out: bool
    doc: dict[str, Any] | None = None


@dataclass
class SerialStream:
    """Everything decoded from the results serial log."""

    files: dict[str, Shipped] = field(default_factory=dict)
    done: bool = False


@dataclass(frozen=True)
class VmOutcome:
    """How the VM ended: `ok` (powered off after CKC-DONE), `crash` (exited early: panic, bad
    init), `timeout` (killed by the host's time limit)."""

    state: str
    console_tail: str = ""


def parse_serial(text: str) -> SerialStream:
    stream = SerialStream()
    current: Shipped | None = None
    chunks: list[str] = []
    for raw in text.splitlines():
        line = raw.strip("\r\n\0 ")
        words = line.split()
        if line == "CKC-DONE":
            stream.done = True
        elif len(words) == 4 and words[0] == "CKC-NOFILE":
            stream.files[words[1]] = Shipped(words[1], _int(words[2]), words[3] == "1")
            current = None
        elif len(words) == 4 and words[0] == "CKC-FILE":
            current, chunks = Shipped(words[1], _int(words[2]), words[3] == "1"), []
        elif words[:1] == ["CKC-END"] and current is not None:
            # A later complete frame replaces an earlier one (the guest resends the file while
            # the binary runs); a frame cut short by a dying VM replaces nothing.
            current.doc = _decode("".join(chunks))
            if current.doc is not None or current.name not in stream.files:
                stream.files[current.name] = current
            current = None
        elif current is not None:
            chunks.append(line)
    return stream


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


def _decode(payload: str) -> dict[str, Any] | None:
    try:
        data = json.loads(gzip.decompress(base64.b64decode(payload)))
    except (binascii.Error, OSError, EOFError, ValueError):
        return None  # cut short: the VM died while sending
    return data if isinstance(data, dict) else None


def console_tail(log: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = log.read_bytes()[-64 * 1024:].decode(errors="replace")
    except OSError:
        return ""
    tail = "\n".join(l.rstrip("\r") for l in text.splitlines()[-lines:])
    return tail[-TAIL_CHARS:]


def parse_test_list(text: str) -> list[str]:
    """`--gtest_list_tests` output → ["Suite.Test", ...] (parameter comments dropped)."""
    tests: list[str] = []
    suite = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw.startswith(" "):
            suite = line.strip()
        elif suite:
            tests.append(suite + line.strip())
    return tests


def missing_entry(test: str, suite: str, outcome: str, details: str) -> dict[str, Any]:
    return {"id": "", "test": test, "suite": suite, "outcome": outcome, "reason": "",
            "details": details, "source": "", "duration_ms": 0,
            **catalogue.row_fields(suite, test)}


def suite_results(suite: str, listed: list[str], shipped: Shipped | None,
                  vm: VmOutcome, label: str = "") -> list[dict[str, Any]]:
    """Results of one suite in one VM, with every listed test present. `suite` is the name its
    file was shipped under; `label` the suite the results name, where it differs (the guard's
    two steps ship as guard-snapshot and guard-unchanged, their results say guard)."""
    got: list[dict[str, Any]] = []
    if shipped is not None and shipped.doc is not None:
        got = [dict(r) for r in shipped.doc.get("results", [])]
    running = shipped is None or shipped.status == RUNNING  # the VM ended mid-binary
    timed_out = vm.state == "timeout" if running else shipped.timed_out
    if timed_out:
        for entry in got:
            # The binary records a test as `crash` when it starts; if the time limit killed it
            # there, it was the one running out of time.
            if entry.get("outcome") == "crash":
                entry["outcome"] = "timeout"
                entry["details"] = _join(entry.get("details", ""), "suite time limit reached")
    lost = "timeout" if timed_out else "crash"
    why = _why(suite, shipped, vm)
    reported = {r.get("test") for r in got}
    for test in listed:
        if test not in reported:
            got.append(missing_entry(test, label or suite, lost, why))
    if not listed and not got:
        got.append(missing_entry(suite, label or suite, "crash", why))
    return got


def _why(suite: str, shipped: Shipped | None, vm: VmOutcome) -> str:
    if shipped is not None and shipped.status == RUNNING:
        head = f"the VM ended ({vm.state}) while {suite} was running"
    elif shipped is None:
        head = {"timeout": f"VM time limit reached before {suite} reported",
                "crash": f"VM ended before {suite} reported"}.get(vm.state,
                                                                 f"{suite} sent no results")
    elif shipped.timed_out:
        head = f"{suite}: suite time limit reached before this test ran"
    else:
        head = f"{suite} exited with status {shipped.status} before this test ran"
    return _join(head, "console tail:\n" + vm.console_tail if vm.console_tail else "")


def _join(a: str, b: str) -> str:
    return f"{a}\n{b}" if a and b else a or b


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.rename(path)


@dataclass(frozen=True)
class VmIdentity:
    """What the host knows about a VM, recorded whatever the guest sent."""

    kernel: str          # matrix name or path
    release: str
    mode: str
    accel: str
    cmdline: str
    append: str
    suites: dict[str, list[str]]  # suite name → tests it lists
    accel_reason: str = ""        # why not KVM: the probe's answer or the runner's fallback
    # The host guard's steps in the order they ran (shipped name → its test): the first before
    # the suites, the rest after; their results are self-tests (id ""), facts of the column.
    guard: dict[str, str] = field(default_factory=dict)

    def binaries(self) -> list[tuple[str, list[str], str]]:
        """(shipped name, tests it lists, suite its results name) in the order they ran."""
        steps = [(name, [test], GUARD_SUITE) for name, test in self.guard.items()]
        suites = [(name, listed, name) for name, listed in self.suites.items()]
        return steps[:1] + suites + steps[1:]


def skeleton(ident: VmIdentity) -> dict[str, Any]:
    """A results document for a VM none of whose suites wrote one."""
    return {
        "schema": SCHEMA,
        "run": {"id": "", "started": None, "finished": None, "tool_version": "",
                "suites": [], "argv": []},
        "kernel": {"release": ident.release, "version": "", "arch": "x86_64",
                   "config_source": "", "cmdline": ident.cmdline, "cgroup_mode": ident.mode,
                   "lsms": [], "swap": {"total_kib": 0, "free_kib": 0, "devices": 0}},
        "machine": {"accel": ident.accel, "cpus": 0, "memory_kib": 0},
        "results": [],
        "benchmarks": [],
    }


def run_document(ident: VmIdentity, stream: SerialStream, vm: VmOutcome,
                 timings: dict[str, float]) -> dict[str, Any]:
    """One results JSON for the VM: the suites' documents merged, gaps filled, vm object set."""
    suite_docs = [stream.files[s].doc for s in ident.suites
                  if s in stream.files and stream.files[s].doc is not None]
    doc = json.loads(json.dumps(suite_docs[0])) if suite_docs else skeleton(ident)
    doc["schema"] = SCHEMA
    results: list[dict[str, Any]] = []
    for name, listed, label in ident.binaries():
        results += suite_results(name, listed, stream.files.get(name), vm, label)
    doc["results"] = results
    doc.setdefault("run", {})["suites"] = list(ident.suites)
    doc["benchmarks"] = _benchmarks(stream, ident.accel)
    machine = doc.setdefault("machine", {})
    machine["accel"] = ident.accel
    machine.pop("accel_reason", None)
    if ident.accel_reason:
        machine["accel_reason"] = ident.accel_reason
    kernel = doc.setdefault("kernel", {})
    kernel["cmdline"] = kernel.get("cmdline") or ident.cmdline
    kernel.setdefault("release", ident.release)
    lost = any(r["outcome"] in ("crash", "timeout") for r in results)
    doc["vm"] = {"kernel": ident.kernel, "mode": ident.mode, "append": ident.append,
                 "state": vm.state, "timings": {k: round(v, 2) for k, v in timings.items()},
                 "accel": ident.accel}
    if ident.accel_reason:
        doc["vm"]["accel_reason"] = ident.accel_reason
    doc["vm"]["binaries"] = {name: {"status": f.status, "timed_out": f.timed_out,
                                    "results": f.doc is not None}
                             for name, f in stream.files.items()}
    for name, f in stream.files.items():
        # A benchmark binary that could not run here says why (e.g. config:CONFIG_MEMCG_V1).
        bench_doc = f.doc if name.startswith("bench-") and isinstance(f.doc, dict) else {}
        if skipped := bench_doc.get("context", {}).get("ckc_skipped"):
            doc["vm"]["binaries"][name]["skipped"] = skipped
    if lost or vm.state != "ok":
        doc["vm"]["console_tail"] = vm.console_tail
    return doc


def _benchmarks(stream: SerialStream, accel: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for name, shipped in stream.files.items():
        if name.startswith("bench-") and shipped.doc is not None:
            entries += schema.bench_entries(shipped.doc, f"ckc-{name}", accel)
    return entries


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The merged file: {"schema": 1, "runs": [...]}. Catalogue IDs missing from synthesized
    crash/timeout entries are filled in from runs where the same test reported one."""
    ids = {r["test"]: r["id"] for run in runs for r in run.get("results", []) if r.get("id")}
    for run in runs:
        for entry in run.get("results", []):
            if not entry.get("id") and entry.get("test") in ids:
                entry["id"] = ids[entry["test"]]
    return {"schema": SCHEMA, "runs": runs}
