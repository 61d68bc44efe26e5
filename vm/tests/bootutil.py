"""Shared set-up of the real-boot tests: the build's suite binaries and one Debian kernel."""

from __future__ import annotations

import functools
import os
import unittest
from pathlib import Path

from vm import accel, initramfs, kernels, qemu, runner

REPO = Path(__file__).resolve().parents[2]
# Both package layouts: boot/ + lib/modules (bookworm), and sid's split linux-binary/-modules
# packages under usr/lib/modules with xz-compressed modules. trixie is left to the matrix run:
# its 6.12 kernel faults now and then under TCG (vm/README.md).
BOOT_KERNELS = os.environ.get("CKC_VM_TEST_KERNELS", "bookworm,sid").split(",")


def build_dir() -> Path:
    return Path(os.environ.get("CKC_BUILD_DIR") or REPO / "build")


def payload_or_skip(suites: tuple[str, ...] = ("namespaces",),
                    guard: bool = False) -> initramfs.Payload:
    """The suites asked for (skips the test where one is not built), with the host guard's two
    steps around them when `guard` is asked for and the guard is built."""
    found = {}
    for name in suites:
        path = build_dir() / "suites" / f"ckc-suite-{name}"
        if not path.is_file():
            raise unittest.SkipTest(f"{path} not built (set CKC_BUILD_DIR)")
        found[name] = path
    guard_binary = build_dir() / "suites" / "ckc-guard"
    return initramfs.Payload(suites=found,
                             guard=guard_binary if guard and guard_binary.is_file() else None)


def kernels_or_skip(names: list[str]) -> list[kernels.Kernel]:
    if qemu.find_qemu() is None:
        raise unittest.SkipTest("qemu-system-x86_64 not installed")
    entries, _, _ = kernels.load_matrix()
    return kernels.resolve(names, entries)


@functools.cache
def accel_choice() -> accel.Choice:
    """$CKC_ACCEL or auto, probed once per test process (a hanging probe costs its bound)."""
    return accel.choose(accel.requested(None, os.environ), qemu.find_qemu() or "")


def config(out: Path, chosen: list[kernels.Kernel], modes: list[str],
           payload: initramfs.Payload, **kw) -> runner.RunConfig:
    _, _, modules = kernels.load_matrix()
    choice = accel_choice()
    return runner.RunConfig(kernels=chosen, modes=modes, payload=payload, modules=modules,
                            out=out, accel=choice.accel, accel_reason=choice.reason,
                            qemu=qemu.find_qemu() or "", jobs=2, **kw)


def quiet(_msg: str) -> None:
    pass
