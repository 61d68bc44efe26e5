"""Which accelerator the VMs run under: KVM only where a tiny guest really runs on it.

    asked = accel.requested(args.accel, os.environ)    # --accel, else $CKC_ACCEL, else auto
    choice = accel.choose(asked, qemu_path)             # Choice("kvm"|"tcg", reason)

A /dev/kvm that opens is not enough: under nested virtualisation QEMU may abort at once (`failed
to set MSR 0x10a`, an assertion, SIGABRT) or the guest may hang at its first mode switch with the
host thread spinning. So `auto` and `kvm` boot a 64 KiB BIOS image under KVM with the machine and
CPU model of the real VMs (`qemu.machine_args`): real mode → protected mode → long mode with
paging, then a marker on COM1 and an exit through isa-debug-exit. QEMU ending first, or no marker
within the bound (QEMU is killed), means KVM is unusable. A VM that still dies of KVM later is
moved to TCG by the runner through `Fallback`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from vm import qemu

ACCELS = ("auto", "kvm", "tcg")
ENV = "CKC_ACCEL"
KVM_DEVICE = Path("/dev/kvm")
PROBE_TIMEOUT_S = 6.0
MARKER = b"ckc-kvm-probe-ok"
EXIT_PORT = 0xF4  # isa-debug-exit: the guest writes 0x31, QEMU exits with status 0x31*2+1 = 99

# The probe's code, assembled with GNU as and linked at 0; the ROM is also seen at 0xF0000, where
# the reset vector's far jump puts CS. The guest prints one letter per mode it reaches (R, P, L),
# so a hang says where it stopped.
_CODE = bytes.fromhex(
    # 16-bit, offset 0x00: cli; out 'R' to 0x3f8; lgdtl %cs:0xe8; cr0 |= PE;
    # ljmpl $0x08, $0xf001e
    "fa" "baf803" "b052" "ee" "2e660f0116e800" "0f20c0" "0c01" "0f22c0" "66ea1e000f000800"
    # 32-bit, 0x1e: ds = es = ss = 0x10; out 'P'; page tables: PML4 at 0x1000 → PDPT at 0x2000
    # → PD at 0x3000, whose entry 0 is one 2 MiB page at 0 (identity map of the ROM)
    "66b81000" "8ed8" "8ec0" "8ed0" "b050" "ee"
    "c7050010000003200000" "c7050410000000000000"
    "c7050020000003300000" "c7050420000000000000"
    "c7050030000083000000" "c7050430000000000000"
    # cr3 = 0x1000; cr4 |= PAE; EFER (MSR 0xc0000080) |= LME; cr0 |= PG; ljmp $0x18, $0xf0098
    "b800100000" "0f22d8" "0f20e0" "83c820" "0f22e0"
    "b9800000c0" "0f32" "0d00010000" "0f30"
    "0f20c0" "0d00000080" "0f22c0" "ea98000f001800"
    # 64-bit, 0x98: dx = 0x3f8; rsi = &msg; print it; out 0x31 to 0xf4; 1: hlt; jmp 1b
    "66baf803" "488d350f000000" "ac" "84c0" "7403" "ee" "ebf8" "b031" "e6f4" "f4" "ebfd"
    # 0xb2: msg "L ckc-kvm-probe-ok\n\0", padding to 8
    "4c20636b632d6b766d2d70726f62652d6f6b0a00" "6690"
    # 0xc8: GDT: null, 0x08 code32, 0x10 data, 0x18 code64 (flat); 0xe8: GDTR limit 31, base
    "0000000000000000" "ffff0000009acf00" "ffff00000092cf00" "ffff0000009aaf00"
    "1f00c8000f00")
_RESET = bytes.fromhex("ea000000f0")  # at 0xfff0: ljmp $0xf000, $0
_IMAGE_SIZE = 0x10000
_MODES = {b"R": "real mode", b"P": "protected mode", b"L": "long mode"}


class AccelError(ValueError):
    """An accelerator that cannot be had as asked; str() is the one line shown."""


@dataclass(frozen=True)
class Choice:
    """The run's accelerator; `reason` says why KVM is not used ("" when it is, or when TCG was
    asked for)."""

    accel: str
    reason: str = ""


def requested(flag: str | None, env: Mapping[str, str]) -> str:
    """The accelerator asked for: --accel, else $CKC_ACCEL (unset or empty: auto)."""
    value, where = (flag, "--accel") if flag is not None else (env.get(ENV) or "auto", ENV)
    if value not in ACCELS:
        raise AccelError(f"unknown accelerator '{value}' ({where}); allowed: {', '.join(ACCELS)}")
    return value


def device_problem(device: Path) -> str:
    if not device.exists():
        return f"no {device}"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"{device} not accessible"
    return ""


def probe_image() -> bytes:
    image = bytearray(_IMAGE_SIZE)
    image[:len(_CODE)] = _CODE
    image[0xFFF0:0xFFF0 + len(_RESET)] = _RESET
    return bytes(image)


def probe_argv(qemu_bin: str, image: Path, accel: str = "kvm") -> list[str]:
    return [qemu_bin, *qemu.machine_args(accel), "-m", "16", "-smp", "1", *qemu.COMMON_FLAGS,
            "-bios", str(image), "-serial", "stdio",
            "-device", f"isa-debug-exit,iobase={EXIT_PORT:#x},iosize=1"]


def probe_kvm(qemu_bin: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """"" if the probe guest printed its marker under KVM within `timeout`, else why not."""
    with tempfile.TemporaryDirectory(prefix="ckc-kvm-probe-") as tmp:
        image = Path(tmp) / "probe.bios"
        image.write_bytes(probe_image())
        try:
            proc = subprocess.Popen(probe_argv(qemu_bin, image), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as err:
            return f"qemu did not start: {err.strerror}"
        hung = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            _kill_group(proc)
            out, err = proc.communicate()
        finally:
            if proc.poll() is None:  # interrupted: leave nothing behind
                _kill_group(proc)
                proc.communicate()
    if MARKER in out:
        return ""
    reached = _MODES.get(re.sub(rb"[^RPL]", b"", out.split(b" ", 1)[0])[-1:], "")
    if hung:
        return (f"guest stuck after {reached}, no marker within {timeout:g} s" if reached
                else f"guest did not start within {timeout:g} s")
    return _exit_reason(proc.returncode, err.decode(errors="replace"), reached)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _exit_reason(status: int, stderr: str, reached: str) -> str:
    lines = [_unprefixed(l) for l in stderr.splitlines() if l.strip()]
    # The first error names the cause; an assertion or "terminating" line after it does not.
    line = next((l for l in lines if "failed" in l.lower() or "error" in l.lower()),
                lines[0] if lines else "")
    line = line if len(line) <= 100 else line[:97] + "..."
    if status < 0:
        what = "qemu aborted" if status == -signal.SIGABRT else \
            f"qemu killed by {signal.Signals(-status).name}"
    elif status == 0:  # -no-reboot: a triple fault ends QEMU
        what = f"guest reset {f'after {reached}' if reached else 'before running'}"
    else:
        what = f"qemu exited with status {status}"
    return f"{what}: {line}" if line else what


def choose(asked: str, qemu_bin: str, device: Path | None = None,
           timeout: float = PROBE_TIMEOUT_S) -> Choice:
    """tcg → TCG, no probe. auto → KVM if the device (default KVM_DEVICE) is there and the probe
    guest runs, else TCG with the reason. kvm → KVM, or AccelError when it is not usable."""
    if asked == "tcg":
        return Choice("tcg")
    device = device or KVM_DEVICE
    problem = device_problem(device)
    if not problem:
        why = probe_kvm(qemu_bin, timeout)
        problem = f"{device} present but unusable ({why})" if why else ""
    if not problem:
        return Choice("kvm")
    if asked == "kvm":
        raise AccelError(f"cannot use kvm: {problem}; --accel auto or tcg runs under TCG")
    return Choice("tcg", problem)


# What QEMU prints when KVM itself fails (KVM_RUN errors, kvm_* assertions, MSR set failures).
KVM_ERROR = re.compile(r"kvm|failed to set MSR", re.IGNORECASE)


def kvm_error_line(stderr: str) -> str:
    return next((_unprefixed(l) for l in stderr.splitlines() if KVM_ERROR.search(l)), "")


def _unprefixed(line: str) -> str:
    return re.sub(r"^(qemu-system-\S+: )?(error: )?", "", line.strip())


class Fallback:
    """The run's accelerator, shared by its VMs. It starts as chosen and turns to TCG for good,
    with a reason, once a boot under KVM ends before its init ran and either QEMU's stderr names
    KVM or EARLY_DEATHS such boots were silent (not a word on the console: the kernel never
    spoke, unlike a panic) while no VM reached its init under KVM."""

    EARLY_DEATHS = 2

    def __init__(self, accel: str, reason: str = "") -> None:
        self._lock = threading.Lock()
        self._accel, self._reason = accel, reason
        self._early = 0
        self._kvm_booted = False

    def current(self) -> tuple[str, str]:
        with self._lock:
            return self._accel, self._reason

    def booted_under_kvm(self) -> None:
        with self._lock:
            self._kvm_booted = True

    def died_under_kvm(self, stderr: str, silent: bool) -> str:
        """A boot under KVM ended before its init ran: the reason to boot again under TCG, or ""
        to keep KVM (then the usual retries apply)."""
        with self._lock:
            if self._accel != "kvm":
                return self._reason  # another VM has switched the run already
            self._early += silent
            line = kvm_error_line(stderr)
            if line:
                why = f"qemu under kvm failed: {line[:100]}"
            elif self._early >= self.EARLY_DEATHS and not self._kvm_booted:
                why = f"{self._early} boots under kvm ended before their init ran"
            else:
                return ""
            self._accel, self._reason = "tcg", why
            return why
