"""QEMU command lines (x86_64) as list[str]. Which accelerator to use is vm/accel.py's job."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

QEMU_BINARY = "qemu-system-x86_64"
CGROUP_MODES = ("v1", "v2", "hybrid")
# No default devices, no user config, no window; a guest reboot ends QEMU.
COMMON_FLAGS = ("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot")


@dataclass(frozen=True)
class VmConfig:
    """One VM: kernel, initramfs, where console and results go, and its command line."""

    kernel: Path
    initrd: Path
    console_log: Path
    results_log: Path
    mode: str
    accel: str = "tcg"
    memory_mib: int = 1024
    cpus: int = 2
    suite_timeout: int = 600
    append: list[str] = field(default_factory=list)


def find_qemu() -> str | None:
    return shutil.which(QEMU_BINARY)


def mode_cmdline(mode: str) -> list[str]:
    """Kernel arguments a cgroup mode needs: v2 keeps every controller off v1 so that all of
    them can be enabled in cgroup2; v1 and hybrid need nothing (the init mounts them)."""
    if mode not in CGROUP_MODES:
        raise ValueError(f"unknown cgroup mode '{mode}'; known: {', '.join(CGROUP_MODES)}")
    return ["cgroup_no_v1=all"] if mode == "v2" else []


def kernel_cmdline(cfg: VmConfig) -> list[str]:
    """The guest kernel command line: console on ttyS0, reboot (= QEMU exits, -no-reboot) at
    once on panic, the ckc.* words the init reads, then the mode's and the user's words."""
    words = [
        "console=ttyS0,115200", "panic=-1", "quiet", "loglevel=4",
        "random.trust_cpu=on", "loop.max_loop=8",
        # A loaded TCG host makes the IO-APIC timer check fail ("IO-APIC + timer doesn't
        # work!" panic); the emulated timer is fine, so skip the check.
        "no_timer_check",
        f"ckc.mode={cfg.mode}", f"ckc.accel={cfg.accel}", f"ckc.timeout={cfg.suite_timeout}",
    ]
    return words + mode_cmdline(cfg.mode) + cfg.append


def accel_args(accel: str) -> list[str]:
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    # One TCG thread per vCPU (MTTCG) where the host supports it; -cpu max offers RDRAND, so the
    # guest's RNG is seeded without waiting for entropy.
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def machine_args(accel: str) -> list[str]:
    """Machine, accelerator and CPU model: shared by the VMs and the KVM probe (vm/accel.py), so
    the probe fails where the VMs would."""
    return ["-machine", "pc", *accel_args(accel)]


def serial_args(console_log: Path, results_log: Path) -> list[str]:
    return [
        "-chardev", f"file,id=console,path={console_log}",
        "-serial", "chardev:console",
        "-chardev", f"file,id=results,path={results_log}",
        "-serial", "chardev:results",
    ]


def build_argv(cfg: VmConfig, qemu: str = QEMU_BINARY) -> list[str]:
    """Full argv for one VM. No disk, no network device: everything is in the initramfs."""
    return [
        qemu, *machine_args(cfg.accel),
        "-m", str(cfg.memory_mib), "-smp", str(cfg.cpus), *COMMON_FLAGS,
        "-kernel", str(cfg.kernel), "-initrd", str(cfg.initrd),
        "-append", " ".join(kernel_cmdline(cfg)),
        *serial_args(cfg.console_log, cfg.results_log),
        "-device", "virtio-rng-pci",
    ]
