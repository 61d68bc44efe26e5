"""Known, explained differences per kernel/mode (ci/expectations.json), and the rows' tags.

    exp = load_expectations("ci/expectations.json")   # Expectations; ExpectationsError if bad
    exp.known(row_id, column, outcome, reason)        # Expectation | None: this outcome is expected
    exp.xpass(row_id, column, outcome)                # Expectation | None: a failure was expected,
                                                      # the row passed
    exp.tags_for(row_id, column)                      # ("CVE-2021-4197", ...) of the row

The format is in ci/README.md. `ckc report diff --expectations` reports a regression that an
entry expects as "known" (it does not fail the gate) and an expected failure that passes as
XPASS (printed, does not fail the gate either); the exports print the tags and the known reason
next to a failure.
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.matrix import Column

FORMAT_KEY = "ckc_expectations"  # not "schema": a results reader must not take it for results
FORMAT_VERSION = 1
EXPECTABLE = ("fail", "broken", "crash", "timeout", "skip")
FAILING = ("fail", "broken", "crash", "timeout")
MODES = ("v1", "hybrid", "v2", "none")
ACCELS = ("host", "kvm", "tcg")
_ENTRY_KEYS = {"row", "match", "outcome", "skip_reason", "reason", "link", "commit", "tags"}
_MATCH_KEYS = {"release", "kernel", "mode", "append", "accel"}


class ExpectationsError(Exception):
    """An expectations file that cannot be used; str() is one line naming the file."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class ColumnMatch:
    """Which columns an entry is about; every field left out matches any column."""

    release: str = "*"             # glob on the kernel release: "6.12.*", "5.10.0-*-amd64"
    kernel: str = "*"              # glob on the VM matrix kernel ("bookworm"); "host" = host runs
    modes: tuple[str, ...] = ()    # cgroup modes; () = any
    append: str | None = None      # extra kernel arguments of the VM (column variant); None = any
    accels: tuple[str, ...] = ()   # host, kvm, tcg; () = any

    def matches(self, col: Column) -> bool:
        kernels = col.vm_kernels or ["host"]
        return (fnmatch.fnmatchcase(col.release, self.release)
                and any(fnmatch.fnmatchcase(k, self.kernel) for k in kernels)
                and (not self.modes or col.cgroup_mode in self.modes)
                and (self.append is None or col.variant == " ".join(self.append.split()))
                and (not self.accels or any(a in self.accels for a in col.accels)))


@dataclass(frozen=True)
class Expectation:
    row: str                       # row ID or glob ("mem.*")
    where: ColumnMatch
    outcomes: tuple[str, ...]      # what the row is expected to do there
    reason: str                    # why: the explanation a reader of the gate needs
    skip_reason: str = "*"         # glob on the skip reason, for "skip" expectations
    link: str = ""
    commit: str = ""
    tags: tuple[str, ...] = ()
    index: int = 0                 # position in the file, for messages

    def applies(self, row_id: str, col: Column) -> bool:
        return fnmatch.fnmatchcase(row_id, self.row) and self.where.matches(col)

    def expects(self, outcome: str, reason: str) -> bool:
        if outcome not in self.outcomes:
            return False
        return outcome != "skip" or fnmatch.fnmatchcase(reason, self.skip_reason)

    def note(self, label: str = "known") -> str:
        """One line: "known: <reason> (<link>, commit <hash>)"."""
        refs = [r for r in (self.link, f"commit {self.commit}" if self.commit else "") if r]
        return f"{label}: {self.reason}" + (f" ({', '.join(refs)})" if refs else "")


@dataclass
class Expectations:
    path: str = ""
    entries: list[Expectation] = field(default_factory=list)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # row ID -> tags

    def known(self, row_id: str, col: Column, outcome: str, reason: str = "") -> Expectation | None:
        """The first entry that expects this outcome of this row in this column."""
        return next((e for e in self.entries
                     if e.applies(row_id, col) and e.expects(outcome, reason)), None)

    def xpass(self, row_id: str, col: Column, outcome: str) -> Expectation | None:
        """The entry that expected this row to fail here, when it passed."""
        if outcome != "pass":
            return None
        return next((e for e in self.entries if e.applies(row_id, col)
                     and any(o in FAILING for o in e.outcomes)), None)

    def tags_for(self, row_id: str, col: Column | None = None) -> tuple[str, ...]:
        """The row's tags (the "tags" map), plus those of entries about it in this column."""
        found = list(self.tags.get(row_id, ()))
        for e in self.entries:
            if fnmatch.fnmatchcase(row_id, e.row) and (col is None or e.where.matches(col)):
                found += e.tags
        return tuple(dict.fromkeys(found))


