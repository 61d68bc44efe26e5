"""An independent picture of the host, for checking the guard (primitives/guard.h) from outside.

It records the facts the guard compares with the system's own tools and none of ckc's code:
`ip -d link`, `ip addr`, `ip route show table all`, /proc/swaps, `losetup -a` and the loop
schedulers, zram devices, /proc/sys of the guarded keys and every user.*, the subtree_control of
each cgroup2 root, every directory named ckc-* under /sys/fs/cgroup with the processes in its
tree, ckc's run directories and records, and /proc/self/mountinfo without mount IDs, device
numbers and peer-group numbers.

What belongs to a ckc run that is alive (a POSIX lock held on its record, as /proc/locks shows)
is set apart, so a concurrent run on a shared host does not look like a change.

    python3 host_picture.py > before.json; ...; python3 host_picture.py > after.json
    python3 host_picture.py --diff before.json after.json     # exit status 1 if they differ
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

SYSCTLS = [
    "kernel.pid_max", "kernel.threads-max", "vm.overcommit_memory", "vm.swappiness",
    "vm.nr_hugepages", "vm.max_map_count", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range", "net.ipv4.ip_forward", "net.ipv4.ip_default_ttl",
    "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding", "kernel.unprivileged_userns_clone",
    "kernel.yama.ptrace_scope", "kernel.perf_event_paranoid", "fs.nr_open",
]
RUN_ID = re.compile(r"/ckc-([0-9a-f]{8})(?=/|$| )")


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def lock_dir() -> str:
    return "/run/ckc" if os.geteuid() == 0 else f"/tmp/ckc-run.{os.geteuid()}"


def live_devices(ids: set[str]) -> set[str]:
    """Devices (zram1, loop3) that live runs recorded as theirs (<lock dir>/<id>.dev.<device>)."""
    return {Path(p).name.split(".dev.", 1)[1] for i in ids
            for p in glob.glob(f"{lock_dir()}/{i}.dev.*") if ".tmp." not in p}


def held_locks() -> set[tuple[int, int, int]]:
    """(major, minor, inode) of every POSIX lock in /proc/locks."""
    held = set()
    for line in read("/proc/locks").splitlines():
        f = line.split()
        if len(f) > 5 and f[1] == "POSIX":
            major, minor, inode = f[5].split(":")
            held.add((int(major, 16), int(minor, 16), int(inode)))
    return held


def live_ids() -> set[str]:
    """Run ids whose record (or state directory lock) some process holds a lock on."""
    held, uid, ids = held_locks(), os.geteuid(), set()
    for pattern in (f"{lock_dir()}/*.lock", f"/tmp/ckc.{uid}/ckc-*/lock"):
        for path in glob.glob(pattern):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) in held:
                m = re.search(r"([0-9a-f]{8})(?:\.lock|/lock)$", path)
                if m:
                    ids.add(m.group(1))
    return ids


def mounts() -> list[str]:
    out = []
    for line in read("/proc/self/mountinfo").splitlines():
        f = line.split()
        dash = f.index("-")
        peers = [re.sub(r":\d+$", "", o) for o in f[6:dash]]
        out.append(" ".join([f[4], f[3], f[5], *peers, "-", *f[dash + 1:]]))
    return sorted(out)


def ckc_cgroups() -> list[str]:
    out = []
    found = [os.path.join(d, n) for d, subdirs, _ in os.walk("/sys/fs/cgroup")
             for n in subdirs if n.startswith("ckc-")]
    for path in found:
        procs = [p for f in glob.glob(f"{path}/**/cgroup.procs", recursive=True)
                 for p in read(f).split()]
        out.append(f"{path} processes={len(set(procs))}")
    return sorted(out)


def loops() -> list[str]:
    """One line per loop device: its scheduler, and its backing file as `losetup -a` says."""
    backing = {}
    for line in run(["losetup", "-a"]).splitlines():
        dev, rest = line.split(":", 1)
        backing[Path(dev).name] = rest.rsplit("(", 1)[-1].rstrip(")")
    out = []
    for sched in glob.glob("/sys/block/loop*/queue/scheduler"):
        dev = sched.split("/")[3]
        out.append(f"{dev} scheduler {read(sched).strip()} backing {backing.get(dev, '-')}")
    return sorted(out)


def picture() -> dict[str, list[str]]:
    swaps = [" ".join(f[:3] + f[4:]) for f in (l.split() for l in read("/proc/swaps").splitlines()[1:])]
    sysctls = SYSCTLS + ["user." + Path(p).name for p in glob.glob("/proc/sys/user/*")]
    cgroup2 = [l.split()[1] for l in read("/proc/self/mounts").splitlines() if l.split()[2] == "cgroup2"]
    addr = [l for l in run(["ip", "addr"]).splitlines() if "valid_lft" not in l]
    return {
        "links": run(["ip", "-d", "link"]).splitlines(),
        "addresses": addr,
        "routes": sorted(run(["ip", "route", "show", "table", "all"]).splitlines()
                         + run(["ip", "-6", "route", "show", "table", "all"]).splitlines()),
        "swaps": swaps,
        "loops": loops(),
        "zram": sorted(f"{Path(d).name} disksize {read(d + '/disksize').strip()}"
                       for d in glob.glob("/sys/block/zram*")),
        "sysctls": [f"{k} = {' '.join(read('/proc/sys/' + k.replace('.', '/')).split())}"
                    for k in sorted(set(sysctls))],
        "subtree_control": [f"{m} {read(m + '/cgroup.subtree_control').strip()}" for m in cgroup2],
        "ckc_cgroups": ckc_cgroups(),
        "ckc_runs": sorted(glob.glob(f"/tmp/ckc.{os.geteuid()}/ckc-*")
                           + glob.glob("/run/ckc/[0-9a-f]*")),
        "mounts": mounts(),
    }


def set_apart_live(pic: dict[str, list[str]], live_before: set[str]) -> dict[str, list[str]]:
    """Moves every line that names a run alive before or after the picture into pic["live"]
    (a run that ended while the picture was taken may be in it, or not)."""
    live, out = live_before | live_ids(), {"live": []}
    devices = live_devices(live)
    for key, lines in pic.items():
        out[key] = []
        for line in lines:
            ids = set(RUN_ID.findall(line)) | set(re.findall(r"/([0-9a-f]{8})\.(?:lock|dev\.)", line))
            words = {w.removeprefix("/dev/") for w in line.split()}
            (out["live"] if ids & live or words & devices else out[key]).append(line)
    return out


def live_picture() -> dict[str, list[str]]:
    live = live_ids()
    return set_apart_live(picture(), live)


def diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    out = []
    for key in sorted(set(before) | set(after)):
        if key == "live":
            continue
        a, b = before.get(key, []), after.get(key, [])
        out += [f"{key}: removed {l}" for l in a if l not in b]
        out += [f"{key}: added {l}" for l in b if l not in a]
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--diff", nargs=2, metavar=("BEFORE", "AFTER"))
    args = p.parse_args(argv)
    if args.diff:
        before, after = (json.loads(Path(f).read_text(encoding="utf-8")) for f in args.diff)
        changes = diff(before, after)
        print("\n".join(changes) if changes else "identical")
        return 1 if changes else 0
    json.dump(live_picture(), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
