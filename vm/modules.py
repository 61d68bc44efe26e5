"""Kernel modules for the guest: dependency order from modules.dep, decompression.

The guest loads modules with busybox `insmod` one by one, so the host hands it an ordered list
of uncompressed .ko files (dependencies first) instead of relying on the guest's modprobe
understanding .ko.xz/.ko.zst or a modules.dep it may not have.
"""

from __future__ import annotations

import lzma
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

COMPRESSED_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz")


@dataclass(frozen=True)
class ModuleLoad:
    """One module to insmod in the guest: its path relative to the modules dir."""

    name: str
    relpath: str


def module_name(relpath: str) -> str:
    """`kernel/net/sched/sch_htb.ko.xz` → `sch_htb` (dashes and underscores are one in names)."""
    base = relpath.rsplit("/", 1)[-1]
    for suffix in (*COMPRESSED_SUFFIXES, ".ko"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep → {relpath: [dependency relpaths, as listed]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or ":" not in line:
            continue
        path, _, rest = line.partition(":")
        deps[path.strip()] = rest.split()
    return deps


def resolve_order(wanted: list[str], deps: dict[str, list[str]]) -> tuple[list[ModuleLoad],
                                                                          list[str]]:
    """Modules to load for `wanted` names, dependencies before dependants, each once.

    Returns (loads, missing names). A name that is not in modules.dep is missing (not built, or
    built in — then it needs no loading either)."""
    by_name = {module_name(p): p for p in deps}
    order: list[ModuleLoad] = []
    seen: set[str] = set()
    missing: list[str] = []

    def visit(path: str, stack: tuple[str, ...]) -> None:
        if path in seen or path in stack:
            return
        for dep in deps.get(path, []):
            visit(dep, (*stack, path))
        seen.add(path)
        order.append(ModuleLoad(module_name(path), path))

    for name in wanted:
        path = by_name.get(name.replace("-", "_"))
        if path is None:
            missing.append(name)
        else:
            visit(path, ())
    return order, missing


def builtin_names(modules_dir: Path) -> set[str]:
    """Names of the modules built into the kernel (modules.builtin, shipped in the package);
    empty when the file is not there."""
    path = modules_dir / "modules.builtin"
    if not path.is_file():
        return set()
    return {module_name(line.strip()) for line in path.read_text().splitlines() if line.strip()}


def modules_dep_text(modules_dir: Path, cache_file: Path | None = None) -> str:
    """modules.dep of a modules dir: its own file, a cached one, or generated with depmod -n
    (Debian packages ship no modules.dep: the postinst makes it)."""
    own = modules_dir / "modules.dep"
    if own.is_file() and own.stat().st_size > 0:
        return own.read_text()
    if cache_file is not None and cache_file.is_file():
        return cache_file.read_text()
    text = _run_depmod(modules_dir)
    if cache_file is not None:
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(cache_file)
    return text


def _run_depmod(modules_dir: Path) -> str:
    if shutil.which("depmod") is None and not Path("/usr/sbin/depmod").exists():
        raise RuntimeError("depmod (kmod) is needed to resolve module dependencies")
    depmod = shutil.which("depmod") or "/usr/sbin/depmod"
    release = modules_dir.name
    with tempfile.TemporaryDirectory(prefix="ckc-depmod-") as base:
        link_parent = Path(base) / "lib/modules"
        link_parent.mkdir(parents=True)
        (link_parent / release).symlink_to(modules_dir.resolve())
        out = subprocess.run([depmod, "-n", "-b", base, release], capture_output=True,
                             text=True, check=True).stdout
    dep_lines: list[str] = []
    for line in out.splitlines():
        if line.startswith("#"):
            break  # depmod -n prints modules.dep first, then the other files
        dep_lines.append(line)
    return "\n".join(dep_lines) + "\n"


def decompressed_bytes(path: Path) -> bytes:
    """Contents of a module file, decompressed when it is .xz/.zst/.gz."""
    name = path.name
    if name.endswith(".xz"):
        return lzma.decompress(path.read_bytes())
    if name.endswith(".gz"):
        import gzip
        return gzip.decompress(path.read_bytes())
    if name.endswith(".zst"):
        if shutil.which("zstd") is None:
            raise RuntimeError(f"{path}: zstd is needed to decompress it (apt-get install zstd)")
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True,
                              check=True).stdout
    return path.read_bytes()


def guest_name(load: ModuleLoad) -> str:
    """File name the module gets in the guest (uncompressed)."""
    return load.name + ".ko"
