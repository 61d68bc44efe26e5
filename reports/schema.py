"""The one reader, validator and writer of ckc results files (schema 2, see SCHEMA.md).

API (everything else here is internal):

    runs = load_results(path)            # list[Run]; raises SchemaError (one line: "path: what")
    runs, errors = load_many(paths)      # bad files become SchemaError entries, the rest load
    write_json_atomic(path, obj)         # temp file in the same directory + fsync + rename
    matrix = merge(runs)                 # Matrix: behaviour ID x Column(release, cgroup mode)
    compat = matrix_to_json(matrix)      # the compatibility JSON ({"schema": 2, "runs": ...})
    entries = bench_entries(gbench_doc, binary, accel)  # a bench binary's JSON → "benchmarks"

A file is either one run (`{"schema": 2, "run": ..., "kernel": ..., "results": ...}`) or several
(`{"schema": 2, "runs": [run, ...]}`: the VM runner's merged file and the compatibility JSON
written by `ckc report merge`, which adds a "matrix" view that readers ignore).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports.matrix import Matrix

SCHEMA_VERSION = 2  # 2: results carry their row's sentence (and since); machine.accel_reason
READABLE_SCHEMAS = (1, 2)  # schema-1 files read as schema 2 with those fields empty
OUTCOMES = ("pass", "fail", "broken", "skip", "crash", "timeout")
# What makes a row worse than passing: the kernel disagreed (fail) or the test died (crash,
# timeout). `broken` (a setup step failed before the behaviour ran, LTP's TBROK) is counted apart:
# it is not a kernel verdict, so a diff never calls it a regression of the kernel.
BAD_OUTCOMES = ("fail", "crash", "timeout")
NOT_RUN_CLEANLY = (*BAD_OUTCOMES, "broken")  # what makes a run's exit status non-zero
CGROUP_MODES = ("v1", "hybrid", "v2", "none")
ACCELS = ("host", "kvm", "tcg")


class SchemaError(Exception):
    """A file that is not a valid schema-1 results file; str() is one line naming the file."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Kernel:
    release: str
    cgroup_mode: str
    version: str = ""
    arch: str = ""
    config_source: str = ""
    cmdline: str = ""
    lsms: tuple[str, ...] = ()
    swap_total_kib: int = 0


@dataclass(frozen=True)
class Machine:
    accel: str
    cpus: int = 0
    memory_kib: int = 0
    accel_reason: str = ""  # why KVM was not used, where it was refused


@dataclass(frozen=True)
class Result:
    id: str
    outcome: str
    test: str = ""
    suite: str = ""
    reason: str = ""
    details: str = ""
    source: str = ""
    duration_ms: float = 0.0
    sentence: str = ""  # the catalogue row's sentence, as the test declared it
    since: str = ""     # first kernel with the row's interface, where it has one


@dataclass
class Run:
    path: str
    run_id: str
    started: str
    finished: str | None
    kernel: Kernel
    machine: Machine
    results: list[Result]
    benchmarks: list[dict[str, Any]]
    vm: dict[str, Any] | None
    raw: dict[str, Any]


