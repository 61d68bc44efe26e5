"""TAP 13 of a matrix in kselftest's dialect: `ckc report tap INPUT... -o ckc.tap`.

    text = render(export_suites(matrix, expectations))

The outer stream has one test point per (kernel, mode) column; each column's own TAP stream
comes before its point with every line prefixed by "# ", as kselftest's runner nests the
output of each test program (a TAP consumer that reads the outer stream sees comments; strip
the prefix to read a column):

    TAP version 13
    1..2
    # TAP version 13
    # 1..120
    # # kernel.release: 6.1.0-28-amd64
    # ok 1 - ns.proc-links
    # not ok 2 - cpu.weights-proportional
    #   ---
    #   outcome: "fail"
    #   details: "expected CPU time ratio 1:3 within 15 %, saw 1:2.31"
    #   ...
    # ok 3 - hugetlb.limit # SKIP setup:no-hugepages
    not ok 1 - 6.1.0-28-amd64/v2

A failed, crashed, timed-out or broken row is "not ok" with a YAML diagnostics block (outcome,
sentence, details, tags, the known reason); a column is "not ok" when any of its rows is. The
block is YAMLish as TAP::Parser reads it: string values double-quoted, control characters as
\\xHH escapes.
"""
from __future__ import annotations

from reports.exports import Case, Suite, clean_text, column_facts

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\a": "\\a", "\t": "\\t", "\n": "\\n",
            "\v": "\\v", "\f": "\\f", "\r": "\\r", "\x1b": "\\e"}


def yaml_string(text: str) -> str:
    """A double-quoted YAMLish scalar (TAP::Parser::YAMLish's escapes; also valid YAML)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):  # no character at all
            out.append("\ufffd")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def _description(name: str) -> str:
    return _one_line(name).replace("#", "\\#")


def _diagnostics(case: Case) -> list[str]:
    fields: list[tuple[str, str | float]] = [
        ("outcome", case.outcome), ("sentence", case.sentence), ("details", case.details),
        ("reason", case.reason), ("test", case.test), ("source", case.source),
        ("duration_ms", case.duration_ms),
        ("known", case.known.note() if case.known else "")]
    lines = ["  ---"]
    for key, value in fields:
        if isinstance(value, float):
            lines.append(f"  {key}: {value:g}")
        elif value:
            lines.append(f"  {key}: {yaml_string(value)}")
    if case.tags:
        lines.append("  tags:")
        lines += [f"    - {yaml_string(t)}" for t in case.tags]
    return lines + ["  ..."]


def _point(n: int, case: Case) -> list[str]:
    desc = _description(case.name)
    if case.verdict == "pass":
        return [f"ok {n} - {desc}"]
    if case.verdict == "skip":
        return [f"ok {n} - {desc} # SKIP {_one_line(case.reason or case.summary())}"]
    tags = f" [{', '.join(case.tags)}]" if case.tags else ""
    return [f"not ok {n} - {_description(case.name + tags)}"] + _diagnostics(case)


def column_stream(suite: Suite) -> list[str]:
    """One column as its own TAP 13 stream (lines without the nesting prefix)."""
    lines = ["TAP version 13", f"1..{len(suite.cases)}"]
    lines += [f"# {name}: {_one_line(value)}" for name, value in column_facts(suite.column)]
    for n, case in enumerate(suite.cases, 1):
        lines += _point(n, case)
    bad = suite.count("fail") + suite.count("error")
    lines.append(f"# {suite.column.key}: {suite.count('pass')} pass, {suite.count('fail')} "
                 f"fail, {suite.count('error')} error, {suite.count('skip')} skip"
                 + (f" ({bad} not ok)" if bad else ""))
    return lines


def render(suites: list[Suite]) -> str:
    lines = ["TAP version 13", f"1..{len(suites)}"]
    for n, suite in enumerate(suites, 1):
        lines += [f"# {line}" for line in column_stream(suite)]
        ok = not (suite.count("fail") or suite.count("error"))
        lines.append(f"{'ok' if ok else 'not ok'} {n} - {_description(suite.column.key)}")
    return "\n".join(lines) + "\n"
