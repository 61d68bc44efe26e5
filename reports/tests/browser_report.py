"""Browser check: headless Chromium renders the report of the fixtures.

Run: python3 -m unittest reports.tests.browser_report   (from the repository root)

Asserts the matrix has the expected rows, columns and cells, that a real mouse click on a cell
opens its details (with the config evidence of a CONFIG_MEMCG_V1 skip), that the "only rows that
differ" filter hides the rows that agree, and writes report-top.png (first screen), report.png (details open) and
report-benchmarks.png next to report.html in $CKC_BROWSER_OUT (default out/browser-check/).
Installs Debian's chromium with apt-get when missing (root); skips only when that fails.
With CKC_REPORT=path/report.html it also checks that report (e.g. the main command's).
"""
from __future__ import annotations

import os
import unittest
from pathlib import Path

from reports.catalogue import Catalogue, project_catalogue, with_results
from reports.html import render_report, row_differs, row_outcomes, rows_by_area
from reports.matrix import Matrix
from reports.schema import load_many, merge, write_text_atomic
from reports.tests.cdp import Browser, Page, find_chromium, install_chromium

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
INPUTS = ["host-6.18-hybrid.json", "vm-merged.json"]
TARGET_ROW, TARGET_COL = "mem.stat-anon-file", "6.12.12-amd64/v1"


def out_dir() -> Path:
    return Path(os.environ.get("CKC_BROWSER_OUT", REPO / "out" / "browser-check"))


