"""Read the machine's apt sources and build a private apt setup from them.

The mirror is never named in code: it is read from the sources this machine already uses
(deb822 `*.sources` and one-line `*.list`), and a private apt configuration (own state, cache
and source list under the ckc cache) points apt at it for the suites the kernel matrix needs.
Nothing is written to the system's apt setup.

Suites that are not of default priority (backports and experimental carry NotAutomatic in their
Release files) need no pin: every lookup names its suite (`apt-cache show pkg/suite`,
`apt-get download pkg/suite`), which selects that suite's version whatever its priority.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEBIAN_SUITES = ("bullseye", "bookworm", "trixie", "forky", "duke", "sid")


@dataclass(frozen=True)
class AptSource:
    """One repository line (or deb822 stanza) of the machine's apt sources."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""
    origin_file: str = ""


class AptError(RuntimeError):
    """apt could not resolve or fetch what was asked for."""


def parse_deb822(text: str, origin: str = "") -> list[AptSource]:
    """Parse a deb822 `.sources` file; stanzas with `Enabled: no` are left out."""
    sources: list[AptSource] = []
    for stanza in _stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        if not stanza.get("uris") or not stanza.get("suites"):
            continue
        sources.append(AptSource(
            types=tuple(stanza.get("types", "deb").split()),
            uris=tuple(stanza["uris"].split()),
            suites=tuple(stanza["suites"].split()),
            components=tuple(stanza.get("components", "").split()),
            signed_by=stanza.get("signed-by", "").strip(),
            origin_file=origin,
        ))
    return sources


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_one_line(text: str, origin: str = "") -> list[AptSource]:
    """Parse one-line style `deb [opts] uri suite comp...` entries."""
    sources: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind, rest = words[0], words[1:]
        if kind not in ("deb", "deb-src") or not rest:
            continue
        options: dict[str, str] = {}
        if rest[0].startswith("["):
            opt_words: list[str] = []
            while rest:
                word = rest.pop(0)
                opt_words.append(word)
                if word.endswith("]"):
                    break
            for opt in " ".join(opt_words).strip("[] ").split():
                name, _, value = opt.partition("=")
                options[name.lower()] = value
        if len(rest) < 2:
            continue
        sources.append(AptSource(
            types=(kind,), uris=(rest[0],), suites=(rest[1],),
            components=tuple(rest[2:]), signed_by=options.get("signed-by", ""),
            origin_file=origin,
        ))
    return sources


def read_system_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """All enabled sources of `etc_apt` (sources.list, sources.list.d/*.list and *.sources)."""
    sources: list[AptSource] = []
    files = [etc_apt / "sources.list"]
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        files += sorted(parts.iterdir())
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.name.endswith(".sources"):
            sources += parse_deb822(text, str(path))
        elif path.name.endswith(".list"):
            sources += parse_one_line(text, str(path))
    return sources


def debian_mirror(sources: list[AptSource]) -> tuple[str, str]:
    """(URI, keyring) of the Debian archive the machine uses: a `deb` source with `main` whose
    suite is a plain Debian codename (not -security/-updates)."""
    for src in sources:
        if "deb" not in src.types or "main" not in src.components:
            continue
        if any(s in DEBIAN_SUITES for s in src.suites):
            keyring = src.signed_by if src.signed_by.startswith("/") else DEFAULT_KEYRING
            return src.uris[0].rstrip("/"), keyring
    raise AptError("no Debian archive found in the apt sources (need a 'deb' source with "
                   "component main and a suite like bookworm)")


