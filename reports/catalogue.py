"""The behaviour catalogue (BEHAVIOURS.md): rows with their area, sentence and sources.

    cat = load_catalogue(find_catalogue(explicit_path))   # Catalogue; empty when not found
    cat.rows["pid.first-is-1"].sentence

The catalogue lives in shared/ beside the repository (../shared/BEHAVIOURS.md). A clean clone
may lack it: the report then falls back to the IDs found in the results, grouped by prefix,
and says that the catalogue was not found.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SOURCE_DOCUMENTS: dict[str, str] = {
    "D": "container-internals-deep-dive.txt",
    "F": "linux-application-container-fundamentals.txt",
    "K": "kernel documentation (cgroup-v1/*, cgroup-v2.rst, overlayfs.rst, "
    "seccomp_filter.rst, namespaces(7), capabilities(7), seccomp(2))",
}

_HEADING = re.compile(r"^##\s+(?P<name>.+?)\s*$")
_SOURCES = re.compile(r"\s*\((?P<src>[A-Z](?:\s*,\s*[A-Z])*)\)")
_ROW = re.compile(r"^\|\s*(?P<id>[a-z0-9]+\.[a-z0-9.\-]+)\s*\|\s*(?P<text>.*?)\s*\|\s*$")


@dataclass(frozen=True)
class Row:
    id: str
    area: str
    sentence: str
    sources: tuple[str, ...]

    @property
    def is_benchmark(self) -> bool:
        return self.id.startswith("bench.")


@dataclass
class Catalogue:
    path: str = ""  # "" when no catalogue was found
    areas: list[str] = field(default_factory=list)  # in document order
    rows: dict[str, Row] = field(default_factory=dict)  # in document order

    @property
    def found(self) -> bool:
        return bool(self.rows)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def find_catalogue(explicit: str | None = None) -> Path | None:
    """The catalogue to use: explicit path, $CKC_CATALOGUE, ../shared/, or the repo itself."""
    if explicit:
        return Path(explicit)
    candidates = []
    if os.environ.get("CKC_CATALOGUE"):
        candidates.append(Path(os.environ["CKC_CATALOGUE"]))
    root = repo_root()
    candidates += [root.parent / "shared" / "BEHAVIOURS.md", root / "BEHAVIOURS.md",
                   root / "docs" / "BEHAVIOURS.md"]
    return next((c for c in candidates if c.is_file()), None)


def parse_catalogue(text: str, path: str = "") -> Catalogue:
    cat = Catalogue(path=path)
    area = ""
    sources: tuple[str, ...] = ()
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            found = _SOURCES.search(heading.group("name"))
            src = found.group("src") if found else ""
            area = _SOURCES.sub("", heading.group("name"), count=1).strip()
            sources = tuple(s.strip() for s in src.split(",") if s.strip())
            continue
        row = _ROW.match(line)
        if row and area and row.group("id") != "ID":
            cat.rows[row.group("id")] = Row(row.group("id"), area, row.group("text"), sources)
            if area not in cat.areas:
                cat.areas.append(area)
    return cat


def load_catalogue(path: Path | None) -> Catalogue:
    """Parses the catalogue; an unreadable or missing file gives an empty Catalogue."""
    if path is None:
        return Catalogue()
    try:
        return parse_catalogue(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return Catalogue()


def area_of(row_id: str, cat: Catalogue) -> str:
    """The row's area: from the catalogue, else its ID prefix (`mem.x` -> `mem`)."""
    row = cat.rows.get(row_id)
    if row:
        return row.area
    return row_id.split(".", 1)[0] if "." in row_id else "other"
