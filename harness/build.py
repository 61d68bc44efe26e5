"""Configure and build ckc with CMake + Ninja into a build directory."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable


class BuildError(Exception):
    """The build failed; str() is one line, the log holds the rest."""


def build(source: Path, build_dir: Path, log: Callable[[str], None]) -> None:
    jobs = str(os.cpu_count() or 2)
    steps = [
        ["cmake", "-S", str(source), "-B", str(build_dir), "-G", "Ninja",
         "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
        ["cmake", "--build", str(build_dir), "-j", jobs],
    ]
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "ckc-build.log"
    with open(log_path, "w", encoding="utf-8") as out:
        for argv in steps:
            log(" ".join(argv))
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
            if proc.returncode != 0:
                raise BuildError(f"`{' '.join(argv[:2])}` failed (exit {proc.returncode}); "
                                 f"see {log_path}")
