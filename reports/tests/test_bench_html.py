"""The benchmark section of the HTML report: no point value for an unresolved figure, the
replicates table and the scale curves (fixture results files, no browser)."""
from __future__ import annotations

import json
import re
import tempfile
import unittest
from pathlib import Path

from reports.catalogue import Catalogue
from reports.html import render_report
from reports.schema import load_many, merge
from reports.tests.helpers import fixture
from reports.tests.test_bench import PAIRED, agg, curve_entries

UNRESOLVED = PAIRED.replace("depth:4", "depth:8")


def results_with(entries: list[dict]) -> dict:
    doc = json.loads(Path(fixture("host-6.18-hybrid.json")).read_text())
    doc["benchmarks"] = entries
    return doc


def render(entries: list[dict]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_text(json.dumps(results_with(entries)))
        runs, errors = load_many([str(path)])
    assert not errors, errors
    return render_report(merge(runs), Catalogue())


def section(text: str) -> str:
    return text.split('<section id="benchmarks">')[1].split("</section>")[0]


class UnresolvedTest(unittest.TestCase):
    def test_an_unresolved_overhead_shows_only_its_bound(self) -> None:
        # +0.3037 % of a 1000 ns root: 3.037 ns, interval [-0.2071, +0.8143] %.
        text = section(render([
            agg(UNRESOLVED, "mean", 1003.037), agg(UNRESOLVED, "stddev", 20.0),
            agg(UNRESOLVED, "overhead", 0.003037, overhead_pct=0.3037, lower95_pct=-0.2071,
                upper95_pct=0.8143, resolved=0),
            agg(PAIRED, "mean", 1028.9), agg(PAIRED, "stddev", 20.0),
            agg(PAIRED, "overhead", 0.0289, overhead_pct=2.89, lower95_pct=2.24,
                upper95_pct=3.55, resolved=1)]))
        self.assertIn("not resolved, &lt; 8.2 ns", text)  # 0.8143 % of 1000 ns, rounded up
        for point in ("3.04", "0.30", "0.304", "3.037"):
            self.assertNotIn(point, text)
        self.assertNotIn("n.r.", text)
        self.assertIn("28.9 ns", text)  # the resolved one keeps its value

    def test_the_accounting_off_table_gives_bounds_only(self) -> None:
        runs, _ = load_many([fixture("vm-6.1-v2.json"), fixture("vm-6.1-v2-memcg-off.json")])
        text = section(render_report(merge(runs), Catalogue()))
        table = text.split("side by side")[1].split("</table>")[0]
        for cell in re.findall(r"<td[^>]*>([^<]*%[^<]*)</td>", table):
            self.assertTrue(re.fullmatch(r"[+-]\d+\.\d\d % \[[+-][\d.]+, [+-][\d.]+\]", cell)
                            or cell.startswith("not resolved, &lt; "), cell)

    def test_replicates_table_has_each_run_the_cv_and_the_combination(self) -> None:
        text = section(render([
            agg(PAIRED, "mean", 1028.9),
            {**agg(PAIRED, "replicates", 0.025), "of": "overhead", "estimate": 2.5,
             "lower95": 1.0, "upper95": 4.0, "resolved": 1, "values": [2.0, 3.0, 0.4],
             "replicate_lower95": [1.5, 2.5, -0.3], "replicate_upper95": [2.5, 3.5, 0.7],
             "replicate_resolved": [1, 1, 0], "cv_pct": 75.3, "i2_pct": 88.0, "q_p": 0.001,
             "disagree": 1}]))
        self.assertIn("+2.50 % [+1.00, +4.00]", text)
        self.assertIn("+2.00 % [+1.50, +2.50]; +3.00 % [+2.50, +3.50]; not resolved, &lt; 0.7 %",
                      text)
        self.assertIn("75 %", text)
        self.assertIn("DISAGREE", text)
        self.assertNotIn("0.40", text)

    def test_curves_are_drawn_with_their_check(self) -> None:
        text = section(render(curve_entries({1: 10.0, 2: 20.0, 4: 40.0, 8: 80.0}, 10.0, 9.0,
                                            11.0, expect_linear=1)))
        self.assertIn("linear as intended", text)
        self.assertIn("slope +10.00 ns/sibling [+9.00, +11.00]", text)
        self.assertEqual(text.count('class="point"'), 4)
        self.assertEqual(text.count('class="fit"'), 1)


if __name__ == "__main__":
    unittest.main()