class BrowserReportTest(unittest.TestCase):
    matrix: Matrix
    cat: Catalogue
    report: Path
    browser: Browser
    page: Page

    @classmethod
    def setUpClass(cls) -> None:
        chromium = find_chromium()
        if chromium is None:
            why = install_chromium()
            chromium = find_chromium()
            if chromium is None:
                raise unittest.SkipTest(f"chromium not available and not installable ({why})")
        runs, errors = load_many([str(FIXTURES / n) for n in INPUTS])
        assert not errors, errors
        cls.matrix = merge(runs)
        cls.cat = with_results(project_catalogue(), cls.matrix.runs)
        cls.report = out_dir() / "report.html"
        write_text_atomic(cls.report, render_report(cls.matrix, cls.cat, generated="fixed"))
        cls.browser = Browser.start(chromium)
        cls.addClassCleanup(cls.browser.close)  # also when the rest of setUpClass fails
        cls.page = cls.browser.new_page(1400, 1000)
        cls.page.navigate(cls.report.resolve().as_uri(), "document.body.dataset.ready === '1'")

    def expected_rows(self) -> list[str]:
        return [r for _, ids in rows_by_area(self.matrix, self.cat) for r in ids]

    def test_1_matrix_shape(self) -> None:
        rows = self.expected_rows()
        counts = self.page.eval("[document.querySelectorAll('#matrix tr.row').length,"
                                "document.querySelectorAll('#matrix th.col').length,"
                                "document.querySelectorAll('#matrix td.cell').length]")
        self.assertEqual(counts, [len(rows), len(self.matrix.columns),
                                  len(rows) * len(self.matrix.columns)])
        self.assertEqual(len(self.matrix.columns), 6)
        self.page.screenshot(str(out_dir() / "report-top.png"))  # the first screen, as opened

    def test_2_click_opens_details(self) -> None:
        sel = f'tr[data-row="{TARGET_ROW}"] td.cell[data-col="{TARGET_COL}"]'
        rect = self.page.eval(
            f"(() => {{ const td = document.querySelector('{sel}');"
            "td.scrollIntoView({block: 'center'}); const r = td.getBoundingClientRect();"
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        self.assertTrue(self.page.eval("document.getElementById('details').hidden"))
        self.page.click_at(*rect)
        self.assertFalse(self.page.eval("document.getElementById('details').hidden"))
        text = self.page.eval("document.getElementById('details').innerText")
        self.assertIn(TARGET_ROW, text)
        self.assertIn("config:CONFIG_MEMCG_V1", text)
        self.assertIn("memory controller in cgroup v1", text)
        visible = self.page.eval(
            f"(() => {{ const r = document.querySelector('{sel}').getBoundingClientRect();"
            "const p = document.getElementById('details').getBoundingClientRect();"
            "return r.right <= p.left + 1 && r.left >= 0 && r.top >= 0"
            " && r.bottom <= innerHeight; })()")
        self.assertTrue(visible, "the chosen cell is hidden under the details panel")
        out = out_dir()
        self.page.screenshot(str(out / "report.png"))
        self.assertGreater((out / "report.png").stat().st_size, 10_000)

    def test_3_filter_only_differing_rows(self) -> None:
        differing = sum(row_differs(row_outcomes(self.matrix, r)) for r in self.expected_rows())
        shown = self.page.eval(
            "(() => { const box = document.getElementById('f-differ'); box.click();"
            "const n = document.querySelectorAll('#matrix tr.row:not(.hidden)').length;"
            "box.click(); return n; })()")
        self.assertEqual(shown, differing)
        self.assertLess(shown, len(self.expected_rows()))

    def test_4_column_head_opens_kernel_facts(self) -> None:
        self.page.eval("document.getElementById('details-close').click()")
        rect = self.page.eval(
            "(() => { const th = document.querySelector('th.col[data-col=\"6.19.0-rc2-ckc/v2\"]');"
            "th.scrollIntoView({block: 'center'}); const r = th.getBoundingClientRect();"
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        self.page.click_at(*rect)
        text = self.page.eval("document.getElementById('details').innerText")
        self.assertIn("Kernel 6.19.0-rc2-ckc/v2", text)
        self.assertIn("Kernel panic", text)
        self.assertIn("incomplete", text)

    def test_5_benchmark_charts(self) -> None:
        box = self.page.eval(
            "(() => { const s = document.getElementById('benchmarks');"
            "const r = s.getBoundingClientRect();"
            "return [r.x + scrollX, r.y + scrollY, r.width, Math.min(r.height, 2400),"
            "s.querySelectorAll('svg').length, s.querySelectorAll('.chart.emulated').length];"
            "})()")
        self.assertGreater(box[4], 4)
        self.assertGreater(box[5], 0)  # the TCG column has its own, emulated charts
        self.page.screenshot(str(out_dir() / "report-benchmarks.png"),
                             {"x": box[0], "y": box[1], "width": box[2], "height": box[3]})


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(os.environ.get("CKC_REPORT"), "set CKC_REPORT=path/report.html to check it")
class GivenReportTest(unittest.TestCase):
    """Any report.html (e.g. the main command's): DOM matches its data island, a click opens
    details; report.png is written next to it."""

    def test_given_report(self) -> None:
        report = Path(os.environ["CKC_REPORT"]).resolve()
        chromium = find_chromium()
        if chromium is None:
            self.skipTest("chromium not installed")
        browser = Browser.start(chromium)
        self.addCleanup(browser.close)
        page = browser.new_page(1400, 1000)
        page.navigate(report.as_uri(), "document.body.dataset.ready === '1'")
        shape = page.eval(
            "(() => { const d = JSON.parse(document.getElementById('ckc-data').textContent);"
            "return [document.querySelectorAll('#matrix tr.row').length, d.row_count,"
            "document.querySelectorAll('#matrix th.col').length, d.columns.length,"
            "document.querySelectorAll('#matrix td.cell').length]; })()")
        self.assertEqual(shape[0], shape[1])
        self.assertEqual(shape[2], shape[3])
        self.assertEqual(shape[4], shape[0] * shape[2])
        if shape[4]:
            rect = page.eval("(() => { const r = document.querySelector('td.cell')"
                             ".getBoundingClientRect(); return [r.x + r.width / 2,"
                             " r.y + r.height / 2]; })()")
            page.click_at(*rect)
            self.assertFalse(page.eval("document.getElementById('details').hidden"))
        page.screenshot(str(report.with_suffix(".png")))
