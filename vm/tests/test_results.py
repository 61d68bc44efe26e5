"""Decoding the guest's serial stream and filling gaps with crash/timeout results."""

import base64
import dataclasses
import gzip
import json
import unittest

from reports import schema
from vm import results

LISTED = ["Pid.A", "Pid.B", "Pid.C"]


def frame(name, doc, status=0, timed_out=0, cut=False):
    payload = base64.encodebytes(gzip.compress(json.dumps(doc).encode())).decode()
    if cut:
        return f"CKC-FILE {name} {status} {timed_out}\r\n{payload[:20]}\r\n"
    lines = payload.replace("\n", "\r\n")
    return f"CKC-FILE {name} {status} {timed_out}\r\n{lines}CKC-END {name}\r\n"


def entry(test, outcome):
    return {"id": "x." + test, "test": test, "suite": "ns", "outcome": outcome, "reason": "",
            "details": "", "duration_ms": 1}


def doc(*entries):
    return {"schema": 1, "run": {"id": "r"}, "kernel": {"release": "6.1.0", "cmdline": "c",
            "cgroup_mode": "v2"}, "machine": {"accel": "tcg"}, "results": list(entries),
            "benchmarks": []}


IDENT = results.VmIdentity(kernel="bookworm", release="6.1.0", mode="v2", accel="tcg",
                           cmdline="console=ttyS0", append="", suites={"ns": LISTED})


class Serial(unittest.TestCase):
    def test_round_trip_with_crlf(self):
        text = frame("ns", doc(entry("Pid.A", "pass"))) + "CKC-DONE\r\n"
        stream = results.parse_serial(text)
        self.assertTrue(stream.done)
        self.assertEqual(stream.files["ns"].doc["results"][0]["test"], "Pid.A")

    def test_cut_short_payload_is_not_a_file(self):
        stream = results.parse_serial(frame("ns", doc(), cut=True))
        self.assertNotIn("ns", stream.files)
        self.assertFalse(stream.done)

    def test_nofile(self):
        stream = results.parse_serial("CKC-NOFILE ns 139 0\n")
        self.assertEqual(stream.files["ns"].status, 139)
        self.assertIsNone(stream.files["ns"].doc)


class Synthesis(unittest.TestCase):
    def outcomes(self, doc_):
        return {r["test"]: r["outcome"] for r in doc_["results"]}

    def test_vm_crash_before_report_gives_crash_for_every_test(self):
        out = results.run_document(IDENT, results.SerialStream(),
                                   results.VmOutcome("crash", "Kernel panic"), {})
        self.assertEqual(self.outcomes(out), {t: "crash" for t in LISTED})
        self.assertIn("Kernel panic", out["results"][0]["details"])
        self.assertEqual(out["vm"]["console_tail"], "Kernel panic")
        self.assertEqual(out["kernel"]["release"], "6.1.0")
        self.assertEqual(out["kernel"]["cgroup_mode"], "v2")
        self.assertEqual(out["machine"]["accel"], "tcg")

    def test_vm_timeout_gives_timeout(self):
        out = results.run_document(IDENT, results.SerialStream(),
                                   results.VmOutcome("timeout", "tail"), {})
        self.assertEqual(set(self.outcomes(out).values()), {"timeout"})

    def test_binary_died_mid_run_keeps_finished_tests(self):
        stream = results.parse_serial(frame("ns", doc(entry("Pid.A", "pass"),
                                                      entry("Pid.B", "crash")), status=139))
        out = results.run_document(IDENT, stream, results.VmOutcome("ok", "segv"), {})
        self.assertEqual(self.outcomes(out), {"Pid.A": "pass", "Pid.B": "crash",
                                              "Pid.C": "crash"})
        self.assertIn("status 139", [r for r in out["results"] if r["test"] == "Pid.C"][0]
                      ["details"])

    def test_guest_time_limit_turns_running_test_into_timeout(self):
        stream = results.parse_serial(frame("ns", doc(entry("Pid.A", "pass"),
                                                      entry("Pid.B", "crash")), 143, 1))
        out = results.run_document(IDENT, stream, results.VmOutcome("ok", ""), {})
        self.assertEqual(self.outcomes(out), {"Pid.A": "pass", "Pid.B": "timeout",
                                              "Pid.C": "timeout"})

    def test_complete_run_has_no_console_tail(self):
        stream = results.parse_serial(frame("ns", doc(*(entry(t, "pass") for t in LISTED)))
                                      + "CKC-DONE\n")
        out = results.run_document(IDENT, stream, results.VmOutcome("ok", "boring"),
                                   {"boot_s": 3.0})
        self.assertNotIn("console_tail", out["vm"])
        self.assertEqual(out["vm"]["kernel"], "bookworm")
        self.assertEqual(out["vm"]["mode"], "v2")
        self.assertEqual(out["vm"]["timings"], {"boot_s": 3.0})
        self.assertEqual(out["kernel"]["cmdline"], "c")

    def test_benchmarks_are_collected(self):
        bench = {"context": {"ckc_mode": "short", "date": "x"},
                 "benchmarks": [{"name": "BM_X", "real_time": 1, "label": "bench.veth"},
                                {"name": "BM_unlabelled", "real_time": 1}]}
        stream = results.parse_serial(frame("bench-ns", bench))
        out = results.run_document(IDENT, stream, results.VmOutcome("ok", ""), {})
        self.assertEqual([e["name"] for e in out["benchmarks"]], ["BM_X"])
        entry = out["benchmarks"][0]
        self.assertEqual((entry["behaviour"], entry["accel"], entry["binary"]),
                         ("bench.veth", IDENT.accel, "ckc-bench-ns"))
        self.assertEqual(entry["context"], {"ckc_mode": "short"})

    def test_a_skipped_bench_binary_says_why(self):
        bench = {"context": {"ckc_skipped": "config:CONFIG_MEMCG_V1 (...)"}, "benchmarks": []}
        stream = results.parse_serial(frame("bench-memcg", bench))
        out = results.run_document(IDENT, stream, results.VmOutcome("ok", ""), {})
        self.assertEqual(out["vm"]["binaries"]["bench-memcg"]["skipped"],
                         "config:CONFIG_MEMCG_V1 (...)")
        self.assertEqual(out["benchmarks"], [])

    def test_merge_fills_ids_from_other_runs(self):
        good = results.run_document(IDENT, results.parse_serial(frame("ns", doc(
            *(entry(t, "pass") for t in LISTED)))), results.VmOutcome("ok", ""), {})
        bad = results.run_document(IDENT, results.SerialStream(),
                                   results.VmOutcome("crash", ""), {})
        merged = results.merge_runs([good, bad])
        self.assertEqual(merged["schema"], schema.SCHEMA_VERSION)
        self.assertEqual(merged["runs"][1]["results"][0]["id"], "x.Pid.A")


