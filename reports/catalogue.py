"""The behaviour catalogue, read out of the tests that declare its rows.

    cat = project_catalogue()             # this checkout's rows (cached); Catalogue
    cat.rows["pid.first-is-1"].sentence   # Row: id, area, sentence, sources, since, test, suite
    cat.problems                          # declarations that do not make a clean catalogue

Each row lives in one place: the test that checks it declares it,

    TEST(PidNamespace, FirstIsOne) {
      CKC_BEHAVIOUR("pid.first-is-1", "D",
                    "the first process of a new pid namespace is PID 1 ...", "5.14");

and each benchmark row beside its cases (`CKC_BENCH_ROW(kRow, "bench.veth", "D", "BM_Veth",
"sentence")`, bench/harness.h). `scan(root)` reads those declarations out of suites/**/*.cpp and
bench/*.cpp; nothing else lists rows. The results files carry each row's sentence too, so a
report built from results alone (a CI machine with no checkout) still has them:
`with_results(cat, runs)` adds the rows only results know.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from reports.schema import Run

SOURCE_DOCUMENTS: dict[str, str] = {
    "D": "Container internals deep dive (the first source document)",
    "F": "Linux application container fundamentals (the second source document)",
    "K": "the kernel's documentation and man pages (cgroup-v1/*, cgroup-v2.rst, overlayfs.rst, "
    "seccomp_filter.rst, landlock.rst, namespaces(7), capabilities(7), seccomp(2), ...)",
}

# Areas in report order, each with the ID prefixes it holds.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Namespaces — general", ("ns",)),
    ("UTS namespace", ("uts",)),
    ("Network namespace", ("net",)),
    ("Mount namespace and mount API", ("mnt", "proc")),
    ("PID namespace, pidfd, clone3", ("pid", "pidfd", "clone3")),
    ("IPC namespace", ("ipc",)),
    ("User namespace", ("user",)),
    ("Time namespace", ("time",)),
    ("cgroup namespace", ("cgns",)),
    ("Control groups — core", ("cg",)),
    ("Memory controller", ("mem",)),
    ("CPU, cpuset", ("cpu", "cpuset")),
    ("Block I/O", ("io",)),
    ("Pressure stall information", ("psi",)),
    ("Other controllers", ("pids", "freezer", "devices", "netcls", "netprio", "hugetlb", "perf",
                           "rdma")),
    ("Overlay file system", ("ovl",)),
    ("Capabilities", ("cap",)),
    ("seccomp filters", ("seccomp",)),
    ("Landlock and other LSMs", ("landlock", "lsm")),
    ("Benchmarks", ("bench",)),
)
_AREA_OF_PREFIX = {prefix: name for name, prefixes in AREAS for prefix in prefixes}
ID_PATTERN = re.compile(r"^[a-z0-9]+\.[a-z0-9][a-z0-9.\-]*$")

_TEST = re.compile(r"^\s*TEST(?:_F)?\(\s*(\w+)\s*,\s*(\w+)\s*\)", re.M)
_DECLARATION = re.compile(r"\b(CKC_BEHAVIOUR|CKC_BENCH_ROW)\(")


@dataclass(frozen=True)
class Row:
    id: str
    area: str
    sentence: str
    sources: tuple[str, ...]
    since: str = ""
    test: str = ""    # "PidNamespace.FirstIsOne"; a benchmark's family "BM_Veth"
    suite: str = ""   # "namespaces" (binary ckc-suite-namespaces); "bench" for benchmarks
    where: str = ""   # "suites/namespaces/pid_test.cpp:41"

    @property
    def is_benchmark(self) -> bool:
        return self.id.startswith("bench.")

    @property
    def source(self) -> str:
        return ",".join(self.sources)

    def to_json(self) -> dict[str, str]:
        out = {"id": self.id, "area": self.area, "sentence": self.sentence,
               "source": self.source, "test": self.test, "suite": self.suite,
               "kind": "benchmark" if self.is_benchmark else "test", "where": self.where}
        if self.since:
            out["since"] = self.since
        return out


@dataclass
class Catalogue:
    path: str = ""  # what it was read from: a source tree, or "" when empty
    areas: list[str] = field(default_factory=list)  # in report order
    rows: dict[str, Row] = field(default_factory=dict)  # in report order
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong"

    @property
    def found(self) -> bool:
        return bool(self.rows)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def area_name(row_id: str) -> str:
    """The area of an ID by its prefix (`mem.x` -> "Memory controller"), else the prefix."""
    prefix = row_id.split(".", 1)[0] if "." in row_id else "other"
    return _AREA_OF_PREFIX.get(prefix, prefix)


def area_of(row_id: str, cat: Catalogue) -> str:
    row = cat.rows.get(row_id)
    return row.area if row else area_name(row_id)


# ---------------------------------------------------------------- reading the declarations


class _Unparsable(Exception):
    pass


def _skip_space(text: str, i: int) -> int:
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
        else:
            break
    return i


def _literal(text: str, i: int) -> tuple[str, int]:
    """One C string literal starting at text[i] == '"': its value and the index after it."""
    out, i = [], i + 1
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}
    while i < len(text) and text[i] != '"':
        if text[i] == "\n":
            raise _Unparsable("string literal runs past the end of its line")
        if text[i] == "\\":
            if text[i + 1] not in escapes:
                raise _Unparsable(f"unsupported escape \\{text[i + 1]}")
            out.append(escapes[text[i + 1]])
            i += 2
            continue
        out.append(text[i])
        i += 1
    if i >= len(text):
        raise _Unparsable("unterminated string literal")
    return "".join(out), i + 1


def parse_arguments(text: str, start: int) -> list[str]:
    """The string-literal arguments of a macro call whose '(' ends at `start`. Adjacent literals
    are joined, as the compiler joins them; anything else than literals is _Unparsable."""
    args: list[str] = []
    i = start
    while True:
        i = _skip_space(text, i)
        parts = []
        while i < len(text) and text[i] == '"':
            value, i = _literal(text, i)
            parts.append(value)
            i = _skip_space(text, i)
        if not parts:
            raise _Unparsable(f"argument {len(args) + 1} is not a string literal")
        args.append("".join(parts))
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == ")":
            return args
        raise _Unparsable(f"unexpected {text[i:i + 12]!r} after argument {len(args)}")


def _in_comment(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    return "//" in text[line_start:pos]


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _scan_file(path: Path, rel: str, suite: str) -> tuple[list[Row], list[str]]:
    text = path.read_text(encoding="utf-8")
    tests = [(m.start(), f"{m.group(1)}.{m.group(2)}", _line(text, m.start()))
             for m in _TEST.finditer(text)]
    rows: list[Row] = []
    problems: list[str] = []
    claimed: set[str] = set()
    for m in _DECLARATION.finditer(text):
        if _in_comment(text, m.start()):
            continue
        where = f"{rel}:{_line(text, m.start())}"
        test = next((t[1] for t in reversed(tests) if t[0] < m.start()), "")
        try:
            if m.group(1) == "CKC_BENCH_ROW":
                rows.append(_bench_row(text, m, where))
                continue
            if not test:
                raise _Unparsable("outside any TEST (a row belongs to the test that checks it)")
            if test in claimed:
                raise _Unparsable(f"test {test} declares a second row (one test, one row)")
            claimed.add(test)
            rows.append(_test_row(text, m, test, suite, where))
        except _Unparsable as err:
            problems.append(f"{where}: {m.group(1)}: {err}")
    if suite != "bench" and suite != "guard":
        for _, test, line in tests:
            if test not in claimed:
                problems.append(f"{rel}:{line}: test {test} declares no catalogue row "
                                f"(CKC_BEHAVIOUR)")
    return rows, problems


def _test_row(text: str, m: re.Match[str], test: str, suite: str, where: str) -> Row:
    args = parse_arguments(text, m.end())
    if len(args) not in (3, 4):
        raise _Unparsable(f"takes (id, source, sentence[, since]), got {len(args)} arguments")
    return _row(args[0], args[1], args[2], args[3] if len(args) == 4 else "", test, suite,
                where)


def _bench_row(text: str, m: re.Match[str], where: str) -> Row:
    name_end = text.find(",", m.end())
    if name_end < 0 or not re.fullmatch(r"\s*\w+\s*", text[m.end():name_end]):
        raise _Unparsable("takes (name, id, source, family, sentence)")
    args = parse_arguments(text, name_end + 1)
    if len(args) != 4:
        raise _Unparsable(f"takes (name, id, source, family, sentence), got {len(args) + 1}")
    return _row(args[0], args[1], args[3], "", args[2], "bench", where)


def _row(row_id: str, source: str, sentence: str, since: str, test: str, suite: str,
         where: str) -> Row:
    if not ID_PATTERN.match(row_id):
        raise _Unparsable(f"{row_id!r} is not a row ID (area.name)")
    sources = tuple(s.strip() for s in source.split(",") if s.strip())
    if not sources or any(s not in SOURCE_DOCUMENTS for s in sources):
        raise _Unparsable(f"{row_id}: source {source!r} is not one of "
                          f"{', '.join(SOURCE_DOCUMENTS)}")
    if not sentence.strip():
        raise _Unparsable(f"{row_id}: empty sentence")
    if since and not re.fullmatch(r"\d+\.\d+", since):
        raise _Unparsable(f"{row_id}: since {since!r} is not a kernel version like 5.14")
    return Row(row_id, area_name(row_id), " ".join(sentence.split()), sources, since, test,
               suite, where)


def _sources(root: Path) -> Iterable[tuple[Path, str]]:
    for path in sorted((root / "suites").glob("*/*.cpp")):
        yield path, path.parent.name
    for path in sorted((root / "bench").glob("*.cpp")):
        yield path, "bench"


def scan(root: Path) -> Catalogue:
    """The catalogue declared in the sources under `root` (a checkout of this project)."""
    found: list[Row] = []
    problems: list[str] = []
    for path, suite in _sources(root):
        rows, trouble = _scan_file(path, str(path.relative_to(root)), suite)
        found += rows
        problems += trouble
    by_id: dict[str, Row] = {}
    for row in found:
        if row.id in by_id:
            problems.append(f"{row.where}: {row.id} is also declared at {by_id[row.id].where} "
                            f"(two tests claim one row)")
            continue
        by_id[row.id] = row
    return from_rows(by_id.values(), str(root), problems)


def from_rows(rows: Iterable[Row], path: str = "", problems: list[str] | None = None) -> Catalogue:
    """A catalogue of `rows` in report order: by area, then as declared."""
    order = {name: i for i, (name, _) in enumerate(AREAS)}
    ordered = sorted(rows, key=lambda r: (order.get(r.area, len(order)), r.area))
    return Catalogue(path=path, areas=list(dict.fromkeys(r.area for r in ordered)),
                     rows={r.id: r for r in ordered}, problems=list(problems or []))


def load_json(path: str | Path) -> Catalogue:
    """A catalogue written by `ckc catalogue --json` (for results of another checkout); raises
    ValueError with one line when the file is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = [Row(r["id"], r.get("area") or area_name(r["id"]), r["sentence"],
                    tuple(s for s in r.get("source", "").split(",") if s), r.get("since", ""),
                    r.get("test", ""), r.get("suite", ""), r.get("where", ""))
                for r in doc["rows"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a catalogue from `ckc catalogue --json` ({err})") from None
    return from_rows(rows, str(path))


@functools.cache
def project_catalogue() -> Catalogue:
    """This checkout's catalogue (empty where the sources are not beside this module)."""
    return scan(repo_root())


def row_fields(suite: str, test: str) -> dict[str, str]:
    """The results-file fields of the row `test` of `suite` declares (for an entry the runner
    writes itself, e.g. a test its crashed binary never reached); {} when none does."""
    cat = project_catalogue()
    for row in cat.rows.values():
        if row.test == test and row.suite == suite:
            fields = {"id": row.id, "source": row.source, "sentence": row.sentence}
            return fields | ({"since": row.since} if row.since else {})
    return {}


def with_results(cat: Catalogue, runs: "list[Run]") -> Catalogue:
    """`cat` plus the rows that only the results know (with the sentences they carry), e.g.
    results of a newer ckc read where no checkout of it is. Rows of `cat` win."""
    extra: dict[str, Row] = {}
    for run in runs:
        for r in run.results:
            if r.id and r.id not in cat.rows and (r.id not in extra or not extra[r.id].sentence):
                sources = tuple(s.strip() for s in r.source.split(",") if s.strip())
                extra[r.id] = Row(r.id, area_name(r.id), r.sentence, sources, r.since, r.test,
                                  r.suite)
    if not extra:
        return cat
    return from_rows([*cat.rows.values(), *extra.values()], cat.path, cat.problems)
