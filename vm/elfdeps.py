"""Shared libraries an ELF binary loads, resolved the way the dynamic loader resolves them.

`ldd` is asked (it runs the real loader in trace mode, so search paths, RUNPATH and the
ld.so cache are honoured) and its answer is parsed; the loader itself (PT_INTERP) is listed
too, since the guest needs it at exactly that path.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Library:
    """A library as the guest must see it: `path` in the guest, `source` on the host."""

    path: str
    source: Path


class ElfError(RuntimeError):
    """A needed library could not be found."""


def parse_ldd(text: str) -> tuple[list[str], list[str]]:
    """(library paths, names ldd could not find) from ldd output."""
    found: list[str] = []
    missing: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            target = rest.strip().split(" (", 1)[0].strip()
            if target == "not found":
                missing.append(name.strip())
            elif target.startswith("/"):
                found.append(target)
        elif line.startswith("/"):
            found.append(line.split(" (", 1)[0].strip())  # the dynamic loader
    return found, missing


def shared_libraries(binary: Path) -> list[Library]:
    """Libraries (and loader) `binary` needs; [] for a static binary."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if proc.returncode != 0:
        if "not a dynamic executable" in proc.stdout + proc.stderr:
            return []
        raise ElfError(f"ldd {binary}: {proc.stderr.strip() or proc.stdout.strip()}")
    found, missing = parse_ldd(proc.stdout)
    if missing:
        raise ElfError(f"{binary}: libraries not found: {', '.join(missing)}")
    return [Library(path=p, source=Path(p).resolve()) for p in found]


def libraries_for(binaries: list[Path]) -> list[Library]:
    """Union of the libraries of all binaries, each guest path once, in a stable order."""
    seen: dict[str, Library] = {}
    for binary in binaries:
        for lib in shared_libraries(binary):
            seen.setdefault(lib.path, lib)
    return [seen[k] for k in sorted(seen)]
