"""Configure and build ckc with CMake + Ninja into a build directory, showing its progress.

    build(REPO, REPO / "build", log)   # raises BuildError (one line) when a step fails
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import IO, Callable

_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


class BuildError(Exception):
    """The build failed; str() is one line, the log holds the rest."""


class Progress:
    """Ninja's [n/N] lines as one line rewritten in place on a terminal, else a line at every
    tenth of the build (CI logs)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.shown = -1  # the last tenth printed (not a terminal); >= 0 once anything was shown

    def step(self, done: int, total: int, what: str) -> None:
        pct = 100 * done // max(1, total)
        if self.tty:
            self.out.write(f"\rckc: building [{done}/{total}] {pct:3d}% {what[:60]:<60}")
            self.out.flush()
            self.shown = 0
        elif pct // 10 > self.shown:
            self.shown = pct // 10
            print(f"ckc: building [{done}/{total}] {pct}%", file=self.out, flush=True)

    def end(self) -> None:
        """Ends the line rewritten in place."""
        if self.tty and self.shown >= 0:
            self.out.write("\n")
            self.out.flush()


def run_step(argv: list[str], log_file: IO[str], progress: Progress | None) -> int:
    """Runs one build step, its output into the log; [n/N] lines drive `progress`."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    assert proc.stdout is not None
    for line in proc.stdout:
        log_file.write(line)
        m = _STEP.match(line)
        if m and progress:
            target = line[m.end():].strip().rsplit(" ", 1)[-1]
            progress.step(int(m.group(1)), int(m.group(2)), Path(target).name)
    return proc.wait()


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
            progress = Progress(sys.stderr) if argv[1] == "--build" else None
            try:
                status = run_step(argv, out, progress)
            finally:
                if progress:
                    progress.end()
            if status != 0:
                raise BuildError(f"`{' '.join(argv[:2])}` failed (exit {status}); "
                                 f"see {log_path}")
