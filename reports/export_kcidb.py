"""KCIDB I/O data (kcidb-io schema v5.3) of a matrix: `ckc report kcidb INPUT... -o kcidb.json`.

    doc = to_kcidb(export_suites(matrix, expectations), origin="ckc")   # JSON-ready dict

Objects and their IDs (every ID is "<origin>:..."):
  checkout  one per kernel release + version string: a Debian kernel package or a local
            vmlinuz, tested as built (no git checkout: comment = the release and version)
  build     one per release + arch: architecture, config_name = where the config was read
  test      one per result per (kernel, mode) column, path "ckc.<row ID>" (the ID prefix is the
            area: ckc.pid.init-death-kills-all), status PASS / FAIL / ERROR (crash, timeout,
            broken; the reason and console tail in log_excerpt and misc) / SKIP, duration in
            seconds, the sentence as comment, the column's mode and machine in environment;
            self-tests are "ckc.self-test.<suite>.<Test>"
  test      one per benchmark figure, path "ckc.bench.<row>.<case>", status DONE with the mean
            as number {value (seconds), unit "s", prefix "metric"} and its noise in misc
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from reports.exports import Case, Suite
from reports.matrix import Column

SCHEMA_MAJOR, SCHEMA_MINOR = 5, 3
STATUS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIP"}
ORIGIN_PATTERN = re.compile(r"^[a-z0-9_]+$")  # kcidb-io's origin_pattern
LOG_EXCERPT_MAX = 16384  # kcidb-io's maxLength of log_excerpt
_NOT_PATH = re.compile(r"[^a-zA-Z0-9_-]+")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _text(value: str) -> str:
    return value.replace("\0", "\ufffd")  # KCIDB strings exclude NUL


def _path(*segments: str) -> str:
    """A test path: dot-separated segments of [a-zA-Z0-9_-] (kcidb-io's path pattern)."""
    out = []
    for seg in segments:
        out += [s for s in (_NOT_PATH.sub("_", p).strip("_") for p in seg.split(".")) if s]
    return ".".join(out)


def _excerpt(text: str) -> str:
    """The end of `text` within KCIDB's limit: a console tail matters most at its end."""
    text = _text(text)
    return text if len(text) <= LOG_EXCERPT_MAX else "...\n" + text[-(LOG_EXCERPT_MAX - 4):]


def _arch(col: Column) -> str:
    return re.sub(r"[^a-z0-9_]", "_", col.arch.lower())


def _version(suite: Suite) -> str:
    return next((r.kernel.version for r in suite.runs if r.kernel.version), "")


def _checkout_id(origin: str, suite: Suite) -> str:
    return f"{origin}:{suite.column.release}-{_digest(suite.column.release, _version(suite))}"


def _build_id(origin: str, suite: Suite) -> str:
    return f"{_checkout_id(origin, suite)}-{_arch(suite.column) or 'unknown'}"


def _checkout(origin: str, suite: Suite) -> dict[str, Any]:
    col, version = suite.column, _version(suite)
    return {"id": _checkout_id(origin, suite), "origin": origin,
            "comment": _text(f"Linux {col.release} {version}".strip()), "valid": True,
            "misc": {"kernel_release": col.release, "kernel_version": _text(version),
                     "vm_kernels": col.vm_kernels}}


def _build(origin: str, suite: Suite) -> dict[str, Any]:
    col = suite.column
    build: dict[str, Any] = {
        "id": _build_id(origin, suite), "checkout_id": _checkout_id(origin, suite),
        "origin": origin, "comment": f"Linux {col.release} ({col.arch or 'unknown arch'})",
        "status": "PASS",  # the kernel was built elsewhere and is tested as it is
        "misc": {"config_sources": col.config_sources, "vm_kernels": col.vm_kernels}}
    if _arch(col):
        build["architecture"] = _arch(col)
    if col.config_sources:
        build["config_name"] = _text(", ".join(col.config_sources))
    return build


def _environment(col: Column) -> dict[str, Any]:
    where = ",".join(col.vm_kernels) or "host"
    return {"comment": _text(f"{col.key} on {where} ({','.join(col.accels)})"),
            "misc": {"cgroup_mode": col.cgroup_mode, "append": col.variant,
                     "accel": col.accels, "cmdline": [_text(c) for c in col.cmdlines],
                     "lsms": col.lsms, "swap_total_kib": col.swap_total_kib,
                     "vm_kernels": col.vm_kernels, "vm_states": col.vm_states,
                     "run_ids": col.run_ids, "incomplete": col.incomplete}}


def _case_misc(case: Case) -> dict[str, Any]:
    misc: dict[str, Any] = {"outcome": case.outcome, "test": case.test, "suite": case.suite}
    for key, value in (("row", case.row_id), ("reason", case.reason), ("source", case.source),
                       ("since", case.since), ("run_id", case.run_id)):
        if value:
            misc[key] = _text(value)
    if case.tags:
        misc["tags"] = list(case.tags)
    if case.known:
        misc["known"] = {"reason": case.known.reason, "link": case.known.link,
                         "commit": case.known.commit}
    return misc


def _test(origin: str, suite: Suite, case: Case) -> dict[str, Any]:
    col = suite.column
    path = _path("ckc", case.row_id) if case.row_id else _path(
        "ckc", "self-test", case.suite or "unknown", case.test or case.name)
    test: dict[str, Any] = {
        "id": _text(f"{origin}:{case.run_id}:{col.key}:{case.name}"),
        "build_id": _build_id(origin, suite), "origin": origin, "path": path,
        "status": STATUS[case.verdict], "duration": case.duration_ms / 1000.0,
        "environment": _environment(col), "misc": _case_misc(case)}
    if case.sentence:
        test["comment"] = _text(case.sentence)
    if case.started:
        test["start_time"] = case.started
    excerpt = "\n".join(t for t in (case.reason, case.details) if t)
    if excerpt and case.verdict != "pass":
        test["log_excerpt"] = _excerpt(excerpt)
    return test


def _bench_tests(origin: str, suite: Suite) -> list[dict[str, Any]]:
    col = suite.column
    runs = "+".join(sorted(col.run_ids))
    out = []
    for fig in suite.figures:
        out.append({
            "id": _text(f"{origin}:{runs}:{col.key}:{fig.name}"),
            "build_id": _build_id(origin, suite), "origin": origin,
            "path": _path("ckc", fig.behaviour, fig.name.replace("/", ".")),
            "status": "DONE", "environment": _environment(col),
            "number": {"value": fig.mean_ns / 1e9, "unit": "s", "prefix": "metric"},
            "misc": {"row": fig.behaviour, "benchmark": fig.name, "mean_ns": fig.mean_ns,
                     "stddev_ns": fig.stddev_ns, "ci95_ns": fig.ci95_ns(),
                     "repetitions": fig.n, "accel": fig.accel, "emulated": fig.emulated}})
    return out


def _unique(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for obj in objects:
        seen.setdefault(obj["id"], obj)
    return list(seen.values())


def to_kcidb(suites: list[Suite], origin: str = "ckc") -> dict[str, Any]:
    """The KCIDB document; `origin` must match [a-z0-9_]+ (ValueError otherwise)."""
    if not ORIGIN_PATTERN.match(origin):
        raise ValueError(f"origin {origin!r}: KCIDB origins are [a-z0-9_]+")
    tests = [_test(origin, s, c) for s in suites for c in s.cases]
    tests += [t for s in suites for t in _bench_tests(origin, s)]
    return {"version": {"major": SCHEMA_MAJOR, "minor": SCHEMA_MINOR},
            "checkouts": _unique([_checkout(origin, s) for s in suites]),
            "builds": _unique([_build(origin, s) for s in suites]),
            "tests": tests}
