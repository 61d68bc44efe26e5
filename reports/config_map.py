"""Config evidence: which kernel CONFIG options the catalogue rows depend on.

    opts = read_config(path)                 # {"CONFIG_USER_NS": "y", ...}; ConfigError if bad
    rows_for("CONFIG_MEMCG_V1")              # ["mem.*"] patterns, with the mode they apply to
    explain_reason("config:CONFIG_VETH")     # "CONFIG_VETH (veth pairs): net.veth-*" or ""

A skip reason `config:CONFIG_X` names the option; this table adds what it is and which rows
need it, for the report and for `ckc check-config`. Patterns are fnmatch globs on row IDs.
"""
from __future__ import annotations

import fnmatch
import gzip
import os
import platform
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigOption:
    name: str
    area: str
    what: str
    rows: tuple[str, ...]
    mode: str = ""  # "v1"/"v2" when the dependency holds in that cgroup mode only


def _o(name: str, area: str, what: str, rows: str, mode: str = "") -> ConfigOption:
    return ConfigOption(name, area, what, tuple(rows.split()), mode)


OPTIONS: tuple[ConfigOption, ...] = (
    _o("CONFIG_NAMESPACES", "Namespaces", "namespace support", "ns.*"),
    _o("CONFIG_UTS_NS", "Namespaces", "UTS namespaces", "uts.* ns.clone-partial"),
    _o("CONFIG_IPC_NS", "Namespaces", "IPC namespaces", "ipc.*"),
    _o("CONFIG_SYSVIPC", "Namespaces", "System V IPC", "ipc.sysv-*"),
    _o("CONFIG_POSIX_MQUEUE", "Namespaces", "POSIX message queues", "ipc.posix-mq-isolated"),
    _o("CONFIG_PID_NS", "Namespaces", "PID namespaces", "pid.*"),
    _o("CONFIG_NET_NS", "Namespaces", "network namespaces", "net.*"),
    _o("CONFIG_USER_NS", "Namespaces", "user namespaces", "user.* ovl.userns-mount"),
    _o("CONFIG_VETH", "Network", "veth pairs", "net.veth-*"),
    _o("CONFIG_TMPFS", "Mount", "tmpfs", "mnt.private-tmpfs mnt.mask-paths"),
    _o("CONFIG_CGROUPS", "Control groups", "control groups", "cg.*"),
    _o("CONFIG_MEMCG", "Control groups", "memory controller", "mem.*"),
    _o("CONFIG_MEMCG_V1", "Control groups", "memory controller in cgroup v1 (optional "
       "since 6.11)", "mem.*", "v1"),
    _o("CONFIG_MEMCG_KMEM", "Control groups", "kernel memory accounting (before 5.x merged it)",
       "mem.kmem-accounted"),
    _o("CONFIG_SWAP", "Control groups", "swap", "mem.memsw-limit-kill "
       "mem.limit-without-memsw-swaps mem.swap-max-kill"),
    _o("CONFIG_MEMCG_SWAP", "Control groups", "swap accounting (before 6.1)",
       "mem.memsw-limit-kill mem.swap-max-kill"),
    _o("CONFIG_CGROUP_CPUACCT", "Control groups", "cpuacct controller",
       "cpu.usage-accounting cpu.per-cpu-usage", "v1"),
    _o("CONFIG_CGROUP_SCHED", "Control groups", "CPU controller", "cpu.weights-proportional "
       "cpu.quota-throttles"),
    _o("CONFIG_FAIR_GROUP_SCHED", "Control groups", "group scheduling for SCHED_OTHER",
       "cpu.weights-proportional"),
    _o("CONFIG_CFS_BANDWIDTH", "Control groups", "CPU bandwidth (quota)", "cpu.quota-throttles"),
    _o("CONFIG_CPUSETS", "Control groups", "cpuset controller", "cpuset.*"),
    _o("CONFIG_CPUSETS_V1", "Control groups", "cpuset in cgroup v1 (optional since 6.12)",
       "cpuset.*", "v1"),
    _o("CONFIG_BLK_CGROUP", "Control groups", "block I/O controller", "io.*"),
    _o("CONFIG_BLK_DEV_THROTTLING", "Control groups", "block I/O throttling",
       "io.throttle-direct io.buffered-writes-bypass"),
    _o("CONFIG_BFQ_GROUP_IOSCHED", "Control groups", "BFQ group scheduling (weights)",
       "io.weight"),
    _o("CONFIG_CGROUP_PIDS", "Control groups", "pids controller", "pids.max"),
    _o("CONFIG_CGROUP_FREEZER", "Control groups", "freezer controller", "freezer.*", "v1"),
    _o("CONFIG_CGROUP_DEVICE", "Control groups", "devices controller", "devices.allow-list"),
    _o("CONFIG_CGROUP_BPF", "Control groups", "BPF programs on cgroups (v2 devices)",
       "devices.allow-list", "v2"),
    _o("CONFIG_CGROUP_NET_CLASSID", "Control groups", "net_cls controller", "netcls.classid",
       "v1"),
    _o("CONFIG_NET_CLS_CGROUP", "Control groups", "tc cgroup classifier", "netcls.classid",
       "v1"),
    _o("CONFIG_CGROUP_NET_PRIO", "Control groups", "net_prio controller", "netprio.ifpriomap",
       "v1"),
    _o("CONFIG_CGROUP_HUGETLB", "Control groups", "hugetlb controller", "hugetlb.limit"),
    _o("CONFIG_CGROUP_PERF", "Control groups", "perf_event controller", "perf.cgroup-events"),
    _o("CONFIG_CGROUP_RDMA", "Control groups", "rdma controller", "rdma.present"),
    _o("CONFIG_OVERLAY_FS", "Overlay", "overlay file system", "ovl.*"),
    _o("CONFIG_OVERLAY_FS_REDIRECT_DIR", "Overlay", "overlay redirect_dir default",
       "ovl.dir-rename"),
    _o("CONFIG_OVERLAY_FS_METACOPY", "Overlay", "overlay metacopy default",
       "ovl.copy-up-metadata"),
    _o("CONFIG_SECCOMP", "Security", "seccomp", "seccomp.*"),
    _o("CONFIG_SECCOMP_FILTER", "Security", "seccomp BPF filters", "seccomp.filter-* "
       "seccomp.trap-sigsys seccomp.kill-process seccomp.user-notif seccomp.inherited "
       "seccomp.needs-nnp"),
    _o("CONFIG_SECURITYFS", "Security", "securityfs (/sys/kernel/security)", "lsm.active"),
    _o("CONFIG_SECURITY_APPARMOR", "Security", "AppArmor", "lsm.active"),
    _o("CONFIG_SECURITY_SELINUX", "Security", "SELinux", "lsm.active"),
)