# ---------------------------------------------------------------- reading and validation


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SchemaError(path, f"cannot read: {err.strerror or err}") from None
    if not data.strip():
        raise SchemaError(path, "empty file (no JSON at all)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SchemaError(path, f"not UTF-8 text (byte {err.start}): not a results file") from None


def _parse_json(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        at_end = err.pos >= len(text.rstrip()) - 8  # e.g. cut inside `true` or a number
        if err.msg.startswith("Unterminated string") or (at_end and err.msg.startswith("Expecting")):
            raise SchemaError(path, f"truncated JSON: the text ends at byte {len(text)} inside "
                              "an unfinished value (was the writer killed?)") from None
        raise SchemaError(path, f"malformed JSON: {err.msg} (line {err.lineno}, "
                          f"column {err.colno})") from None


def _get(obj: dict[str, Any], key: str, types: tuple[type, ...], where: str, path: str,
         default: Any = ...) -> Any:
    """obj[key] checked against types; a missing key is an error unless a default is given."""
    if key not in obj or obj[key] is None:
        if default is ...:
            raise SchemaError(path, f"{where}.{key}: missing")
        return default
    value = obj[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = "/".join(t.__name__ for t in types)
        raise SchemaError(path, f"{where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def _object(obj: dict[str, Any], key: str, where: str, path: str) -> dict[str, Any]:
    return _get(obj, key, (dict,), where, path)


def _choice(value: str, allowed: tuple[str, ...], where: str, path: str) -> str:
    if value not in allowed:
        raise SchemaError(path, f"{where}: {value!r} is not one of {'|'.join(allowed)}")
    return value


def _kernel(obj: dict[str, Any], path: str) -> Kernel:
    k = _object(obj, "kernel", "", path)
    swap = _get(k, "swap", (dict,), "kernel", path, {})
    lsms = _get(k, "lsms", (list,), "kernel", path, [])
    return Kernel(
        release=_get(k, "release", (str,), "kernel", path),
        cgroup_mode=_choice(_get(k, "cgroup_mode", (str,), "kernel", path), CGROUP_MODES,
                            "kernel.cgroup_mode", path),
        version=_get(k, "version", (str,), "kernel", path, ""),
        arch=_get(k, "arch", (str,), "kernel", path, ""),
        config_source=_get(k, "config_source", (str,), "kernel", path, ""),
        cmdline=_get(k, "cmdline", (str,), "kernel", path, ""),
        lsms=tuple(str(x) for x in lsms),
        swap_total_kib=int(_get(swap, "total_kib", (int, float), "kernel.swap", path, 0)),
    )


def _machine(obj: dict[str, Any], path: str) -> Machine:
    m = _object(obj, "machine", "", path)
    return Machine(
        accel=_choice(_get(m, "accel", (str,), "machine", path), ACCELS, "machine.accel", path),
        cpus=int(_get(m, "cpus", (int,), "machine", path, 0)),
        memory_kib=int(_get(m, "memory_kib", (int, float), "machine", path, 0)),
        accel_reason=_get(m, "accel_reason", (str,), "machine", path, ""),
    )


def _result(item: Any, where: str, path: str) -> Result:
    if not isinstance(item, dict):
        raise SchemaError(path, f"{where}: expected an object, got {type(item).__name__}")
    outcome = _choice(_get(item, "outcome", (str,), where, path), OUTCOMES,
                      f"{where}.outcome", path)
    return Result(
        id=_get(item, "id", (str,), where, path),
        outcome=outcome,
        test=_get(item, "test", (str,), where, path, ""),
        suite=_get(item, "suite", (str,), where, path, ""),
        reason=_get(item, "reason", (str,), where, path, ""),
        details=_get(item, "details", (str,), where, path, ""),
        source=_get(item, "source", (str,), where, path, ""),
        duration_ms=float(_get(item, "duration_ms", (int, float), where, path, 0)),
        sentence=_get(item, "sentence", (str,), where, path, ""),
        since=_get(item, "since", (str,), where, path, ""),
    )


def _run(obj: dict[str, Any], path: str, where: str = "") -> Run:
    try:
        info = _object(obj, "run", where.rstrip("."), path)
        results = _get(obj, "results", (list,), where.rstrip("."), path)
        benchmarks = _get(obj, "benchmarks", (list,), where.rstrip("."), path, [])
        return Run(
            path=path,
            run_id=_get(info, "id", (str,), "run", path),
            started=_get(info, "started", (str,), "run", path, ""),
            finished=_get(info, "finished", (str,), "run", path, None),
            kernel=_kernel(obj, path),
            machine=_machine(obj, path),
            results=[_result(r, f"results[{i}]", path) for i, r in enumerate(results)],
            benchmarks=[b for b in benchmarks if isinstance(b, dict)],
            vm=_get(obj, "vm", (dict,), "", path, None),
            raw=obj,
        )
    except SchemaError as err:
        if where:
            raise SchemaError(path, f"{where}{err.problem}") from None
        raise


def _check_header(path: str, doc: Any) -> None:
    if not isinstance(doc, dict):
        raise SchemaError(path, f"not a ckc results file: top level is a JSON "
                          f"{type(doc).__name__}, expected an object with \"schema\": 1")
    if "schema" not in doc:
        keys = ", ".join(list(doc)[:5]) or "none"
        raise SchemaError(path, f"not a ckc results file: no \"schema\" key "
                          f"(top-level keys: {keys})")
    if doc["schema"] not in READABLE_SCHEMAS or isinstance(doc["schema"], bool):
        readable = " and ".join(map(str, READABLE_SCHEMAS))
        raise SchemaError(path, f"schema {doc['schema']!r} is not supported: this ckc reads "
                          f"schema {readable}")


def load_results(path: str | os.PathLike[str]) -> list[Run]:
    """Reads one results file (one run, or {"schema": 2, "runs": [...]}); SchemaError if bad."""
    name = str(path)
    doc = _parse_json(name, _read_text(name))
    _check_header(name, doc)
    if "runs" in doc:
        runs = _get(doc, "runs", (list,), "", name)
        if not runs:
            raise SchemaError(name, "\"runs\" is empty: no run in this file")
        out = []
        for i, item in enumerate(runs):
            if not isinstance(item, dict):
                raise SchemaError(name, f"runs[{i}]: expected an object")
            out.append(_run(item, name, f"runs[{i}]."))
        return out
    return [_run(doc, name)]


def load_many(paths: list[str]) -> tuple[list[Run], list[SchemaError]]:
    """Loads every file it can; each bad file becomes one SchemaError and is left out."""
    runs: list[Run] = []
    errors: list[SchemaError] = []
    for p in paths:
        try:
            runs.extend(load_results(p))
        except SchemaError as err:
            errors.append(err)
    return runs, errors


# ---------------------------------------------------------------- writing


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Writes obj as JSON to path through a temp file in the same directory and a rename."""
    write_text_atomic(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Writes text to path atomically (temp file + fsync + rename), mode 0644."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------- merge (in matrix.py)


def bench_entries(gbench: Any, binary: str, accel: str) -> list[dict[str, Any]]:
    """The entries of a ckc-bench-* binary's Google Benchmark JSON, ready for a results file's
    "benchmarks" array: those labelled with a bench.* ID, each given "behaviour" (that ID),
    "accel", "binary" and the run's ckc_* context (mode, rounds, memcg version, skip reason)."""
    if not isinstance(gbench, dict):
        return []
    context = {k: v for k, v in (gbench.get("context") or {}).items() if k.startswith("ckc_")}
    out = []
    for e in gbench.get("benchmarks") or []:
        label = str(e.get("label", "")) if isinstance(e, dict) else ""
        if not label.startswith("bench."):
            continue
        out.append({**e, "behaviour": label.split()[0], "accel": accel, "binary": binary,
                    "context": context})
    return out


def merge(runs: list[Run]) -> "Matrix":
    """Merges runs into a Matrix keyed by behaviour ID x (kernel release, cgroup mode)."""
    from reports.matrix import merge_runs

    return merge_runs(runs)


def matrix_to_json(matrix: "Matrix") -> dict[str, Any]:
    """The compatibility JSON: a multi-run file (readable by load_results) plus the matrix."""
    from reports.matrix import to_json

    return to_json(matrix)