@dataclass
class PrivateApt:
    """An apt configuration under `root` that only knows the given suites of one mirror."""

    root: Path
    uri: str
    suites: list[str]
    keyring: str = DEFAULT_KEYRING
    updated: bool = field(default=False, init=False)

    def write(self) -> Path:
        """Write apt.conf + sources; return the apt.conf path (for APT_CONFIG)."""
        for sub in ("state/lists/partial", "cache/archives/partial", "etc/sources.list.d",
                    "etc/preferences.d", "etc/apt.conf.d", "etc/trusted.gpg.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "state/status").touch()
        (self.root / "etc/sources.list.d/ckc.sources").write_text(self.sources_text())
        conf = self.root / "apt.conf"
        conf.write_text(self.conf_text())
        return conf

    def sources_text(self) -> str:
        return (f"Types: deb\nURIs: {self.uri}\nSuites: {' '.join(self.suites)}\n"
                f"Components: main\nSigned-By: {self.keyring}\n")

    def conf_text(self) -> str:
        r = self.root
        lines = [
            f'Dir::State "{r}/state";', f'Dir::State::status "{r}/state/status";',
            f'Dir::Cache "{r}/cache";', 'Dir::Etc::sourcelist "/dev/null";',
            f'Dir::Etc::sourceparts "{r}/etc/sources.list.d";',
            'Dir::Etc::preferences "/dev/null";',
            f'Dir::Etc::preferencesparts "{r}/etc/preferences.d";',
            f'Dir::Etc::parts "{r}/etc/apt.conf.d";',
            f'Dir::Etc::trustedparts "{r}/etc/trusted.gpg.d";',
            'APT::Architecture "amd64";', 'Acquire::Languages "none";',
            'APT::Sandbox::User "root";',
            # Signatures stay checked; only the Valid-Until date is not, because a mirror that
            # is a dated snapshot serves Release files whose validity window has passed.
            'Acquire::Check-Valid-Until "false";',
        ]
        return "\n".join(lines) + "\n"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["APT_CONFIG"] = str(self.root / "apt.conf")
        env["LC_ALL"] = "C"
        return env

    def run(self, args: list[str], cwd: Path | None = None) -> str:
        proc = subprocess.run(args, env=self.env(), cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise AptError(f"{' '.join(args[:2])} failed: {last}")
        return proc.stdout

    def update(self) -> None:
        if not self.updated:
            self.write()
            self.run(["apt-get", "-q", "update"])
            self.updated = True

    def show(self, package: str, suite: str) -> dict[str, str]:
        """Fields of `package` as the suite has it (first stanza of apt-cache show)."""
        text = self.run(["apt-cache", "show", f"{package}/{suite}"])
        stanzas = _stanzas(text)
        if not stanzas:
            raise AptError(f"{package}/{suite}: not found")
        return stanzas[0]

    def index(self, suite: str) -> list[dict[str, str]]:
        """Every stanza of the suite's Packages index (main, amd64) as `update` fetched it."""
        lists = self.root / "state/lists"
        files = sorted(lists.glob(f"*_dists_{suite}_main_binary-amd64_Packages"))
        if not files:
            raise AptError(f"no Packages index for {suite} (was apt-get update run?)")
        return [s for f in files for s in _stanzas(f.read_text(errors="replace"))]

    def download(self, packages: list[str], dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        self.run(["apt-get", "-q", "download", *packages], cwd=dest)


def parse_depends(field_text: str) -> list[str]:
    """Package names of a Depends field; for alternatives (a | b) the first is taken."""
    names: list[str] = []
    for clause in field_text.replace("\n", " ").split(","):
        first = clause.split("|")[0].strip()
        if first:
            names.append(first.split()[0].split(":")[0])
    return names



def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version `a` sorts before, with or after `b` (deb-version(7):
    epoch, then upstream version, then revision; `~` sorts before everything, even the end,
    so 7.3~rc7 < 7.3)."""
    for part_a, part_b in zip(_version_parts(a), _version_parts(b)):
        if (order := _compare_part(part_a, part_b)) != 0:
            return order
    return 0


version_key = functools.cmp_to_key(compare_versions)


def _version_parts(version: str) -> tuple[str, str, str]:
    epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    return epoch, upstream, revision


def _order(char: str) -> int:
    """Sort weight of a non-digit: `~` first, then the end of the string, then letters, then
    everything else."""
    if char == "~":
        return -1
    return ord(char) if char.isalpha() else ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """deb-version's comparison of one part: alternating non-digit and digit runs."""
    while a or b:
        text_a, a = _split_run(a, digits=False)
        text_b, b = _split_run(b, digits=False)
        for i in range(max(len(text_a), len(text_b))):
            ca = _order(text_a[i]) if i < len(text_a) else 0
            cb = _order(text_b[i]) if i < len(text_b) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        num_a, a = _split_run(a, digits=True)
        num_b, b = _split_run(b, digits=True)
        if int(num_a or 0) != int(num_b or 0):
            return -1 if int(num_a or 0) < int(num_b or 0) else 1
    return 0


def _split_run(text: str, digits: bool) -> tuple[str, str]:
    """(the leading run of digits, or of non-digits, the rest)."""
    end = 0
    while end < len(text) and text[end].isdigit() == digits:
        end += 1
    return text[:end], text[end:]