BY_NAME: dict[str, ConfigOption] = {o.name: o for o in OPTIONS}


class ConfigError(Exception):
    """A config file that cannot be read or is not a kernel config (one line)."""


def parse_config(text: str) -> dict[str, str]:
    """CONFIG_X=y|m|"str" -> value; "# CONFIG_X is not set" -> "n"."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            values[line[2:-len(" is not set")]] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value.strip('"')
    return values


def read_config(path: str | os.PathLike[str]) -> dict[str, str]:
    """Reads a plain or gzip-compressed kernel config; ConfigError names the file and problem."""
    name = str(path)
    try:
        data = Path(name).read_bytes()
    except OSError as err:
        raise ConfigError(f"{name}: cannot read: {err.strerror or err}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise ConfigError(f"{name}: broken gzip data: {err}") from None
    values = parse_config(data.decode("utf-8", errors="replace"))
    if not values:
        raise ConfigError(f"{name}: not a kernel config (no CONFIG_ lines)")
    return values


def running_kernel_config() -> str | None:
    """Path of the running kernel's config: /proc/config.gz, else /boot/config-$(uname -r)."""
    for p in ("/proc/config.gz", f"/boot/config-{platform.release()}"):
        if os.path.isfile(p) and os.access(p, os.R_OK):
            return p
    return None


def rows_for(option: str) -> list[str]:
    opt = BY_NAME.get(option)
    return list(opt.rows) if opt else []


def matches(option: ConfigOption, row_id: str) -> bool:
    return any(fnmatch.fnmatchcase(row_id, pattern) for pattern in option.rows)


def options_for_row(row_id: str) -> list[ConfigOption]:
    return [o for o in OPTIONS if matches(o, row_id)]


def explain_reason(reason: str) -> str:
    """For `config:CONFIG_X` a one-line explanation of the option; "" for other reasons."""
    kind, _, what = reason.partition(":")
    if kind != "config" or not what:
        return ""
    opt = BY_NAME.get(what)
    if not opt:
        return f"{what}: kernel option not set"
    mode = f", {opt.mode} only" if opt.mode else ""
    return f"{what} ({opt.what}{mode}) is not set; rows needing it: {' '.join(opt.rows)}"
