"""Runs the suite binaries on this host and merges their results into one run file.

A suite binary rewrites its results file after every test and records the running test as
`crash` until it ends (reports/SCHEMA.md). So when a binary dies, the test it was in stays
`crash`; when a test outlives `test_timeout`, its process group is killed and the test becomes
`timeout`. Either way the binary is started again on the tests it had not reached.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

POLL_SECONDS = 0.25


def lock_dir() -> Path:
    """The fixed directory of run records (primitives/run_scope.h RunLockDir): /run/ckc for root,
    /tmp/ckc-run.<uid> otherwise; never taken from the environment."""
    uid = os.geteuid()
    path = Path("/run/ckc") if uid == 0 else Path(f"/tmp/ckc-run.{uid}")
    path.mkdir(mode=0o700, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        raise OSError(f"{path}: not a directory of this user's alone (mode 0700)")
    return path


@contextlib.contextmanager
def run_dir() -> "contextlib.Generator[Path, None, None]":
    """A run-scoped work directory, $TMPDIR/ckc.<uid>/ckc-<id>, made the way the suite binaries
    make theirs (primitives/run_scope.h): a record <lock dir>/<id>.lock naming the directory,
    POSIX-locked while this process lives (and the directory's own `lock`, for older builds).
    If this process is killed, the next run's sweep sees the lock gone and removes both."""
    base = Path(os.environ.get("TMPDIR") or "/tmp") / f"ckc.{os.geteuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    locks = lock_dir()
    run_id = secrets.token_hex(4)
    path = base / f"ckc-{run_id}"
    making, record = locks / f".making-{run_id}.lock", locks / f"{run_id}.lock"
    # Locked under a name no sweep looks at, then linked into place (the lock stays with it).
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"dir {path}\npid {os.getpid()}\nstate running\n".encode())
        os.link(making, record)
    except BaseException:
        os.close(fd)
        raise
    finally:
        os.unlink(making)
    try:
        path.mkdir(mode=0o700)
        with open(path / "lock", "w", encoding="utf-8") as legacy:
            fcntl.lockf(legacy, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                yield path
            finally:
                shutil.rmtree(path, ignore_errors=True)
    finally:
        record.unlink(missing_ok=True)
        os.close(fd)


@dataclass
class SuiteOutcome:
    suite: str
    header: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


def list_tests(binary: Path) -> list[str]:
    """Test names (Suite.Name) the binary holds, from --gtest_list_tests."""
    out = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    tests, suite = [], ""
    for line in out.splitlines():
        if not line.strip() or line.startswith("Running main"):
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
        else:
            tests.append(suite + line.split("#")[0].strip())
    return tests


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _watch(proc: subprocess.Popen[bytes], results: Path, test_timeout: float) -> str | None:
    """Waits for `proc`; kills its group when one test runs past `test_timeout`.
    Returns the name of the test that timed out, if any."""
    running, since = None, time.monotonic()
    while proc.poll() is None:
        time.sleep(POLL_SECONDS)
        doc = _read(results)
        entries = doc["results"] if doc else []
        current = entries[-1]["test"] if entries and entries[-1]["outcome"] == "crash" else None
        if current != running:
            running, since = current, time.monotonic()
        elif running and time.monotonic() - since > test_timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return running
    return None


def _attempt(binary: Path, args: list[str], results: Path, log: Path,
             test_timeout: float) -> tuple[dict[str, Any] | None, str | None, int]:
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(binary), f"--ckc-results={results}", *args], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            timed_out = _watch(proc, results, test_timeout)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return _read(results), timed_out, proc.returncode


def run_suite(binary: Path, work: Path, test_timeout: float,
              progress: Callable[[str], None]) -> SuiteOutcome:
    suite = binary.name.removeprefix("ckc-suite-")
    outcome = SuiteOutcome(suite)
    log = work / f"{suite}.log"
    done: list[str] = []
    for attempt in range(1000):
        results = work / f"{suite}.{attempt}.json"
        args = [f"--gtest_filter=-{':'.join(done)}"] if done else []
        doc, timed_out, rc = _attempt(binary, args, results, log, test_timeout)
        entries = doc["results"] if doc else []
        if doc and outcome.header is None:
            outcome.header = doc
        for entry in entries:
            if entry["outcome"] == "crash":
                _mark_died(entry, timed_out, rc, test_timeout, log)
            outcome.results.append(entry)
            done.append(entry["test"])
            progress(f"{suite}: {entry['test']} {entry['outcome']}")
        if doc and doc["run"].get("finished"):
            break
        if not entries:
            outcome.results.append(_no_results(suite, rc, log))
            break
    return outcome


def _mark_died(entry: dict[str, Any], timed_out: str | None, rc: int, limit: float,
               log: Path) -> None:
    if timed_out == entry["test"]:
        entry["outcome"] = "timeout"
        entry["details"] = f"still running after {limit:.0f} s; its process group was killed"
    else:
        entry["details"] = f"the suite process died during this test (exit status {rc})"
    entry["details"] += "\n--- output tail ---\n" + _tail(log)


def _no_results(suite: str, rc: int, log: Path) -> dict[str, Any]:
    return {"id": "", "test": f"{suite}.*", "suite": suite, "outcome": "crash", "reason": "",
            "details": f"the suite binary wrote no results (exit status {rc})\n" + _tail(log),
            "source": "", "duration_ms": 0}


def run_suite_filtered(binary: Path, work: Path, gtest_filter: str, timeout: float) -> SuiteOutcome:
    """Runs the tests of `binary` that match `gtest_filter` once (no restarts)."""
    suite = binary.name.removeprefix("ckc-suite-")
    tag = gtest_filter.replace("*", "_").replace(":", "_")
    results = work / f"{suite}.{tag}.json"
    log = work / f"{suite}.{tag}.log"
    doc, timed_out, rc = _attempt(binary, [f"--gtest_filter={gtest_filter}"], results, log, timeout)
    outcome = SuiteOutcome(suite, doc)
    for entry in (doc["results"] if doc else []):
        if entry["outcome"] == "crash":
            _mark_died(entry, timed_out, rc, timeout, log)
        if entry["outcome"] == "fail":
            entry["details"] += "\n--- output tail ---\n" + _tail(log)
        outcome.results.append(entry)
    if not outcome.results:
        outcome.results.append(_no_results(suite, rc, log))
    return outcome
