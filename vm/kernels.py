"""Kernels for the VM runner: the default matrix (kernels.json), Debian cloud kernels fetched with
apt and cached, and local kernels given as a path to a vmlinuz (plus, optionally, its modules).

Cache layout (``$XDG_CACHE_HOME/ckc`` or ``~/.cache/ckc``)::

    apt/                       private apt config, lists and .debs
    kernels/<name>.json        what <name> resolved to last time (reused without apt)
    kernels/<image pkg>_<ver>/ extracted packages + kernel.json describing the tree
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from vm import aptsrc

MATRIX_FILE = Path(__file__).with_name("kernels.json")


Log = Callable[[str], None]


@dataclass(frozen=True)
class MatrixEntry:
    """A named kernel of the matrix: the metapackage of one Debian suite."""

    name: str
    suite: str
    metapackage: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel on disk."""

    name: str                    # matrix name or the path the user gave
    vmlinuz: Path
    release: str                 # uname -r, e.g. 6.1.0-50-cloud-amd64
    modules_dir: Path | None     # lib/modules/<release>, None when built without modules
    config: Path | None = None   # the kernel's .config, shipped as /boot/config-<release>
    package: str = ""            # Debian package and version it came from ("" for local)

    def to_json(self) -> dict[str, str]:
        data = {k: str(v) if v is not None else "" for k, v in asdict(self).items()}
        return data