GUARDED = dataclasses.replace(IDENT, guard={"guard-snapshot": "HostGuard.Snapshot",
                                            "guard-unchanged": "HostGuard.Unchanged"})


def guard_entry(test, outcome):
    return dict(entry(test, outcome), id="", suite="guard")


class Guard(unittest.TestCase):
    def test_guard_results_bracket_the_suites_as_self_tests(self):
        text = (frame("guard-snapshot", doc(guard_entry("HostGuard.Snapshot", "pass")))
                + frame("ns", doc(*(entry(t, "pass") for t in LISTED)))
                + frame("guard-unchanged", doc(guard_entry("HostGuard.Unchanged", "fail")))
                + "CKC-DONE\n")
        out = results.run_document(GUARDED, results.parse_serial(text),
                                   results.VmOutcome("ok", ""), {})
        self.assertEqual([r["test"] for r in out["results"]],
                         ["HostGuard.Snapshot", *LISTED, "HostGuard.Unchanged"])
        self.assertEqual([r["id"] for r in out["results"] if r["suite"] == "guard"], ["", ""])
        self.assertEqual(out["run"]["suites"], ["ns"])
        self.assertEqual(out["run"]["id"], "r")
        self.assertIn("guard-unchanged", out["vm"]["binaries"])

    def test_a_comparison_that_never_ran_is_a_crash_of_the_guard(self):
        text = frame("guard-snapshot", doc(guard_entry("HostGuard.Snapshot", "pass")))
        out = results.run_document(GUARDED, results.parse_serial(text),
                                   results.VmOutcome("crash", "Oops"), {})
        last = out["results"][-1]
        self.assertEqual((last["test"], last["suite"], last["outcome"], last["id"]),
                         ("HostGuard.Unchanged", "guard", "crash", ""))

    def test_without_a_guard_there_are_no_guard_rows(self):
        out = results.run_document(IDENT, results.SerialStream(),
                                   results.VmOutcome("crash", ""), {})
        self.assertNotIn("guard", {r["suite"] for r in out["results"]})


class TestList(unittest.TestCase):
    def test_gtest_list(self):
        text = ("PidNamespace.\n  InitDeathKillsAll\n  Forks\nParam/Thing.\n"
                "  Works/0  # GetParam() = 1\n")
        self.assertEqual(results.parse_test_list(text),
                         ["PidNamespace.InitDeathKillsAll", "PidNamespace.Forks",
                          "Param/Thing.Works/0"])


if __name__ == "__main__":
    unittest.main()


class Streaming(unittest.TestCase):
    def test_kernel_death_mid_suite_keeps_finished_tests(self):
        text = (frame("ns", doc(entry("Pid.A", "pass")), status=-1)
                + frame("ns", doc(entry("Pid.A", "pass"), entry("Pid.B", "crash")), status=-1)
                + frame("ns", doc(), status=-1, cut=True))
        stream = results.parse_serial(text)
        out = results.run_document(IDENT, stream, results.VmOutcome("crash", "Oops"), {})
        outcomes = {r["test"]: r["outcome"] for r in out["results"]}
        self.assertEqual(outcomes, {"Pid.A": "pass", "Pid.B": "crash", "Pid.C": "crash"})
        missing = [r for r in out["results"] if r["test"] == "Pid.C"][0]
        self.assertIn("while ns was running", missing["details"])

    def test_host_timeout_mid_suite_is_timeout(self):
        stream = results.parse_serial(frame("ns", doc(entry("Pid.A", "pass"),
                                                      entry("Pid.B", "crash")), status=-1))
        out = results.run_document(IDENT, stream, results.VmOutcome("timeout", ""), {})
        outcomes = {r["test"]: r["outcome"] for r in out["results"]}
        self.assertEqual(outcomes, {"Pid.A": "pass", "Pid.B": "timeout", "Pid.C": "timeout"})

    def test_final_frame_wins(self):
        text = (frame("ns", doc(entry("Pid.A", "crash")), status=-1)
                + frame("ns", doc(*(entry(t, "pass") for t in LISTED)), status=0)
                + "CKC-DONE\n")
        out = results.run_document(IDENT, results.parse_serial(text),
                                   results.VmOutcome("ok", ""), {})
        self.assertEqual({r["outcome"] for r in out["results"]}, {"pass"})
