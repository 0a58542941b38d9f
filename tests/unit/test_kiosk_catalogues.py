"""The touchscreen's own words: the .pot matches the sources, and each language (ar, fr, tzm)
translates every msgid, keeps its placeholders, is written in its own script and is compiled.

A person who adds or changes a string in kiosk/ui sees here exactly which command to run.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from tests.catalogues import ARABIC_LETTER, PLACEHOLDER, Catalogues, key

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "kiosk" / "ui"
TRANSLATIONS = UI / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGUAGES = ("ar", "fr", "tzm")

EXTRACT = (
    ".venv/bin/pybabel extract -F kiosk/ui/babel.cfg -k lazy_gettext "
    "-o kiosk/ui/translations/messages.pot kiosk/ui"
)
UPDATE = ".venv/bin/pybabel update -i kiosk/ui/translations/messages.pot -d kiosk/ui/translations"
COMPILE = ".venv/bin/pybabel compile -d kiosk/ui/translations"
CATALOGUES = Catalogues(TRANSLATIONS, UPDATE, COMPILE)

TIFINAGH = range(0x2D30, 0x2D80)


def test_the_pot_lists_exactly_the_strings_of_the_ui_sources() -> None:
    with (UI / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    fresh = {
        key(found[2])
        for found in extract_from_dir(
            UI, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "lazy_gettext": None}
        )
    }
    listed = CATALOGUES.listed()
    assert fresh == listed, (
        f"kiosk/ui/translations/messages.pot is out of date with kiosk/ui. "
        f"New in the sources: {sorted(fresh - listed)}; gone from the sources: "
        f"{sorted(listed - fresh)}. Run `{EXTRACT}`, then `{UPDATE}`, translate the new "
        f"entries in ar, fr and tzm, then run `{COMPILE}`."
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
        f"placeholder such as %(n)s or {{s}}; copy them exactly from the msgid, then run "
        f"`{COMPILE}`: {broken}"
    )


def test_tamazight_is_written_in_tifinagh() -> None:
    latin_or_other = {}
    for msgid, strings in CATALOGUES.translations("tzm").items():
        for text in strings:
            if any(
                unicodedata.category(char)[0] in "LM" and ord(char) not in TIFINAGH
                for char in PLACEHOLDER.sub("", text)
            ):
                latin_or_other[msgid] = text
    assert not latin_or_other, (
        f"kiosk/ui/translations/tzm/LC_MESSAGES/messages.po must be in Tifinagh "
        f"(U+2D30-U+2D7F), not Latin or Arabic letters; rewrite these msgstr, then run "
        f"`{COMPILE}`: {latin_or_other}"
    )


def test_arabic_translations_contain_arabic_letters() -> None:
    without_arabic = [
        msgid
        for msgid, strings in CATALOGUES.translations("ar").items()
        for text in strings
        if not ARABIC_LETTER.search(PLACEHOLDER.sub("", text))
    ]
    assert not without_arabic, (
        f"kiosk/ui/translations/ar/LC_MESSAGES/messages.po has msgstr with no Arabic letter "
        f"(left in English?): {without_arabic}. Translate them, then run `{COMPILE}`."
    )