class KernelError(ValueError):
    """A kernel name or path that cannot be used."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ckc"


def load_matrix(path: Path = MATRIX_FILE) -> tuple[list[MatrixEntry], list[str], list[str]]:
    """(entries, default names, modules to load in the guest)."""
    data = json.loads(path.read_text())
    entries = [MatrixEntry(e["name"], e["suite"], e["metapackage"], tuple(e.get("aliases", ())))
               for e in data["kernels"]]
    return entries, list(data["default"]), list(data.get("modules", []))


def find_entry(entries: list[MatrixEntry], name: str) -> MatrixEntry | None:
    for entry in entries:
        if name == entry.name or name in entry.aliases:
            return entry
    return None


def known_names(entries: list[MatrixEntry]) -> str:
    return ", ".join(f"{e.name} ({'/'.join(e.aliases)})" if e.aliases else e.name
                     for e in entries)


def looks_like_path(spec: str) -> bool:
    return "/" in spec or spec.startswith(".")


def check_specs(specs: list[str], entries: list[MatrixEntry]) -> None:
    """Raise KernelError for the first spec that is neither a known name nor an existing file."""
    for spec in specs:
        if looks_like_path(spec):
            vmlinuz, _, modules = spec.partition(":")
            if not Path(vmlinuz).is_file():
                raise KernelError(f"kernel image not found: {vmlinuz}")
            if modules and not Path(modules).is_dir():
                raise KernelError(f"modules directory not found: {modules}")
        elif find_entry(entries, spec) is None:
            raise KernelError(f"unknown kernel '{spec}'; known: {known_names(entries)}, "
                              "or a path to a vmlinuz[:modules dir]")


def local_kernel(spec: str) -> Kernel:
    """`/path/vmlinuz` or `/path/vmlinuz:/path/lib/modules/<release>`; without a modules dir the
    release is read from the bzImage header and modules are looked for beside it."""
    image, _, modules = spec.partition(":")
    vmlinuz = Path(image).resolve()
    release = bzimage_release(vmlinuz)
    mod_dir = Path(modules).resolve() if modules else _guess_modules(vmlinuz, release)
    if mod_dir is not None and not release:
        release = mod_dir.name
    config = _first_file([vmlinuz.parent / f"config-{release}", vmlinuz.parent / ".config"])
    return Kernel(name=spec, vmlinuz=vmlinuz, release=release, modules_dir=mod_dir,
                  config=config)


def bzimage_release(vmlinuz: Path) -> str:
    """Kernel release from the bzImage setup header (kernel_version pointer at 0x20e)."""
    with vmlinuz.open("rb") as f:
        head = f.read(0x10000)
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        return ""
    offset = int.from_bytes(head[0x20E:0x210], "little") + 0x200
    text = head[offset:offset + 256].split(b"\0", 1)[0].decode(errors="replace")
    return text.split(" ", 1)[0]


def _guess_modules(vmlinuz: Path, release: str) -> Path | None:
    if not release:
        return None
    return _first_dir([vmlinuz.parent / "lib/modules" / release,
                       vmlinuz.parent.parent / "lib/modules" / release,
                       Path("/lib/modules") / release])


def _first_file(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _first_dir(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_dir()), None)


def cached_kernel(entry: MatrixEntry, root: Path | None = None) -> Kernel | None:
    """The kernel `entry` resolved to last time, if its tree is still complete."""
    pointer = (root or cache_root()) / "kernels" / f"{entry.name}.json"
    if not pointer.is_file():
        return None
    try:
        data = json.loads(pointer.read_text())
        kernel = _kernel_from_json(data)
    except (ValueError, KeyError):
        return None
    return kernel if kernel.vmlinuz.is_file() else None


def _kernel_from_json(data: dict[str, str]) -> Kernel:
    def opt(key: str) -> Path | None:
        return Path(data[key]) if data.get(key) else None
    return Kernel(name=data["name"], vmlinuz=Path(data["vmlinuz"]), release=data["release"],
                  modules_dir=opt("modules_dir"), config=opt("config"),
                  package=data.get("package", ""))


def make_private_apt(entries: list[MatrixEntry], root: Path | None = None) -> aptsrc.PrivateApt:
    """A private apt that knows the suites of `entries` (only those: an index is fetched for
    every suite, and experimental's is not needed by the default matrix)."""
    uri, keyring = aptsrc.debian_mirror(aptsrc.read_system_sources())
    suites = sorted({e.suite for e in entries})
    return aptsrc.PrivateApt(root=(root or cache_root()) / "apt", uri=uri, suites=suites,
                             keyring=keyring)


def resolve_packages(apt: aptsrc.PrivateApt, entry: MatrixEntry) -> tuple[str, str, list[str]]:
    """(image package, version, every package to fetch) for the metapackage of `entry`, or for
    the suite's newest versioned image where the suite has no metapackage.

    The metapackage depends on one versioned linux-image-<abi>; newer suites split that into
    linux-binary-<abi> (vmlinuz), linux-modules-<abi> and linux-base-<abi> (config), which are
    taken too: every linux-* dependency carrying the same <abi> suffix."""
    image = _image_of_metapackage(apt, entry) or newest_image(apt.index(entry.suite), entry)
    info = apt.show(image, entry.suite)
    abi = image.removeprefix("linux-image-").removesuffix("-unsigned")
    parts = [d for d in aptsrc.parse_depends(info.get("depends", ""))
             if d.startswith("linux-") and d.endswith("-" + abi)]
    return image, info["version"], [image, *parts]


def _image_of_metapackage(apt: aptsrc.PrivateApt, entry: MatrixEntry) -> str:
    """The versioned image the metapackage points at; "" when the suite has no metapackage
    (experimental may carry only the versioned image of its release candidate)."""
    try:
        meta = apt.show(entry.metapackage, entry.suite)
    except aptsrc.AptError:
        return ""
    images = [d for d in aptsrc.parse_depends(meta.get("depends", ""))
              if d.startswith("linux-image-") and d != entry.metapackage]
    if not images:
        raise aptsrc.AptError(f"{entry.metapackage}/{entry.suite}: no linux-image dependency")
    return images[0]


def newest_image(index: list[dict[str, str]], entry: MatrixEntry) -> str:
    """The newest linux-image-<abi>-<flavour> (signed, else -unsigned) of a suite's Packages
    index, the flavour being the metapackage's (cloud-amd64); AptError when there is none."""
    flavour = entry.metapackage.removeprefix("linux-image-")
    candidates = []
    for stanza in index:
        name = stanza.get("package", "")
        abi = name.removeprefix("linux-image-").removesuffix("-unsigned")
        if name.startswith("linux-image-") and name != entry.metapackage \
                and abi.endswith("-" + flavour) and abi != flavour:
            candidates.append((aptsrc.version_key(stanza.get("version", "0")),
                               not name.endswith("-unsigned"), name))
    if not candidates:
        raise aptsrc.AptError(f"{entry.name}: {entry.suite} has no kernel today (neither "
                              f"{entry.metapackage} nor a linux-image-<version>-{flavour})")
    return max(candidates)[2]


def fetch(entry: MatrixEntry, apt: aptsrc.PrivateApt, root: Path | None = None,
          log: Log = lambda msg: None) -> Kernel:
    """Resolve `entry` through apt, download and extract its packages unless cached."""
    root = root or cache_root()
    apt.update()
    image, version, packages = resolve_packages(apt, entry)
    tree = root / "kernels" / f"{image}_{version}"
    described = tree / "kernel.json"
    if not described.is_file():
        log(f"{entry.name}: fetching {', '.join(packages)} {version}")
        _download_extract(apt, entry.suite, packages, tree)
        kernel = describe_tree(tree, entry.name, f"{image} {version}")
        described.write_text(json.dumps(kernel.to_json(), indent=1))
    kernel = _kernel_from_json(json.loads(described.read_text()))
    kernel = Kernel(**{**kernel.__dict__, "name": entry.name})
    pointer = root / "kernels" / f"{entry.name}.json"
    pointer.write_text(json.dumps(kernel.to_json(), indent=1))
    return kernel


def _download_extract(apt: aptsrc.PrivateApt, suite: str, packages: list[str],
                      tree: Path) -> None:
    """Download into a temporary dir and extract into a temporary tree renamed into place, so an
    interrupted fetch leaves nothing half made."""
    tree.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tree.parent, prefix=".fetch-") as tmp:
        debs, staging = Path(tmp) / "debs", Path(tmp) / "tree"
        apt.download([f"{p}/{suite}" for p in packages], debs)
        staging.mkdir()
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
        if tree.exists():
            shutil.rmtree(tree)
        staging.rename(tree)


