"""`ckc report junit|tap|kcidb` on the fixtures, read back by the real consumers.

JUnit by python3-junitparser and KCIDB by python3-jsonschema (against kcidb-schema-v5.json), both
run under Debian's own interpreter (/usr/bin/python3: apt installs python3-* packages for it, and
`ckc test` installs them), TAP by Perl's TAP::Parser. Counts of cases, failures, errors and skips
per (kernel, mode) column must equal those of the results in the fixture files, which the tests
count from the raw JSON.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import tempfile
import unittest
from datetime import datetime
from pathlib import Path
from typing import Any

from reports import bench, export_junit, export_tap
from reports.exports import Case, Suite, export_suites, verdict
from reports.matrix import Column
from reports.schema import load_results, merge
from reports.tests.helpers import FIXTURES, fixture, run_cli

DEBIAN_PYTHON = "/usr/bin/python3"
KCIDB_SCHEMA = FIXTURES / "kcidb-schema-v5.json"
EXPORTED = ["host-6.18-hybrid.json", "vm-merged.json"]
VERDICT = {"pass": "pass", "fail": "fail", "skip": "skip", "crash": "error", "timeout": "error",
           "broken": "error"}

JUNIT_READER = r"""
import json, sys
import junitparser
xml = junitparser.JUnitXml.fromfile(sys.argv[1])
out = {}
for suite in xml:
    counts = {"tests": 0, "pass": 0, "fail": 0, "error": 0, "skip": 0}
    cases = {}
    for case in suite:
        counts["tests"] += 1
        kinds = [type(r).__name__ for r in case.result]
        kind = {"Failure": "fail", "Error": "error", "Skipped": "skip"}.get(
            kinds[0] if kinds else "", "pass")
        counts[kind] += 1
        first = case.result[0] if case.result else None
        cases[case.name] = {"classname": case.classname, "time": case.time, "kind": kind,
                            "message": first.message if first is not None else None,
                            "type": first.type if first is not None else None,
                            "system_out": case.system_out}
    out[suite.name] = {"counts": counts, "cases": cases,
                       "declared": [suite.tests, suite.failures, suite.errors, suite.skipped],
                       "properties": {p.name: p.value for p in suite.properties()}}
print(json.dumps(out))
"""

KCIDB_VALIDATOR = r"""
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
tampered = dict(doc, tests=[dict(doc["tests"][0], status="BOGUS", path="a..b")])
print(json.dumps({"errors": errors[:20],
                  "tampered": len(list(validator.iter_errors(tampered)))}))
