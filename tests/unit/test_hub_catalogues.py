"""The hub web pages' own words: the .pot matches the sources, and each language the pages
offer (hub.web.language: fr, ar) translates every msgid, keeps its placeholders, is compiled,
and Arabic is written in Arabic.

A person who adds or changes a string in hub/web (or in hub/app.py's error pages) sees here
exactly which command to run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg

from hub.web import language
from tests.catalogues import ARABIC_LETTER, PLACEHOLDER, Catalogues, key

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "hub" / "web"
ERROR_PAGES = ROOT / "hub" / "app.py"  # the 404/405/413/500 pages' words
TRANSLATIONS = WEB / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGUAGES = ("ar", "fr")
# `lazy_gettext as _l` in the page modules: pybabel must be told about both names.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}

EXTRACT = (
    ".venv/bin/pybabel extract -F hub/web/babel.cfg -k _l -k lazy_gettext "
    "-o hub/web/translations/messages.pot hub/web hub/app.py"
)
UPDATE = ".venv/bin/pybabel update -i hub/web/translations/messages.pot -d hub/web/translations"
COMPILE = ".venv/bin/pybabel compile -d hub/web/translations"
CATALOGUES = Catalogues(TRANSLATIONS, UPDATE, COMPILE)

LATIN_WORD = re.compile("[A-Za-z]{2,}")


def test_every_language_the_pages_offer_has_a_catalogue() -> None:
    assert set(language.NAMES) == set(LANGUAGES), (
        f"hub/web/language.py offers {sorted(language.NAMES)} but this test checks "
        f"{list(LANGUAGES)}: add the language here and create its catalogue with "
        f"`.venv/bin/pybabel init -i hub/web/translations/messages.pot -d hub/web/translations "
        f"-l CODE` (see hub/web/translations/README.md)."
    )


def test_the_pot_lists_exactly_the_strings_of_the_web_sources() -> None:
    with (WEB / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found = extract_from_dir(WEB, method_map, options_map, keywords=KEYWORDS)
    fresh = {key(message) for _file, _line, message, _comments, _context in found}
    errors = extract_from_file("python", ERROR_PAGES, keywords=KEYWORDS)
    fresh |= {key(message) for _line, message, _comments, _context in errors}
    listed = CATALOGUES.listed()
    assert fresh == listed, (
        f"hub/web/translations/messages.pot is out of date with hub/web and hub/app.py. "
        f"New in the sources: {sorted(fresh - listed)}; gone from the sources: "
        f"{sorted(listed - fresh)}. Run `{EXTRACT}`, then `{UPDATE}`, translate the new "
        f"entries in ar and fr, then run `{COMPILE}`."
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_msgid_is_translated_and_not_fuzzy(lang: str) -> None:
    problem = CATALOGUES.incomplete(lang)
    assert problem is None, problem


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_mo_matches_its_po(lang: str) -> None:
    problem = CATALOGUES.stale_mo(lang)
    assert problem is None, problem


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: str) -> None:
    broken = CATALOGUES.broken_placeholders(lang)
    assert not broken, (
        f"{CATALOGUES.name(CATALOGUES.po(lang))}: these translations lose, add or change a "
        f"placeholder such as %(site)s; copy them exactly from the msgid, then run "
        f"`{COMPILE}`: {broken}"
    )


def test_arabic_translations_contain_arabic_letters() -> None:
    """A msgid with words needs Arabic ones; one of placeholders and punctuation only
    (``%(where)s: %(problem)s``) stays as it is."""
    without_arabic = [
        msgid
        for msgid, strings in CATALOGUES.translations("ar").items()
        for text in strings
        if LATIN_WORD.search(PLACEHOLDER.sub("", msgid))
        and not ARABIC_LETTER.search(PLACEHOLDER.sub("", text))
    ]
    assert not without_arabic, (
        f"hub/web/translations/ar/LC_MESSAGES/messages.po has msgstr with no Arabic letter "
        f"(left in English?): {without_arabic}. Translate them, then run `{COMPILE}`."
    )