def describe_tree(tree: Path, name: str, package: str) -> Kernel:
    """Find vmlinuz, modules and config in an extracted package tree (old layout: boot/ and
    lib/modules; new layout: everything under usr/lib/modules/<release>/)."""
    mod_dirs = [d for base in ("lib/modules", "usr/lib/modules") if (tree / base).is_dir()
                for d in (tree / base).iterdir() if d.is_dir()]
    if not mod_dirs:
        raise KernelError(f"{tree}: no lib/modules/<release> directory")
    mod_dir = mod_dirs[0]
    release = mod_dir.name
    vmlinuz = _first_file([tree / "boot" / f"vmlinuz-{release}", mod_dir / "vmlinuz"])
    if vmlinuz is None:
        raise KernelError(f"{tree}: no vmlinuz for {release}")
    config = _first_file([tree / "boot" / f"config-{release}", mod_dir / "config"])
    return Kernel(name=name, vmlinuz=vmlinuz, release=release, modules_dir=mod_dir,
                  config=config, package=package)


def resolve(specs: list[str], entries: list[MatrixEntry], refresh: bool = False,
            log: Log = lambda msg: None) -> list[Kernel]:
    """Kernels for the given names/paths: cached ones reused, the rest fetched with apt."""
    check_specs(specs, entries)
    kernels: list[Kernel] = []
    apt: aptsrc.PrivateApt | None = None
    for spec in specs:
        if looks_like_path(spec):
            kernels.append(local_kernel(spec))
            continue
        entry = find_entry(entries, spec)
        assert entry is not None
        kernel = None if refresh else cached_kernel(entry)
        if kernel is None:
            named = [e for s in specs if (e := find_entry(entries, s)) is not None]
            apt = apt or make_private_apt(named)
            kernel = fetch(entry, apt, log=log)
        kernels.append(kernel)
    return kernels
