"""reports.html: structure of the page, parsed with html.parser (no browser)."""
from __future__ import annotations

import json
import os
import tempfile
import unittest
from html.parser import HTMLParser
from pathlib import Path

from reports.catalogue import Catalogue, Row, from_rows
from reports.html import render_report
from reports.schema import load_many, merge
from reports.tests.helpers import GOOD, fixture, run_cli

PID_AREA = "PID namespace, pidfd, clone3"
MINI_CATALOGUE = from_rows([
    Row("pid.first-is-1", PID_AREA, "the first process in a new pid namespace has PID 1", ("D",)),
    Row("pid.never-run", PID_AREA, "a row no fixture has", ("D",)),
    Row("mem.stat-anon-file", "Memory controller",
        "memory.stat counts anonymous and file pages separately", ("D", "F")),
    Row("bench.veth", "Benchmarks", "veth pair create + delete through netlink", ("D",)),
])


class Page(HTMLParser):
    """Collects the matrix structure and everything that could reach the network."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.cells: dict[str, list[tuple[str, str]]] = {}
        self.columns: list[str] = []
        self.areas: list[str] = []
        self.external: list[str] = []
        self.svgs = 0
        self.emulated_charts = 0
        self.island = ""
        self._in_island = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "tr" and "row" in classes:
            self.rows.append(a["data-row"])
            self.cells[a["data-row"]] = []
        elif tag == "td" and "cell" in classes:
            self.cells[self.rows[-1]].append((a["data-col"], a["data-outcome"]))
        elif tag == "th" and "col" in classes:
            self.columns.append(a["data-col"])
        elif tag == "tbody" and "area" in classes:
            self.areas.append(a["data-area"])
        elif tag == "svg":
            self.svgs += 1
        elif tag == "figure" and "emulated" in classes:
            self.emulated_charts += 1
        elif tag == "script" and a.get("id") == "ckc-data":
            self._in_island = True
        for key in ("src", "href"):
            if key in a and not a[key].startswith(("#", "data:")):
                self.external.append(f"{tag} {key}={a[key]}")
        if tag == "link":
            self.external.append("link")

    def handle_endtag(self, tag: str) -> None:
        self._in_island = False if tag == "script" else self._in_island

    def handle_data(self, data: str) -> None:
        if self._in_island:
            self.island += data


def parse(text: str) -> Page:
    p = Page()
    p.feed(text)
    return p


def good_matrix():
    runs, errors = load_many([fixture(n) for n in GOOD])
    assert not errors
    return merge(runs)


class HtmlStructureTest(unittest.TestCase):
    def test_rows_columns_cells_without_catalogue(self) -> None:
        m = good_matrix()
        page = parse(render_report(m, Catalogue(), generated="fixed"))
        self.assertEqual(page.columns, [c.key for c in m.columns])
        self.assertEqual(sorted(page.rows), sorted(m.cells))
        self.assertEqual(sum(len(c) for c in page.cells.values()), 118 * 6)
        for row, cells in page.cells.items():
            self.assertEqual([c for c, _ in cells], page.columns, row)
        self.assertEqual(dict(page.cells["mem.stat-anon-file"])["6.12.12-amd64/v1"], "skip")
        self.assertEqual(dict(page.cells["io.throttle-direct"])["5.10.0-33-amd64/v2"], "timeout")
        self.assertIn("Memory controller", page.areas)  # named by the ID prefix

    def test_catalogue_order_sentence_and_not_run_rows(self) -> None:
        m = good_matrix()
        cat = MINI_CATALOGUE
        text = render_report(m, cat, generated="fixed")
        page = parse(text)
        self.assertEqual(page.rows[:3], ["pid.first-is-1", "pid.never-run", "mem.stat-anon-file"])
        self.assertEqual(len(page.rows), 118 + 1)  # bench.* is not a matrix row
        self.assertEqual({o for _, o in page.cells["pid.never-run"]}, {"none"})
        self.assertEqual(page.areas[:2], [PID_AREA, "Memory controller"])
        self.assertTrue(page.areas[2].startswith("Not in the catalogue"))
        data = json.loads(page.island)
        self.assertIn("memory.stat counts", data["rows"]["mem.stat-anon-file"]["sentence"])
        self.assertIn("F = Linux application container fundamentals",
                      data["rows"]["mem.stat-anon-file"]["docs"])

    def test_details_and_facts_in_data_island(self) -> None:
        page = parse(render_report(good_matrix(), Catalogue(), generated="fixed"))
        data = json.loads(page.island)
        cell = data["cells"]["mem.stat-anon-file"]["6.12.12-amd64/v1"]
        self.assertEqual(cell["r"], "config:CONFIG_MEMCG_V1")
        self.assertIn("memory controller in cgroup v1", cell["e"])
        crash = data["cells"]["mem.oom-group"]["6.19.0-rc2-ckc/v2"]
        self.assertIn("Kernel panic", crash["d"])
        cols = {c["key"]: c for c in data["columns"]}
        self.assertTrue(cols["6.12.12-amd64/v1"]["emulated"])
        self.assertIn("Kernel panic", cols["6.19.0-rc2-ckc/v2"]["console_tail"])

    def test_self_contained_and_charts(self) -> None:
        page = parse(render_report(good_matrix(), Catalogue(), ["x.json: empty file"], "t"))
        self.assertEqual(page.external, [])
        self.assertGreater(page.svgs, 8)
        self.assertGreater(page.emulated_charts, 0)

    def test_accounting_off_chart_pairs_kernel_with_its_cgroup_disable_run(self) -> None:
        runs, _ = load_many([fixture("vm-6.1-v2.json"), fixture("vm-6.1-v2-memcg-off.json")])
        text = render_report(merge(runs), Catalogue())
        self.assertIn("memcg accounting cost", text)
        self.assertIn("accounting off (cgroup_disable=memory) vs on, side by side", text)
        # Fixture, populate (x1.08): off 561 ns, on-kernel root 594 ns (+5.97 %), depth 8 617 ns
        # (+10.02 %), each with its 95 % interval.
        table = text.split("side by side")[1].split("</table>")[0]
        row = table.split("MemcgFaultAnon/populate/depth:0")[1].split("</tr>")[0]
        self.assertIn(">+5.97 % [+5.21, +6.74]<", row)
        self.assertIn(">+10.02 % [+9.25, +10.78]<", row)

    def test_errors_and_missing_catalogue_are_shown(self) -> None:
        text = render_report(good_matrix(), Catalogue(), ["x.json: empty file (no JSON at all)"])
        self.assertIn("Input not read: x.json: empty file", text)
        self.assertIn("No catalogue", text)
        self.assertIn("config:CONFIG_MEMCG_V1", text.split('id="why"')[1].split("</details>")[0])

    def test_cli_html_prints_path_last(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "report.html")
            done = run_cli("html", *[fixture(n) for n in GOOD], fixture("corrupt.json"),
                           "-o", out)
            self.assertEqual(done.returncode, 2)  # a bad input, but the report is written
            self.assertEqual(done.stdout.strip().splitlines()[-1], str(Path(out).resolve()))
            page = parse(Path(out).read_text(encoding="utf-8"))
            self.assertEqual(len(page.columns), 6)


if __name__ == "__main__":
    unittest.main()