"""

# Reads the outer stream, then each column's nested stream (the "# " prefix stripped), and
# counts what TAP::Parser reports: test points, not ok, skips, the YAML blocks' outcomes.
TAP_READER = r"""
use strict; use warnings;
use TAP::Parser; use JSON::PP;
sub parse_tap {
    my ($tap) = @_;
    my $p = TAP::Parser->new({ tap => $tap });
    my %c = (tests => 0, ok => 0, not_ok => 0, skip => 0, outcomes => {}, names => []);
    my $after_not_ok = 0;
    while (my $r = $p->next) {
        if ($r->is_test) {
            $c{tests}++;
            push @{ $c{names} }, $r->description;
            $after_not_ok = !$r->is_ok;
            if (!$r->is_ok) { $c{not_ok}++ } elsif ($r->has_skip) { $c{skip}++ } else { $c{ok}++ }
        } elsif ($r->is_yaml && $after_not_ok) {
            $c{outcomes}{ $r->data->{outcome} // "?" }++;
            $c{known}{ $r->data->{known} }++ if defined $r->data->{known};
        }
    }
    $c{plan} = $p->plan; $c{version} = $p->version;
    $c{parse_errors} = [$p->parse_errors];
    $c{good_plan} = $p->is_good_plan ? 1 : 0;
    return \%c;
}
my $text = do { local $/; <STDIN> };
my @blocks; my @lines;
for my $line (split /\n/, $text) {
    if ($line =~ /^# ?(.*)$/s) { push @lines, $1 }
    elsif ($line =~ /^(not )?ok \d+/) { push @blocks, join("\n", @lines) . "\n"; @lines = () }
}
print JSON::PP->new->canonical->encode(
    { outer => parse_tap($text), columns => [ map { parse_tap($_) } @blocks ] });
"""


def consume(argv: list[str], stdin: str | None = None) -> Any:
    """Runs a consumer; its stdout is JSON. A consumer that is missing fails the test loudly."""
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120,
                              check=False)
    except FileNotFoundError as err:
        raise AssertionError(f"{argv[0]} is missing ({err}); `sudo ./ckc test` installs what "
                             "the tests need") from None
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:2])} failed (exit {done.returncode}): "
                             f"{done.stderr.strip()[-800:]}\n(a missing python3-* or perl "
                             "module: `sudo ./ckc test` installs them)")
    return json.loads(done.stdout)


def debian_python(code: str, *args: str) -> Any:
    return consume([DEBIAN_PYTHON, "-c", code, *args])


def raw_columns(name: str) -> dict[str, collections.Counter[str]]:
    """Verdict counts per column key, straight from the fixture's JSON."""
    doc = json.loads((FIXTURES / name).read_text())
    out: dict[str, collections.Counter[str]] = {}
    for run in doc.get("runs", [doc]):
        append = " ".join(str((run.get("vm") or {}).get("append", "")).split())
        key = f"{run['kernel']['release']}/{run['kernel']['cgroup_mode']}"
        key += f"+{append}" if append else ""
        counter = out.setdefault(key, collections.Counter())
        for r in run["results"]:
            counter[VERDICT[r["outcome"]]] += 1
            counter["tests"] += 1
    return out


def export(command: str, inputs: list[str], out: str, *extra: str) -> None:
    done = run_cli(command, *inputs, "-o", out, *extra)
    if done.returncode != 0:
        raise AssertionError(f"ckc report {command}: exit {done.returncode}: {done.stderr}")


class JunitTest(unittest.TestCase):
    def test_junitparser_counts_equal_the_results(self) -> None:
        for name in EXPORTED:
            with self.subTest(fixture=name), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "junit.xml")
                export("junit", [fixture(name)], out)
                read = debian_python(JUNIT_READER, out)
                want = raw_columns(name)
                self.assertEqual(set(read), set(want))
                for key, suite in read.items():
                    counts = {k: want[key][k] for k in ("tests", "pass", "fail", "error", "skip")}
                    self.assertEqual(suite["counts"], counts, key)
                    self.assertEqual(suite["declared"], [counts["tests"], counts["fail"],
                                                         counts["error"], counts["skip"]], key)

    def test_kernel_facts_sentences_and_details(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "junit.xml")
            export("junit", [fixture("host-6.18-hybrid.json")], out)
            suite = debian_python(JUNIT_READER, out)["6.18.44-ckc/hybrid"]
        props = suite["properties"]
        self.assertEqual(props["kernel.release"], "6.18.44-ckc")
        self.assertEqual(props["kernel.cgroup_mode"], "hybrid")
        self.assertEqual(props["machine.accel"], "host")
        self.assertEqual(props["kernel.config_source"], "/boot/config-6.18.44-ckc")
        self.assertIn("BOOT_IMAGE=/vmlinuz", props["kernel.cmdline"])
        cpu = suite["cases"]["cpu.weights-proportional"]
        self.assertEqual((cpu["kind"], cpu["classname"]), ("fail", "ckc.cpu"))
        self.assertIn("expected CPU time ratio 1:3", cpu["message"])
        self.assertAlmostEqual(cpu["time"], 0.245)
        hugetlb = suite["cases"]["hugetlb.limit"]
        self.assertEqual((hugetlb["kind"], hugetlb["message"]), ("skip", "setup:no-hugepages"))
        self.assertTrue(suite["cases"]["pid.init-death-kills-all"]["system_out"].startswith(
            "pid.init-death-kills-all: when PID 1 of a pid namespace exits"))
        self.assertEqual(suite["cases"]["guard/HostGuard.Unchanged"]["classname"],
                         "ckc.self-test")

    def test_crash_is_an_error_with_the_console_tail(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "junit.xml")
            export("junit", [fixture("vm-merged.json")], out)
            read = debian_python(JUNIT_READER, out)
        crash = read["6.19.0-rc2-ckc/v2"]["cases"]["lsm.active"]
        self.assertEqual((crash["kind"], crash["type"]), ("error", "crash"))
        timeout = read["5.10.0-33-amd64/v2"]["cases"]["io.throttle-direct"]
        self.assertEqual((timeout["kind"], timeout["type"]), ("error", "timeout"))


class TapTest(unittest.TestCase):
    def read(self, name: str, *extra: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "ckc.tap")
            export("tap", [fixture(name)], out, *extra)
            text = Path(out).read_text(encoding="utf-8")
        self.assertTrue(text.startswith("TAP version 13\n"))
        return consume(["perl", "-e", TAP_READER], stdin=text)

    def test_tap_parser_counts_equal_the_results(self) -> None:
        for name in EXPORTED:
            with self.subTest(fixture=name):
                read = self.read(name)
                want = raw_columns(name)
                outer = read["outer"]
                self.assertEqual((outer["version"], outer["parse_errors"], outer["good_plan"]),
                                 (13, [], 1))
                columns = [c.key for c in merge(load_results(fixture(name))).columns]
                self.assertEqual(set(columns), set(want))
                self.assertEqual(outer["plan"], f"1..{len(want)}")
                self.assertEqual(outer["names"], [f"- {k}" for k in columns])
                self.assertEqual(outer["not_ok"], sum(1 for c in want.values()
                                                      if c["fail"] or c["error"]))
                for key, col in zip(outer["names"], read["columns"]):
                    counts = want[key.removeprefix("- ")]
                    self.assertEqual((col["version"], col["parse_errors"], col["good_plan"]),
                                     (13, [], 1), key)
                    self.assertEqual(col["tests"], counts["tests"], key)
                    self.assertEqual(col["not_ok"], counts["fail"] + counts["error"], key)
                    self.assertEqual(col["skip"], counts["skip"], key)
                    self.assertEqual(col["ok"], counts["pass"], key)
                    errors = sum(n for o, n in col["outcomes"].items() if VERDICT[o] == "error")
                    self.assertEqual((col["outcomes"].get("fail", 0), errors),
                                     (counts["fail"], counts["error"]), key)


class KcidbTest(unittest.TestCase):
    def export(self, name: str, *extra: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "kcidb.json")
            export("kcidb", [fixture(name)], out, *extra)
            checked = debian_python(KCIDB_VALIDATOR, str(KCIDB_SCHEMA), out)
            self.assertEqual(checked["errors"], [], name)
            self.assertGreater(checked["tampered"], 0, "the validator accepts anything")
            return json.loads(Path(out).read_text(encoding="utf-8"))

    def test_valid_against_the_schema_and_counts_equal_the_results(self) -> None:
        for name in EXPORTED:
            with self.subTest(fixture=name):
                doc = self.export(name)
                self.assertEqual(doc["version"], {"major": 5, "minor": 3})
                matrix = merge(load_results(fixture(name)))
                by_col: dict[str, collections.Counter[str]] = {}
                for t in doc["tests"]:
                    key = t["environment"]["comment"].split(" ")[0]
                    by_col.setdefault(key, collections.Counter())[t["status"]] += 1
                for key, want in raw_columns(name).items():
                    got = by_col[key]
                    self.assertEqual((got["PASS"], got["FAIL"], got["ERROR"], got["SKIP"]),
                                     (want["pass"], want["fail"], want["error"], want["skip"]),
                                     key)
                    figures = bench.figures(matrix.benchmarks.get(key, []))
                    self.assertEqual(got["DONE"], len(figures), key)
                ids = [t["id"] for t in doc["tests"]]
                self.assertEqual(len(ids), len(set(ids)))
                for t in doc["tests"]:  # Debian's jsonschema has no date-time checker
                    if "start_time" in t:
                        self.assertIsNotNone(datetime.fromisoformat(t["start_time"]).tzinfo)
                builds = {b["id"] for b in doc["builds"]}
                checkouts = {c["id"] for c in doc["checkouts"]}
                self.assertTrue(all(t["build_id"] in builds for t in doc["tests"]))
                self.assertTrue(all(b["checkout_id"] in checkouts for b in doc["builds"]))

    def test_paths_statuses_numbers_and_origin(self) -> None:
        doc = self.export("host-6.18-hybrid.json", "--origin", "ckc_lab")
        tests = {t["path"]: t for t in doc["tests"]}
        cpu = tests["ckc.cpu.weights-proportional"]
        self.assertEqual((cpu["status"], cpu["duration"]), ("FAIL", 0.245))
        self.assertIn("expected CPU time ratio", cpu["log_excerpt"])
        self.assertTrue(cpu["id"].startswith("ckc_lab:"))
        self.assertEqual(tests["ckc.hugetlb.limit"]["status"], "SKIP")
        self.assertEqual(tests["ckc.self-test.guard.HostGuard.Unchanged"]["status"], "PASS")
        figure = tests["ckc.bench.memcg-fault-anon.BM_MemcgFaultAnon.populate.depth_0"]
        self.assertEqual(figure["status"], "DONE")
        self.assertEqual((figure["number"]["unit"], figure["number"]["prefix"]), ("s", "metric"))
        self.assertAlmostEqual(figure["number"]["value"], 550e-9)
        self.assertEqual(doc["builds"][0]["architecture"], "x86_64")

    def test_crash_is_error_with_the_console_tail(self) -> None:
        doc = self.export("vm-merged.json")
        crashed = [t for t in doc["tests"] if t["misc"].get("outcome") == "crash"]
        self.assertEqual(len(crashed), 52)
        self.assertTrue(all(t["status"] == "ERROR" for t in crashed))
        self.assertIn("Kernel panic", crashed[0]["log_excerpt"])


class EdgeCasesTest(unittest.TestCase):
    def copy_with(self, tmp: str, change: Any) -> str:
        doc = json.loads(Path(fixture("host-6.18-hybrid.json")).read_text())
        change(doc)
        path = os.path.join(tmp, "changed.json")
        Path(path).write_text(json.dumps(doc))
        return path

    def test_control_characters_reach_every_consumer(self) -> None:
        def dirty(doc: dict[str, Any]) -> None:
            cpu = next(r for r in doc["results"] if r["id"] == "cpu.weights-proportional")
            cpu["details"] = "saw \x1b[31mred\x1b[0m and a NUL \x00, a \"quote\" and \\ # here"
        with tempfile.TemporaryDirectory() as tmp:
            src = self.copy_with(tmp, dirty)
            junit, tap, kcidb = (os.path.join(tmp, n) for n in ("j.xml", "t.tap", "k.json"))
            export("junit", [src], junit)
            export("tap", [src], tap)
            export("kcidb", [src], kcidb)
            case = debian_python(JUNIT_READER, junit)["6.18.44-ckc/hybrid"]["cases"][
                "cpu.weights-proportional"]
            self.assertIn("red", case["message"])
            read = consume(["perl", "-e", TAP_READER], stdin=Path(tap).read_text())
            self.assertEqual(read["columns"][0]["parse_errors"], [])
            self.assertEqual(read["columns"][0]["outcomes"], {"fail": 1})
            self.assertEqual(debian_python(KCIDB_VALIDATOR, str(KCIDB_SCHEMA), kcidb)["errors"],
                             [])

    def test_a_results_own_sentence_wins_and_tags_and_known_are_shown(self) -> None:
        def own(doc: dict[str, Any]) -> None:
            doc["schema"] = 2
            cpu = next(r for r in doc["results"] if r["id"] == "cpu.weights-proportional")
            cpu["sentence"] = "the sentence this result declared itself"
        exp = {"ckc_expectations": 1, "tags": {"cpu.weights-proportional": ["commit 0123abcd"]},
               "expectations": [{"row": "cpu.weights-proportional", "outcome": "fail",
                                 "match": {"release": "6.18.*", "mode": "hybrid"},
                                 "reason": "two vCPUs share one core", "link": "https://x.test/1"}]}
        with tempfile.TemporaryDirectory() as tmp:
            src = self.copy_with(tmp, own)
            exp_file = os.path.join(tmp, "exp.json")
            Path(exp_file).write_text(json.dumps(exp))
            junit, tap = os.path.join(tmp, "j.xml"), os.path.join(tmp, "t.tap")
            export("junit", [src], junit, "--expectations", exp_file)
            export("tap", [src], tap, "--expectations", exp_file)
            case = debian_python(JUNIT_READER, junit)["6.18.44-ckc/hybrid"]["cases"][
                "cpu.weights-proportional"]
            tap_text = Path(tap).read_text()
            read = consume(["perl", "-e", TAP_READER], stdin=tap_text)
        self.assertIn("the sentence this result declared itself", case["system_out"])
        self.assertIn("[commit 0123abcd]", case["message"])
        self.assertIn("known: two vCPUs share one core (https://x.test/1)", case["message"])
        self.assertRegex(tap_text,
                         r"\n# not ok \d+ - cpu.weights-proportional \[commit 0123abcd\]\n")
        self.assertEqual(read["columns"][0]["known"],
                         {"known: two vCPUs share one core (https://x.test/1)": 1})

    def test_broken_is_an_error(self) -> None:
        self.assertEqual(verdict("broken"), "error")
        col = Column("6.1.0-28-amd64/v2", "6.1.0-28-amd64", "v2")
        suite = Suite(col, [Case("mnt.x", "mnt.x", "broken", details="setup: mount tmpfs: EPERM")])
        xml = export_junit.render([suite])
        self.assertIn('<error message="setup: mount tmpfs: EPERM" type="broken">', xml)
        self.assertIn("not ok 1 - mnt.x", export_tap.render([suite]))

    def test_rows_in_matrix_order_one_case_per_row_and_self_test(self) -> None:
        matrix = merge(load_results(fixture("host-6.18-hybrid.json")))
        suites = export_suites(matrix)
        names = [c.name for c in suites[0].cases]
        self.assertEqual(names[:-2], matrix.row_ids)
        self.assertEqual(names[-2:], ["guard/HostGuard.Snapshot", "guard/HostGuard.Unchanged"])


class BadInputTest(unittest.TestCase):
    def test_bad_file_one_line_exit_2_and_nothing_written(self) -> None:
        for command in ("junit", "tap", "kcidb"):
            with self.subTest(command=command), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "out")
                Path(out).write_text("previous\n")
                done = run_cli(command, fixture("vm-merged.json"), fixture("truncated.json"),
                               "-o", out)
                self.assertEqual(done.returncode, 2)
                lines = done.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertTrue(lines[0].startswith("ckc report: "), lines[0])
                self.assertIn("truncated.json", lines[0])
                self.assertEqual(Path(out).read_text(), "previous\n")
                self.assertEqual(os.listdir(tmp), ["out"])  # no temp file left

    def test_empty_directory_bad_origin_and_bad_expectations(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "k.json")
            bad_exp = os.path.join(tmp, "exp.json")
            Path(bad_exp).write_text('{"ckc_expectations": 1, "expectations": [{"row": "x"}]}')
            empty = os.path.join(tmp, "empty")
            os.mkdir(empty)
            for args in (["junit", empty], ["kcidb", fixture("vm-merged.json"), "--origin", "A-B"],
                         ["tap", fixture("vm-merged.json"), "--expectations", bad_exp]):
                with self.subTest(args=args[0]):
                    done = run_cli(*args, "-o", out)
                    self.assertEqual(done.returncode, 2, done.stderr)
                    self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
                    self.assertTrue(done.stderr.startswith("ckc report: "))
                    self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