# ---------------------------------------------------------------- reading and validation


def _strings(value: Any, where: str, path: str, allowed: tuple[str, ...] = ()) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ExpectationsError(path, f"{where}: expected a non-empty string or list of strings")
    bad = [v for v in items if allowed and v not in allowed]
    if bad:
        raise ExpectationsError(path, f"{where}: {bad[0]!r} is not one of {'|'.join(allowed)}")
    return tuple(items)


def _string(obj: dict[str, Any], key: str, where: str, path: str, default: str = "") -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ExpectationsError(path, f"{where}.{key}: expected a string")
    return value


def _unknown_keys(obj: dict[str, Any], allowed: set[str], where: str, path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ExpectationsError(path, f"{where}: unknown key {extra[0]!r} "
                                f"(known: {', '.join(sorted(allowed))})")


def _match(obj: Any, where: str, path: str) -> ColumnMatch:
    if not isinstance(obj, dict):
        raise ExpectationsError(path, f"{where}: expected an object")
    _unknown_keys(obj, _MATCH_KEYS, where, path)
    modes = _strings(obj["mode"], f"{where}.mode", path, MODES) if "mode" in obj else ()
    accels = _strings(obj["accel"], f"{where}.accel", path, ACCELS) if "accel" in obj else ()
    append = _string(obj, "append", where, path) if "append" in obj else None
    return ColumnMatch(release=_string(obj, "release", where, path, "*") or "*",
                       kernel=_string(obj, "kernel", where, path, "*") or "*",
                       modes=modes, append=append, accels=accels)


def _entry(obj: Any, index: int, path: str) -> Expectation:
    where = f"expectations[{index}]"
    if not isinstance(obj, dict):
        raise ExpectationsError(path, f"{where}: expected an object")
    _unknown_keys(obj, _ENTRY_KEYS, where, path)
    for key in ("row", "outcome", "reason"):
        if key not in obj:
            raise ExpectationsError(path, f"{where}.{key}: missing")
    row = _string(obj, "row", where, path)
    reason = _string(obj, "reason", where, path)
    if not row or not reason.strip():
        raise ExpectationsError(path, f"{where}: \"row\" and \"reason\" must not be empty")
    outcomes = _strings(obj["outcome"], f"{where}.outcome", path, EXPECTABLE)
    if "skip_reason" in obj and "skip" not in outcomes:
        raise ExpectationsError(path, f"{where}.skip_reason: only with \"outcome\": \"skip\"")
    tags = _strings(obj["tags"], f"{where}.tags", path) if obj.get("tags") else ()
    return Expectation(row=row, where=_match(obj.get("match", {}), f"{where}.match", path),
                       outcomes=outcomes, reason=reason,
                       skip_reason=_string(obj, "skip_reason", where, path, "*") or "*",
                       link=_string(obj, "link", where, path),
                       commit=_string(obj, "commit", where, path), tags=tags, index=index)


def parse_expectations(doc: Any, path: str) -> Expectations:
    if not isinstance(doc, dict) or doc.get(FORMAT_KEY) != FORMAT_VERSION:
        raise ExpectationsError(path, f"not a ckc expectations file (expected an object with "
                                f"\"{FORMAT_KEY}\": {FORMAT_VERSION})")
    _unknown_keys(doc, {FORMAT_KEY, "expectations", "tags", "$comment"}, "top level", path)
    entries = doc.get("expectations", [])
    tags = doc.get("tags", {})
    if not isinstance(entries, list):
        raise ExpectationsError(path, "expectations: expected a list")
    if not isinstance(tags, dict):
        raise ExpectationsError(path, "tags: expected an object (row ID -> list of tags)")
    return Expectations(
        path=path, entries=[_entry(e, i, path) for i, e in enumerate(entries)],
        tags={row: _strings(value, f"tags.{row}", path) for row, value in tags.items()})


def load_expectations(path: str | Path) -> Expectations:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ExpectationsError(name, f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ExpectationsError(name, "not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ExpectationsError(name, f"malformed JSON: {err.msg} (line {err.lineno}, "
                                f"column {err.colno})") from None
    return parse_expectations(doc, name)
