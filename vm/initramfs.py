"""Build the guest initramfs: busybox-static, suite binaries and their libraries, the host guard,
the host programs the suites exec (apparmor_parser, mkfs.ext4) with theirs, the kernel's
modules the suites need (uncompressed, dependency-ordered), the init script, /etc files.

One initramfs per kernel (modules differ); the cgroup mode and accelerator go on the kernel
command line, so the same image serves every mode.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vm import elfdeps, modules
from vm.cpio import CpioWriter
from vm.kernels import Kernel

INIT_SCRIPT = Path(__file__).parent / "guest" / "init.sh"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
MODULE_PARAMS = {"loop": "max_loop=8", "zram": "num_devices=1"}
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
# Programs the suites exec that busybox lacks, by the Debian package that brings them: an
# AppArmor profile the security rows load, ext4 images for idmapped mounts where tmpfs has none.
GUEST_TOOLS = {"apparmor_parser": "apparmor", "mkfs.ext4": "e2fsprogs"}
TOOL_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
# Files a tool reads, by guest path: the host's file of that path (None; left out where the host
# has none) or these contents.
TOOL_CONFIG: dict[str, dict[str, bytes | None]] = {
    "mkfs.ext4": {"etc/mke2fs.conf": None},
    # No options: the parser compiles for the running kernel's features (from securityfs), not
    # for the feature set Debian's file pins; without any file it warns on every call.
    "apparmor_parser": {"etc/apparmor/parser.conf": b"# ckc guest: no options\n"},
}
# The host guard in the guest: (name of the results it ships, its test), before the suites and
# after the last binary; the init reads them from ckc/guard-before.list and guard-after.list.
GUARD_STEPS = (("guard-snapshot", "HostGuard.Snapshot"), ("guard-unchanged", "HostGuard.Unchanged"))


@dataclass(frozen=True)
class Payload:
    """What goes into the guest: name → host binary, for suites and benchmarks."""

    suites: dict[str, Path]
    benches: dict[str, Path] = field(default_factory=dict)
    helpers: list[Path] = field(default_factory=list)  # exec'd by suites from beside them
    bench_args: list[str] = field(default_factory=list)  # e.g. ["--short"], for every bench
    tools: dict[str, Path] = field(default_factory=dict)  # name → host program, /usr/sbin/<name>
    guard: Path | None = None  # ckc-guard: snapshot before the suites, comparison after


@dataclass
class BuildReport:
    """What the initramfs ended up holding, for logs and tests."""

    modules: list[str] = field(default_factory=list)
    missing_modules: list[str] = field(default_factory=list)  # neither a module nor built in
    builtin_modules: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    size: int = 0


class InitramfsError(RuntimeError):
    """The initramfs cannot be built (no busybox, a library not found, ...)."""


def find_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and not elfdeps.shared_libraries(path):
            return path
    raise InitramfsError("a static busybox is needed (apt-get install busybox-static)")


def find_tool(name: str) -> Path | None:
    """A host program by name: on PATH, else in the sbin directories a user's PATH may lack."""
    found = shutil.which(name)
    if found:
        return Path(found)
    return next((Path(d) / name for d in TOOL_DIRS if (Path(d) / name).is_file()), None)


def find_tools(names: tuple[str, ...] = tuple(GUEST_TOOLS)) -> tuple[dict[str, Path], list[str]]:
    """({name: host path} of the guest tools this host has, names it lacks)."""
    found = {name: path for name in names if (path := find_tool(name)) is not None}
    return found, [name for name in names if name not in found]


