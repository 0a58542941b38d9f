"""The two international classifications that profile facts are coded to.

Why: a detainee's highest education level and his past jobs, work history and job wishes
must be comparable across prisons, partner foundations and training providers, and must
map onto ESCO skills later. Free text ("soudeur", "welder", "لحام") cannot be counted or
matched; a code can. So:

* education level → ISCED 2011 (UNESCO), levels ``"0"`` … ``"8"`` plus ``"9"`` not
  elsewhere classified (Eurostat ED9), from ``hub/data/isced2011.csv``;
* occupations → ISCO-08 (ILO), 10 major, 43 sub-major, 130 minor and 436 unit groups,
  from ``hub/data/isco08.csv``. A code's digits are its path: ``7212`` is in ``721``,
  in ``72``, in ``7``.

Both files ship with the package (sources and licence notes in ``hub/data/README.md``)
and are read once per process. Codes are strings, never ints: ISCO's armed forces
groups start with ``0`` (``0110``).
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class IscedLevel:
    """One ISCED 2011 level."""

    code: str
    title_en: str
    title_fr: str
    title_ar: str
    description: str


@dataclass(frozen=True, slots=True)
class IscoGroup:
    """One ISCO-08 group; ``level`` 1 major, 2 sub-major, 3 minor, 4 unit."""

    code: str
    level: int
    parent: str | None
    title_en: str
    title_fr: str | None
    title_ar: str | None


def _rows(name: str) -> Iterator[dict[str, str]]:
    """The data rows of a shipped CSV, skipping its ``#`` header comment lines."""
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(line for line in f if not line.startswith("#"))


@functools.cache
def isced_levels() -> dict[str, IscedLevel]:
    """All ISCED 2011 levels by code, in file order."""
    return {
        r["code"]: IscedLevel(
            r["code"], r["title_en"], r["title_fr"], r["title_ar"], r["description"]
        )
        for r in _rows("isced2011.csv")
    }


@functools.cache
def isco_groups() -> dict[str, IscoGroup]:
    """All ISCO-08 groups by code, in file order (each group before its children)."""
    return {
        r["code"]: IscoGroup(
            code=r["code"],
            level=int(r["level"]),
            parent=r["parent"] or None,
            title_en=r["title_en"],
            title_fr=r["title_fr"] or None,
            title_ar=r["title_ar"] or None,
        )
        for r in _rows("isco08.csv")
    }


def check_isced(code: str) -> str:
    """Return ``code`` if it is an ISCED 2011 level, else raise ValueError naming it."""
    if code not in isced_levels():
        raise ValueError(f"ISCED 2011 has no level {code!r}")
    return code


def check_isco(code: str) -> str:
    """Return ``code`` if it is an ISCO-08 group, else raise ValueError naming it."""
    if code not in isco_groups():
        raise ValueError(f"ISCO-08 has no group {code!r}")
    return code


def isced(code: str) -> IscedLevel:
    """The ISCED 2011 level with this code (ValueError if none)."""
    return isced_levels()[check_isced(code)]


def isco(code: str) -> IscoGroup:
    """The ISCO-08 group with this code (ValueError if none)."""
    return isco_groups()[check_isco(code)]


@functools.cache
def _children() -> dict[str, tuple[IscoGroup, ...]]:
    found: dict[str, list[IscoGroup]] = {}
    for group in isco_groups().values():
        if group.parent is not None:
            found.setdefault(group.parent, []).append(group)
    return {parent: tuple(kids) for parent, kids in found.items()}


def isco_children(code: str) -> tuple[IscoGroup, ...]:
    """The groups one level below ``code`` (empty for a unit group)."""
    return _children().get(check_isco(code), ())


def isco_major(code: str) -> IscoGroup:
    """The major group (level 1) that ``code`` belongs to; a major group is its own."""
    return isco_groups()[check_isco(code)[0]]


def _fold(text: str) -> str:
    """Lower case without accents, so "Électricien" and "electricien" match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_isco(query: str, *, level: int | None = 4, limit: int = 20) -> list[IscoGroup]:
    """ISCO-08 groups whose English, French or Arabic title holds every word of ``query``.

    Accent- and case-insensitive; a word also matches the start of a longer word
    ("welder" finds "Welders and flamecutters"). ``level`` 4 (the default) searches unit
    groups, which is what a profile stores; ``None`` searches every level. Titles
    starting with the query come first, then the file's order.
    """
    words = _fold(query).split()
    if not words:
        return []
    hits: list[tuple[bool, IscoGroup]] = []
    for group in isco_groups().values():
        if level is not None and group.level != level:
            continue
        titles = [_fold(t) for t in (group.title_en, group.title_fr, group.title_ar) if t]
        title_words = [w.strip(",.()'") for t in titles for w in t.split()]
        if all(any(tw.startswith(w) for tw in title_words) for w in words):
            starts = any(t.startswith(words[0]) for t in titles)
            hits.append((not starts, group))
    hits.sort(key=lambda hit: hit[0])  # stable: keeps file order within each band
    return [group for _, group in hits[:limit]]
