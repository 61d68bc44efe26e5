"""JUnit XML of a matrix, for a CI's test tab: `ckc report junit INPUT... -o junit.xml`.

    text = render(export_suites(matrix, expectations))

One <testsuite> per (kernel, mode) column, named by its key ("6.1.0-28-amd64/v2"), with the
kernel facts as <properties> (release, cgroup mode, accel, cmdline, config source, ...). One
<testcase> per row: classname "ckc.<area>" (the ID prefix), name the row ID, time in seconds,
the sentence as a property and in <system-out>. fail -> <failure>; crash, timeout, broken ->
<error type="crash"> (the console tail or what broke in the text); skip -> <skipped
message="reason">. Tags and the expectation that explains a failure are in the message.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from reports.exports import Case, Suite, clean_text, column_facts, counts

TOOL = "ckc"


def _seconds(ms: float) -> str:
    return f"{ms / 1000.0:.3f}"


def _properties(parent: ET.Element, items: list[tuple[str, str]]) -> None:
    if not items:
        return
    props = ET.SubElement(parent, "properties")
    for name, value in items:
        ET.SubElement(props, "property", name=name, value=clean_text(value))


def _message(case: Case) -> str:
    text = case.summary()
    if case.tags:
        text += f" [{', '.join(case.tags)}]"
    if case.known:
        text += f" ({case.known.note()})"
    return clean_text(text)


def _case_properties(case: Case) -> list[tuple[str, str]]:
    items = [("ckc.id", case.row_id), ("sentence", case.sentence), ("test", case.test),
             ("suite", case.suite), ("source", case.source), ("since", case.since),
             ("outcome", case.outcome), ("reason", case.reason), ("run.id", case.run_id),
             ("tags", ", ".join(case.tags)), ("known", case.known.note() if case.known else "")]
    return [(k, v) for k, v in items if v]


def _testcase(case: Case) -> ET.Element:
    el = ET.Element("testcase", classname=f"{TOOL}.{case.area}", name=case.name,
                    time=_seconds(case.duration_ms))
    _properties(el, _case_properties(case))
    body = clean_text(case.details)
    if case.verdict == "fail":
        ET.SubElement(el, "failure", message=_message(case), type="fail").text = body
    elif case.verdict == "error":
        ET.SubElement(el, "error", message=_message(case), type=case.outcome).text = body
    elif case.verdict == "skip":
        skipped = ET.SubElement(el, "skipped", message=clean_text(case.reason or case.summary()))
        skipped.text = body or None
    lines = [f"{case.row_id}: {case.sentence}" if case.sentence else ""]
    if case.tags:
        lines.append(f"tags: {', '.join(case.tags)}")
    text = "\n".join(ln for ln in lines if ln)
    if text:
        ET.SubElement(el, "system-out").text = clean_text(text)
    return el


def _testsuite(suite: Suite, index: int) -> ET.Element:
    col = suite.column
    el = ET.Element("testsuite", name=col.key, id=str(index), tests=str(len(suite.cases)),
                    failures=str(suite.count("fail")), errors=str(suite.count("error")),
                    skipped=str(suite.count("skip")),
                    time=_seconds(sum(c.duration_ms for c in suite.cases)))
    if suite.started:
        el.set("timestamp", suite.started.removesuffix("Z"))
    _properties(el, column_facts(col))
    for case in suite.cases:
        el.append(_testcase(case))
    if col.console_tail:
        ET.SubElement(el, "system-err").text = clean_text(col.console_tail)
    return el


def render(suites: list[Suite], name: str = TOOL) -> str:
    """The whole document, XML declaration included."""
    total = counts(suites)
    root = ET.Element("testsuites", name=name, tests=str(total["tests"]),
                      failures=str(total["fail"]), errors=str(total["error"]),
                      skipped=str(total["skip"]),
                      time=_seconds(sum(c.duration_ms for s in suites for c in s.cases)))
    for i, suite in enumerate(suites):
        root.append(_testsuite(suite, i))
    ET.indent(root, space=" ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
