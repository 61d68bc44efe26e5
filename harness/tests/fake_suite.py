#!/usr/bin/env python3
"""A stand-in for a ckc suite binary, for the harness's self-tests: it lists three tests and
writes results the way the real listener does. FAKE_MODE=crash makes B.Two kill the process;
FAKE_MODE=hang makes B.Two hang."""
import json
import os
import sys
import time

TESTS = ["A.One", "B.Two", "C.Three"]


def write(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def main():
    if "--gtest_list_tests" in sys.argv:
        print("A.\n  One\nB.\n  Two\nC.\n  Three")
        return 0
    path = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--ckc-results="))
    skip = next((a.split("=-", 1)[1].split(":") for a in sys.argv if a.startswith("--gtest_filter=-")), [])
    doc = {"schema": 1, "run": {"id": "fake", "started": "x", "finished": None, "tool_version": "0",
                                "suites": ["fake"], "argv": sys.argv},
           "kernel": {"release": "6.18", "version": "", "arch": "x86_64", "config_source": "",
                      "cmdline": "", "cgroup_mode": "v2", "lsms": [],
                      "swap": {"total_kib": 0, "free_kib": 0, "devices": 0}},
           "machine": {"accel": "host", "cpus": 2, "memory_kib": 1}, "results": [], "benchmarks": []}
    for test in (t for t in TESTS if t not in skip):
        doc["results"].append({"id": "", "test": test, "suite": "fake", "outcome": "crash",
                               "reason": "", "details": "", "source": "", "duration_ms": 0})
        write(path, doc)
        mode = os.environ.get("FAKE_MODE")
        if test == "B.Two" and mode == "crash":
            os.kill(os.getpid(), 9)
        if test == "B.Two" and mode == "hang":
            time.sleep(600)
        doc["results"][-1].update(id="x." + test.lower(), outcome="pass")
        write(path, doc)
    doc["run"]["finished"] = "y"
    write(path, doc)
    return 0


sys.exit(main())
