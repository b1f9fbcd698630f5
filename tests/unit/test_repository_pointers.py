"""The repository explains itself: no tracked file points at documents outside it.

Code, comments and docs may cite public sources (java-tron, TronWeb, tronpy, the providers' pages) but
never private notes, research files or tracker numbers; what a reader needs from those is written in
docs/ (TRON.md, PROVIDERS.md, ARCHITECTURE.md). A section sign (§) must name a heading that exists: in
the document it follows (``docs/TRON.md §6``) or, inside a Markdown file, in that file itself.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Files that still carry pointers and are being rewritten elsewhere. Each entry must still need fixing
# (the test fails on a stale entry), so the list only shrinks.
ALLOWED: dict[str, str] = {}

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("outside path", re.compile(r"\.\./shared|/work/(?:shared|coord)\b|\bshared/(?:specs|seeds)\b")),
    ("design note", re.compile(r"\bDESIGN\b")),
    ("style guide", re.compile(r"\bSTYLE(?:\.md\b|\s*§)")),
    ("research notes", re.compile(r"(?<![\w./-])specs?/[\w.-]+|\bspec(?:s|'s)?\s*§")),
    ("provider seeds", re.compile(r"(?<![\w./-])seeds?/")),
    ("tracker number", re.compile(r"\b[Ii]ssues?\s*#?\d+")),
)

_DOC_OR_SECTION = re.compile(
    r"(?P<doc>(?:\.\./)?(?:[\w-]+/)*[A-Z][A-Z0-9_-]*\.md)|§\s*(?P<num>\d+(?:\.\d+)*)"
)
_BETWEEN_CHAINED = re.compile(r"[\s,;:/`'\"()\[\]*]*(?:(?:and|or)\s+)?")
_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s")
_LOCK_NAMES = frozenset({"uv.lock", "poetry.lock", "package-lock.json", "Pipfile.lock"})


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.text.strip()[:120]}"


def tracked_files() -> list[str]:
    """Every file git tracks (falls back to walking the tree when there is no git checkout)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, timeout=30
        ).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        skip = {".git", ".venv", "var", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"}
        return [
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p)
        ]


def is_lock_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        name in _LOCK_NAMES or name.endswith(".lock") or (name.startswith("requirements") and ".lock" in name)
    )


def read_text(path: str) -> str | None:
    """The file as text, or None for binary files (charts) and files gone from the work tree."""
    try:
        data = (ROOT / path).read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@cache
def headings(doc: str) -> frozenset[str]:
    """Section numbers of a Markdown document: ``## 6. Energy`` → "6", ``### 2.1 …`` → "2.1"."""
    text = read_text(doc) or ""
    return frozenset(m.group(1) for line in text.splitlines() if (m := _HEADING.match(line)))


def resolve_doc(name: str, referrer: str) -> str | None:
    """The repository path of a document named in ``referrer`` (``docs/TRON.md``, ``TRON.md``, ``../x``)."""
    here = Path(referrer).parent
    candidates = [here / name, Path(name), Path("docs") / Path(name).name]
    for candidate in candidates:
        parts: list[str] = []
        for part in candidate.parts:
            if part == "..":
                if parts:
                    parts.pop()
            elif part != ".":
                parts.append(part)
        path = "/".join(parts)
        if (ROOT / path).is_file():
            return path
    return None


def section_violations(path: str, number: int, line: str) -> list[Violation]:
    """Every ``§N`` on the line must name a heading of the document it follows (or of this Markdown file)."""
    found: list[Violation] = []
    doc: str | None = None
    end = 0
    for m in _DOC_OR_SECTION.finditer(line):
        if m.group("doc"):
            doc, end = resolve_doc(m.group("doc"), path), m.end()
            continue
        chained = doc is not None and _BETWEEN_CHAINED.fullmatch(line[end : m.start()]) is not None
        target = doc if chained else (path if path.endswith(".md") else None)
        end = m.end()
        if not chained:
            doc = None
        if target is None:
            found.append(Violation(path, number, "section sign without a document", m.group(0)))
        elif m.group("num") not in headings(target):
            found.append(Violation(path, number, f"no section {m.group('num')} in {target}", m.group(0)))
    return found


def scan(path: str, text: str) -> list[Violation]:
    found: list[Violation] = []
    for number, line in enumerate(text.splitlines(), 1):
        for rule, pattern in RULES:
            found.extend(Violation(path, number, rule, m.group(0)) for m in pattern.finditer(line))
        if "§" in line:
            found.extend(section_violations(path, number, line))
    return found


@cache
def all_violations() -> tuple[Violation, ...]:
    found: list[Violation] = []
    for path in tracked_files():
        if path == SELF or is_lock_file(path):
            continue
        text = read_text(path)
        if text is not None:
            found.extend(scan(path, text))
    return tuple(found)


def test_no_tracked_file_points_outside_the_repository() -> None:
    offending = [v for v in all_violations() if v.path not in ALLOWED]
    assert not offending, "pointers outside the repository:\n" + "\n".join(map(str, offending))


def test_the_allow_list_names_only_files_that_still_need_fixing() -> None:
    still = {v.path for v in all_violations()}
    stale = sorted(set(ALLOWED) - still)
    assert not stale, f"remove these from ALLOWED, they are clean now: {stale}"


def test_the_scanner_finds_each_kind_of_outside_pointer() -> None:
    # Assembled from pieces, so this file itself holds no pointer for anyone to follow.
    outside = "/".join(["..", "shared", "specs", "tron-node.md"])
    design, style, specs = "DES" + "IGN", "STY" + "LE", "spe" + "cs/providers.md"
    samples = {
        "outside path": f"see {outside}",
        "design note": f'"""The state machine ({design} §2)."""',
        "style guide": f"# one decorator ({style} §2)",
        "research notes": f"follows {specs} and spec §1.5",
        "provider seeds": "# ported from seeds/003",
        "tracker number": "Issue 5 asks for proof; see issue #12",
    }
    for rule, line in samples.items():
        rules = {v.rule for v in scan("pkg/module.py", line)}
        assert rule in rules, f"{rule!r} not found in {line!r}"


def test_section_signs_must_name_an_existing_heading() -> None:
    ok = "see docs/TRON.md §6 and `docs/PROVIDERS.md` (§2.1, §3.1 and §4.1), [TRON.md](TRON.md) §9"
    assert scan("pkg/module.py", ok) == []
    missing = scan("pkg/module.py", "see docs/TRON.md §99")
    assert [v.rule for v in missing] == ["no section 99 in docs/TRON.md"]
    assert [v.rule for v in scan("pkg/module.py", "as §3 says")] == ["section sign without a document"]
    assert scan("docs/TRON.md", "as §13 lists") == []
    assert [v.rule for v in scan("docs/RELIABILITY.md", "## Crashes (§1)")] == [
        "no section 1 in docs/RELIABILITY.md"
    ]


def test_public_sources_and_urls_are_not_pointers() -> None:
    lines = [
        "https://github.com/tronprotocol/java-tron/issues/3791",
        "tronprotocol/documentation-en docs/api/specs/http/getaccount.yaml",
        "rng = random.Random(seed)",
        "a design note, the specs of TRON",
    ]
    for line in lines:
        assert scan("docs/TRON.md", line) == [], line
