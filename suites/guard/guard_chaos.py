"""guard.chaos: runs killed at random moments leave the host as it was, and the guard says so.

Takes the guard's snapshot and an independent picture of the host (host_picture.py), does one
clean run of a suite binary on tests that make cgroups, freeze a group, attach a loop device
(and switch its scheduler) with a temporary zram swap on (CKC_TEMP_SWAP=1), then starts that run
again and again and SIGKILLs its process group at random moments — the first kills aimed at a
moment when a group is frozen, a loop device is attached and the swap is on — then one more clean
run (whose start-up sweep removes what the last killed run left). The guard's comparison must
pass, the independent pictures before and after must be identical, and nothing of ckc may be
left: groups named ckc-*, loop devices backed by files in ckc's directories, swap, run
directories and records.

    guard_chaos.py --suite build/suites/ckc-suite-cgroups --guard build/suites/ckc-guard
Exit status: 0 pass, 1 fail, 77 skip (not root).
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host_picture  # noqa: E402

FILTER = "Freezer.SigkillFrozen:Freezer.FreezeThaw:Io.Weight:Io.Accounting"
AIMS = ("frozen", "loop", "swap")  # the first kills wait for these, the rest are random
POLL = 0.01


@dataclass
class Config:
    suite: Path
    guard: Path
    kills: int
    seed: int
    work: Path


@dataclass
class Kill:
    aim: str
    after: float
    states: list[str] = field(default_factory=list)


def run_id_of(pid: int) -> str | None:
    """The id of the run whose record says it is owned by `pid` (run_scope.h's record)."""
    for record in glob.glob(f"{host_picture.lock_dir()}/*.lock"):
        if f"\npid {pid}\n" in "\n" + host_picture.read(record):
            return Path(record).stem
    return None


def states(run_id: str | None) -> list[str]:
    """Which of frozen / loop / swap the run `run_id` has on the host right now."""
    if not run_id:
        return []
    seen = []
    trees = glob.glob(f"/sys/fs/cgroup/*/ckc-{run_id}/**/", recursive=True)
    if any(host_picture.read(t + "freezer.state").startswith("FROZEN") or
           host_picture.read(t + "cgroup.freeze").startswith("1") for t in trees):
        seen.append("frozen")
    if any(f"/ckc-{run_id}/" in host_picture.read(b)
           for b in glob.glob("/sys/block/loop*/loop/backing_file")):
        seen.append("loop")
    swaps = host_picture.read("/proc/swaps")
    if any(f"/dev/{Path(d).name.split('.dev.')[1]} " in swaps
           for d in glob.glob(f"{host_picture.lock_dir()}/{run_id}.dev.zram*")):
        seen.append("swap")
    return seen


def start(cfg: Config, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CKC_TEMP_SWAP="1")
    env.pop("CKC_RUN_ID", None)
    with open(log, "ab") as out:
        return subprocess.Popen([str(cfg.suite), f"--gtest_filter={FILTER}"], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def clean_run(cfg: Config, name: str) -> tuple[int, float]:
    """A run left to finish; prints the tests that failed (the kernel's business, not this
    test's: only the host afterwards counts here)."""
    t0, log = time.monotonic(), cfg.work / f"{name}.log"
    proc = start(cfg, log)
    try:
        rc = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    span = time.monotonic() - t0
    failed = sorted({l.split()[3] for l in host_picture.read(str(log)).splitlines()
                     if l.startswith("[  FAILED  ]") and len(l.split()) > 3 and "." in l.split()[3]})
    print(f"clean run: exit {rc}, {span:.1f} s" + (f", failed: {' '.join(failed)}" if failed else ""),
          flush=True)
    return rc, span


def killed_run(cfg: Config, n: int, aim: str, span: float, rng: random.Random) -> Kill:
    """Starts a run and SIGKILLs its process group: once `aim` is on (plus a random few ms), or
    for aim "random" after a random share of a clean run's duration."""
    proc = start(cfg, cfg.work / f"killed-{n}.log")
    t0, run_id = time.monotonic(), None
    deadline = t0 + (span * rng.random() if aim == "random" else span * 1.5)
    while proc.poll() is None and time.monotonic() < deadline:
        run_id = run_id or run_id_of(proc.pid)
        if aim != "random" and aim in states(run_id):
            time.sleep(rng.uniform(0, 0.05))
            break
        time.sleep(POLL)
    kill = Kill(aim, time.monotonic() - t0, states(run_id_of(proc.pid) or run_id))
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        kill.states.append("(had ended by itself)")
    proc.wait()
    return kill


def guard(cfg: Config, step: str) -> tuple[int, str]:
    env = dict(os.environ, CKC_GUARD_FILE=str(cfg.work / "guard.json"))
    env.pop("CKC_RUN_ID", None)
    p = subprocess.run([str(cfg.guard), f"--gtest_filter=HostGuard.{step}"], env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    return p.returncode, p.stdout + p.stderr


def leftovers(pic: dict[str, list[str]]) -> list[str]:
    """What of ckc is on the host outside live runs: groups, backed loops, runs (swap and the
    rest are in the pictures' difference)."""
    left = [f"cgroup {c}" for c in pic["ckc_cgroups"]] + [f"run {r}" for r in pic["ckc_runs"]]
    return left + [f"loop {l}" for l in pic["loops"] if "/ckc" in l.split(" backing ", 1)[-1]]


def chaos(cfg: Config) -> list[str]:
    """The whole test; returns its failures."""
    rng, t0, problems = random.Random(cfg.seed), time.monotonic(), []
    before = host_picture.live_picture()
    rc, out = guard(cfg, "Snapshot")
    if rc != 0:
        return [f"guard Snapshot failed (exit {rc}):\n{out}"]
    _, span = clean_run(cfg, "clean-first")
    kills = []
    for n in range(cfg.kills):
        aim = AIMS[n] if n < len(AIMS) else rng.choice(AIMS + ("random",) * 4)
        kills.append(killed_run(cfg, n, aim, span, rng))
        k = kills[-1]
        print(f"kill {n + 1}: aimed at {k.aim}, after {k.after:.2f} s, on: "
              f"{', '.join(k.states) or 'nothing yet'}", flush=True)
    clean_run(cfg, "clean-last")
    rc, out = guard(cfg, "Unchanged")
    swept = [l for l in out.splitlines() if l.startswith("swept after a run that died")]
    print(f"guard Unchanged: exit {rc}, {len(swept)} sweeps of killed runs reported", flush=True)
    if rc != 0:
        problems.append(f"guard Unchanged failed (exit {rc}):\n{out}")
    after = host_picture.live_picture()
    problems += [f"independent picture: {d}" for d in host_picture.diff(before, after)]
    problems += [f"left on the host: {l}" for l in leftovers(after)]
    for aim in AIMS:
        if not any(aim in k.states for k in kills):
            problems.append(f"no kill happened while {aim} was on")
    print(f"chaos: {len(kills)} kills in {time.monotonic() - t0:.1f} s (seed {cfg.seed})")
    return problems


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", type=Path, required=True, help="ckc-suite-cgroups")
    p.add_argument("--guard", type=Path, required=True, help="ckc-guard")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=int(time.time()))
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("skip: needs:root (cgroups, loop devices and zram swap)")
        return 77
    with tempfile.TemporaryDirectory(prefix="ckc-chaos-") as work:
        cfg = Config(args.suite, args.guard, args.kills, args.seed, Path(work))
        problems = chaos(cfg)
        if problems:
            for log in sorted(Path(work).glob("*.log")):
                print(f"--- {log.name} (tail) ---\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-15:]))
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