def busybox_applets(busybox: Path) -> list[str]:
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                         check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def add_base(cpio: CpioWriter, busybox: Path, shadowed: frozenset[str] = frozenset()) -> None:
    """The directories, busybox and its applet links (but none named like a real program
    the payload brings: `shadowed`), the init and /etc."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "root",
              "etc", "mnt", "var/tmp", "lib/x86_64-linux-gnu"):
        cpio.add_dir(d)
    cpio.add_chardev("dev/console", 5, 1)
    cpio.add_chardev("dev/null", 1, 3, 0o666)
    cpio.add_file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in busybox_applets(busybox):
        if applet != "bin/busybox" and applet.rpartition("/")[2] not in shadowed:
            depth = applet.count("/")
            cpio.add_symlink(applet, "../" * depth + "bin/busybox")
    cpio.add_symlink("lib64", "lib")
    cpio.add_file("init", INIT_SCRIPT.read_bytes(), 0o755)
    cpio.add_file("etc/passwd", PASSWD.encode())
    cpio.add_file("etc/group", GROUP.encode())
    cpio.add_file("etc/hosts", b"127.0.0.1 localhost ckc-guest\n::1 localhost\n")


def add_payload(cpio: CpioWriter, payload: Payload, report: BuildReport) -> None:
    guard = [payload.guard] if payload.guard else []
    binaries = [*payload.suites.values(), *payload.benches.values(), *payload.helpers, *guard,
                *payload.tools.values()]
    try:
        libs = elfdeps.libraries_for(binaries)
    except elfdeps.ElfError as err:
        raise InitramfsError(str(err)) from err
    for lib in libs:
        if lib.path.startswith("/lib64/"):
            # /lib64 is a link to /lib in the guest; keep the loader at its PT_INTERP path.
            cpio.add_file("lib/" + lib.path.removeprefix("/lib64/"), lib.source.read_bytes(),
                          0o755)
        else:
            cpio.add_file(lib.path, lib.source.read_bytes(), 0o755)
        report.libraries.append(lib.path)
    for kind, table in (("suites", payload.suites), ("bench", payload.benches)):
        lines = []
        args = payload.bench_args if kind == "bench" else []
        for name, path in table.items():
            cpio.add_file(f"ckc/bin/{path.name}", without_debug_info(path), 0o755)
            lines.append(" ".join([name, f"/ckc/bin/{path.name}", *args]) + "\n")
        cpio.add_file(f"ckc/{kind}.list", "".join(lines).encode())
    for helper in [*payload.helpers, *guard]:
        cpio.add_file(f"ckc/bin/{helper.name}", without_debug_info(helper), 0o755)
    add_guard_lists(cpio, payload.guard)
    add_tools(cpio, payload.tools, report)


def add_guard_lists(cpio: CpioWriter, guard: Path | None) -> None:
    """ckc/guard-before.list and guard-after.list, run-list lines of the guard's two steps
    (empty without a guard)."""
    for (name, test), which in zip(GUARD_STEPS, ("before", "after")):
        line = f"{name} /ckc/bin/{guard.name} --gtest_filter={test}\n" if guard else ""
        cpio.add_file(f"ckc/guard-{which}.list", line.encode())


def add_tools(cpio: CpioWriter, tools: dict[str, Path], report: BuildReport) -> None:
    """Each tool at /usr/sbin/<name> under the name it was asked by (mkfs.ext4 is mke2fs and
    picks the file system from its name), with the configuration file it reads."""
    for name, path in tools.items():
        cpio.add_file(f"usr/sbin/{name}", path.resolve().read_bytes(), 0o755)
        report.tools.append(name)
        for guest_path, data in TOOL_CONFIG.get(name, {}).items():
            host = Path("/" + guest_path)
            if data is None and host.is_file():
                data = host.read_bytes()
            if data is not None:
                cpio.add_file(guest_path, data)


def without_debug_info(binary: Path) -> bytes:
    """The binary's bytes without DWARF (RelWithDebInfo builds are mostly debug info, which
    only slows the guest's unpacking); the file itself when objcopy is not there."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        return binary.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ckc-strip-") as tmp:
        out = Path(tmp) / binary.name
        proc = subprocess.run([objcopy, "--strip-debug", str(binary), str(out)],
                              capture_output=True)
        return out.read_bytes() if proc.returncode == 0 else binary.read_bytes()


def add_modules(cpio: CpioWriter, kernel: Kernel, wanted: list[str], cache_dir: Path,
                report: BuildReport) -> None:
    if kernel.modules_dir is None:
        report.missing_modules = list(wanted)
        cpio.add_file("ckc/modules.list", b"")
        return
    dep_cache = cache_dir / f"modules.dep-{kernel.release}" if kernel.package else None
    deps = modules.parse_modules_dep(modules.modules_dep_text(kernel.modules_dir, dep_cache))
    loads, missing = modules.resolve_order(wanted, deps)
    lines = []
    for load in loads:
        data = modules.decompressed_bytes(kernel.modules_dir / load.relpath)
        cpio.add_file(f"ckc/modules/{modules.guest_name(load)}", data)
        params = MODULE_PARAMS.get(load.name, "")
        lines.append(f"{modules.guest_name(load)} {params}".rstrip() + "\n")
        report.modules.append(load.name)
    builtin = modules.builtin_names(kernel.modules_dir)
    report.builtin_modules = [m for m in missing if m.replace("-", "_") in builtin]
    report.missing_modules = [m for m in missing if m not in report.builtin_modules]
    cpio.add_file("ckc/modules.list", "".join(lines).encode())
    if kernel.config is not None:
        cpio.add_file(f"boot/config-{kernel.release}", kernel.config.read_bytes())


def build(kernel: Kernel, payload: Payload, wanted_modules: list[str], out: Path,
          cache_dir: Path) -> BuildReport:
    """Write a gzip-compressed newc initramfs for `kernel` to `out` (atomically)."""
    report = BuildReport()
    busybox = find_busybox()
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb",
                                                   compresslevel=1, mtime=0) as gz:
            cpio = CpioWriter(gz)  # type: ignore[arg-type]
            add_base(cpio, busybox, frozenset(payload.tools))
            add_payload(cpio, payload, report)
            add_modules(cpio, kernel, wanted_modules, cache_dir, report)
            cpio.close()
        tmp.rename(out)
    finally:
        if tmp.exists():
            tmp.unlink()
    report.size = out.stat().st_size
    return report


def have_tools() -> list[str]:
    """Host tools the build needs that are missing."""
    return [t for t in ("ldd",) if shutil.which(t) is None]
