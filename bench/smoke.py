#!/usr/bin/env python3
"""Smoke self-test of one ckc benchmark binary (ctest label bench-smoke).

Runs the binary in its smallest mode (--smoke: tiny sizes, 2 rounds) and checks that it exits 0,
writes valid Google Benchmark JSON, and that every entry names a bench.* catalogue ID in its
label. Then the same as nobody (setpriv): exit 0 and valid JSON again, holding entries or, for a
binary that cannot run unprivileged, none and the reason in context ckc_skipped. It checks that
the benchmarks run, never their figures. Exit 77 (skip) when not root: the benchmarks make
cgroups, namespaces and mounts.

An entry that errored fails the smoke test, unless its error names a requirement the machine
lacks (needs:, config:, kernel:, cmdline:, cgroup-mode:) or is the documented v2 limit (depth 1
cannot be attached to, setup:attach; bench/README.md "Known limits"); so does a run whose
entries all errored or that wrote none without saying why (ckc_skipped).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# Errors that are a documented skip: a requirement the machine lacks (as the suites' Require).
# The harness labels such an entry "<id> skipped" (checks.h IsSkipReason), any other "errored".
REQUIREMENTS = ("needs:", "config:", "kernel:", "cmdline:", "cgroup-mode:", "thp:never",
                "thp:unavailable")
# (case name pattern, error prefix): limits bench/README.md documents for one configuration.
DOCUMENTED = ((r"/depth:1(/|$)", "setup:attach"),)


def documented_skip(entry: dict[str, Any]) -> bool:
    message = str(entry.get("error_message", ""))
    if message.startswith(REQUIREMENTS) or str(entry.get("label", "")).endswith(" skipped"):
        return True
    name = str(entry.get("name", ""))
    return any(re.search(pattern, name) and message.startswith(prefix)
               for pattern, prefix in DOCUMENTED)


def judge(doc: Any, as_nobody: bool) -> str | None:
    """None when a binary's JSON passes, else what is wrong (one line)."""
    if not isinstance(doc, dict):
        return "JSON is not an object"
    entries = doc.get("benchmarks")
    skipped = (doc.get("context") or {}).get("ckc_skipped")
    if skipped and entries == []:
        if as_nobody:
            return None if "needs:root" in skipped else f"skipped for another reason: {skipped}"
        return None  # a documented skip of the whole binary (e.g. config:CONFIG_MEMCG_V1)
    if not isinstance(entries, list) or not entries:
        return "no benchmark entries"
    for e in entries:
        label = str(e.get("label", ""))
        if not label.startswith("bench."):
            return f"entry {e.get('name')!r} names no bench.* ID (label {label!r})"
    errored = [e for e in entries if e.get("error_occurred")]
    if len(errored) == len(entries):
        return f"every entry errored (first: {errored[0].get('error_message')})"
    for e in errored:
        if not documented_skip(e):
            return f"entry {e.get('name')!r} errored: {e.get('error_message')}"
    return None


def check(binary: str, as_nobody: bool = False) -> str | None:
    """None when the binary passes, else what is wrong (one line)."""
    with tempfile.TemporaryDirectory(prefix="ckc-bench-smoke.") as tmp:
        os.chmod(tmp, 0o777)
        out = os.path.join(tmp, "bench.json")
        proc = subprocess.run([*(NOBODY if as_nobody else []), binary, "--smoke",
                               f"--json={out}"], capture_output=True, text=True, timeout=55,
                              check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return f"exit {proc.returncode}: {tail}"
        try:
            with open(out, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            return f"no valid JSON: {e}"
    return judge(doc, as_nobody)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: smoke.py BENCH_BINARY", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("skip: needs:root", file=sys.stderr)
        return 77
    for as_nobody in (False, True):
        problem = check(argv[0], as_nobody)
        if problem:
            who = " as nobody" if as_nobody else ""
            print(f"{os.path.basename(argv[0])}{who}: {problem}", file=sys.stderr)
            return 1
    print(f"{os.path.basename(argv[0])}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
