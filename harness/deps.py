"""Debian packages ckc needs, and installing the missing ones with apt.

    missing = missing_packages(PACKAGES["build"])
    ensure(["build", "vm"], log)   # installs what is missing (root only), or raises DepsError
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Callable

# What each part of ckc needs, by Debian package name.
PACKAGES: dict[str, list[str]] = {
    "build": [
        "cmake", "ninja-build", "g++", "pkg-config", "libgtest-dev", "libgmock-dev",
        "libbenchmark-dev", "libseccomp-dev", "libcap-dev", "libnl-3-dev", "libnl-route-3-dev",
        "nlohmann-json3-dev", "libfmt-dev", "zlib1g-dev", "e2fsprogs", "binutils",
        # the unit tests' real consumers of the exports and CI files (reports/tests): JUnit,
        # KCIDB's JSON schema, TAP::Parser (perl's modules), the CI YAML and its linter
        "python3-junitparser", "python3-jsonschema", "perl", "python3-yaml", "yamllint",
        # the guard's independent picture of the host (suites/guard/host_picture.py)
        "iproute2", "mount",
    ],
    # apparmor: its apparmor_parser goes into the guests (vm/initramfs.py GUEST_TOOLS), as
    # does e2fsprogs' mkfs.ext4 (a build dependency already)
    "vm": ["qemu-system-x86", "busybox-static", "cpio", "kmod", "xz-utils", "zstd", "gzip",
           "apparmor"],
    "browser": ["chromium", "fonts-dejavu-core"],
}


# Every external program ckc's Python code, its tests and the VM runner execute, and the Debian
# package that brings it (harness/tests/test_deps.py finds the programs in the sources and checks
# this table covers them). A package of PACKAGES is installed by `ckc` / `ckc test`; ESSENTIAL
# ones are on every Debian system.
ESSENTIAL = ("dpkg", "libc-bin", "util-linux", "apt", "coreutils", "python3")
PROGRAMS: dict[str, str] = {
    "apt-get": "apt", "apt-cache": "apt", "dpkg-query": "dpkg", "dpkg-deb": "dpkg",
    "ldd": "libc-bin", "setpriv": "util-linux", "cmake": "cmake", "ctest": "cmake",
    "ninja": "ninja-build", "objcopy": "binutils", "busybox": "busybox-static",
    "qemu-system-x86_64": "qemu-system-x86", "depmod": "kmod", "zstd": "zstd", "xz": "xz-utils",
    "gzip": "gzip", "cpio": "cpio", "chromium": "chromium", "mkfs.ext4": "e2fsprogs",
    "yamllint": "yamllint", "ip": "iproute2", "losetup": "mount", "apparmor_parser": "apparmor",
}


class DepsError(Exception):
    """Something needed is missing and cannot be installed; str() is one line."""


def installed(package: str) -> bool:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                             capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return False
    # "install ok installed" (or "hold ok installed"); a package dpkg merely knows of is
    # "unknown ok not-installed", which ends with "installed" too.
    return out.returncode == 0 and out.stdout.split()[-1:] == ["installed"]


def missing_packages(packages: list[str]) -> list[str]:
    return [p for p in packages if not installed(p)]


def apt_install(packages: list[str], log: Callable[[str], None]) -> None:
    """apt-get update once, then install `packages` without recommends."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing with apt: {' '.join(packages)}")
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DepsError(f"`{' '.join(argv[:3])}` failed: {tail[0]}")


def ensure(parts: list[str], log: Callable[[str], None]) -> None:
    """Installs the missing packages of `parts`; without root, names them instead."""
    wanted = [p for part in parts for p in PACKAGES[part]]
    missing = missing_packages(wanted)
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise DepsError("missing Debian packages (install them as root): " + " ".join(missing))
    apt_install(missing, log)
    still = missing_packages(missing)
    if still:
        raise DepsError("apt did not install: " + " ".join(still))
