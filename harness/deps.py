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
        "nlohmann-json3-dev", "libfmt-dev", "zlib1g-dev", "e2fsprogs",
    ],
    "vm": ["qemu-system-x86", "busybox-static", "cpio", "kmod", "xz-utils", "zstd", "gzip"],
    "browser": ["chromium", "fonts-dejavu-core"],
}


class DepsError(Exception):
    """Something needed is missing and cannot be installed; str() is one line."""


def installed(package: str) -> bool:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                             capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return False
    return out.returncode == 0 and out.stdout.strip().endswith("installed")


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
