"""The dependency step: dpkg's status is read right, and every program the code runs is installed
by `ckc` / `ckc test` (or is part of every Debian system)."""
from __future__ import annotations

import os
import re
import stat
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from harness import deps

REPO = Path(__file__).resolve().parents[2]
# A program name as the first word of an argv literal, or looked up with shutil.which().
_ARGV_HEAD = re.compile(r"""(?:(?:subprocess\.|\b)(?:run|Popen|check_output)\(\s*\[\s*|shutil\.which\(\s*)"([a-z][a-z0-9_.+-]*)\"""")
_NAMED = re.compile(r"""^(?:QEMU_BINARY|OBJCOPY)\s*=\s*"([^"]+)\"""", re.M)


def programs_in_sources() -> dict[str, str]:
    """program -> the first file that runs it, over harness/, vm/, reports/, bench/ (tests too)."""
    found: dict[str, str] = {}
    for path in sorted(REPO.glob("*/**/*.py")):
        if ".git" in path.parts or "build" in path.parts[:1]:
            continue
        text = path.read_text(encoding="utf-8")
        for m in (*_ARGV_HEAD.finditer(text), *_NAMED.finditer(text)):
            found.setdefault(m.group(1), str(path.relative_to(REPO)))
    return found


class InstalledTest(unittest.TestCase):
    def status(self, text: str) -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            fake = Path(tmp) / "dpkg-query"
            fake.write_text(f"#!/bin/sh\nprintf '%s' '{text}'\n")
            fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
            with mock.patch.dict(os.environ, {"PATH": f"{tmp}:{os.environ['PATH']}"}):
                return deps.installed("anything")

    def test_installed_and_held_count(self) -> None:
        self.assertTrue(self.status("install ok installed"))
        self.assertTrue(self.status("hold ok installed"))

    def test_known_but_not_installed_is_missing(self) -> None:
        # dpkg knows of packages it has never installed: "not-installed" ends with "installed".
        self.assertFalse(self.status("unknown ok not-installed"))
        self.assertFalse(self.status("deinstall ok config-files"))


class ProgramsTest(unittest.TestCase):
    def test_every_program_run_is_installed_by_the_commands(self) -> None:
        found = programs_in_sources()
        self.assertIn("cpio", found)  # the scan sees the tests' programs too
        installed = {p for part in deps.PACKAGES.values() for p in part} | set(deps.ESSENTIAL)
        for program, where in found.items():
            if program in ("python3", "perl"):
                continue
            with self.subTest(program=program):
                self.assertIn(program, deps.PROGRAMS, f"{where} runs {program}: add it to "
                              "harness/deps.py PROGRAMS with its Debian package")
                self.assertIn(deps.PROGRAMS[program], installed,
                              f"{program} ({deps.PROGRAMS[program]}, run by {where}) is not "
                              "installed by `ckc` / `ckc test`")


if __name__ == "__main__":
    unittest.main()
