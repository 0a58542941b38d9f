"""Finding a detainee by prison number or by name, tolerant to spelling variants.

Names are written by hand at intake, in Arabic and in Latin script, and the same name
has many Latin spellings (Mohammed, Mohamed, Muhammad). Each detainee row keeps a
``name_search`` string built here: the folded words of both names, then a consonant
skeleton of each Latin word (``~mhmd``). A query word matches the start of a folded word
or, failing that, the whole skeleton; every query word must match.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from hub.models import Detainee

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي"})
_ARABIC_LETTERS.update(str.maketrans({"ؤ": "و", "ئ": "ي"}))
_LATIN_VARIANTS = (
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("ch", "sh"),
    ("ce", "se"),
    ("ci", "si"),
    ("dj", "j"),
    ("q", "k"),
)
_PARTICLES = {"el", "al", "ben", "bin", "ibn", "ould", "ait", "bel", "bou", "abu"}


def _words(text: str) -> list[str]:
    text = _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text)).translate(_ARABIC_LETTERS)
    latin = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )
    return [w for w in re.split(r"[^\w]+|_", latin) if w]


def _arabic_stem(word: str) -> str | None:
    """The word without its article (العلوي -> علوي), so both spellings are found."""
    return word[2:] if word.startswith("ال") and len(word) > 3 else None


def skeleton(word: str) -> str | None:
    """A Latin word's consonants after common transliteration variants, doubles collapsed:
    Mohammed, Mohamed and Muhammad all give ``mhmd``. None for non-Latin or short words."""
    if not word.isascii() or not word.isalpha() or len(word) < 3:
        return None
    for variant, plain in _LATIN_VARIANTS:
        word = word.replace(variant, plain)
    consonants = re.sub(r"[aeiouyw]", "", word)
    collapsed = re.sub(r"(.)\1+", r"\1", consonants)
    return collapsed if len(collapsed) >= 2 else None


def search_key(*names: str) -> str:
    """What ``Detainee.name_search`` holds for these names."""
    words: list[str] = []
    for name in names:
        for word in _words(name):
            words.append(word)
            stem = _arabic_stem(word)
            if stem:
                words.append(stem)
    skeletons = {s for w in words if w not in _PARTICLES and (s := skeleton(w))}
    return " " + " ".join(words + [f"~{s}" for s in sorted(skeletons)]) + " "


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _word_matches(word: str) -> ColumnElement[bool]:
    options = [Detainee.name_search.like(f"% {_escape(word)}%", escape="\\")]
    shape = skeleton(word)
    if shape and word not in _PARTICLES:
        options.append(Detainee.name_search.like(f"% ~{_escape(shape)} %", escape="\\"))
    return or_(*options)


def find_detainees(
    session: Session, query: str, *, site: str | None = None, limit: int = 50
) -> list[Detainee]:
    """Detainees whose prison number starts with, or whose names match, ``query``."""
    query = query.strip()
    if not query:
        return []
    words = _words(query)
    conditions: list[ColumnElement[bool]] = [
        Detainee.prison_number.like(f"{_escape(query)}%", escape="\\")
    ]
    if words:
        conditions.append(and_(*(_word_matches(w) for w in words)))
    statement = select(Detainee).where(or_(*conditions))
    if site is not None:
        statement = statement.where(Detainee.site == site)
    return list(session.scalars(statement.order_by(Detainee.name_latin, Detainee.id).limit(limit)))
