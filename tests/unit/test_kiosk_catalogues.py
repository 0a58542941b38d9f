"""The touchscreen's own words: the .pot matches the sources, and each language (ar, fr, tzm)
translates every msgid, keeps its placeholders, is written in its own script and is compiled.

A person who adds or changes a string in kiosk/ui sees here exactly which command to run.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

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

# %(name)s as gettext formats it, and {name} as the page's JavaScript fills it in.
PLACEHOLDER = re.compile(r"%\(\w+\)[a-zA-Z]|%[sdif]|\{\w*\}")
TIFINAGH = range(0x2D30, 0x2D80)
ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")

Text = str | tuple[str, ...] | list[str]  # a msgid or msgstr; a sequence for plural forms


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=lang)


def key(message_id: Text) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def texts(string: Text | None) -> list[str]:
    if not string:
        return []
    return [string] if isinstance(string, str) else list(string)


def translated(catalog: Catalog) -> dict[str, list[str]]:
    """What pybabel compile puts in the .mo: translated entries that are not fuzzy."""
    return {
        key(message.id): texts(message.string)
        for message in catalog
        if message.id and not message.fuzzy and all(texts(message.string))
    }


def test_the_pot_lists_exactly_the_strings_of_the_ui_sources() -> None:
    with (UI / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    fresh = {
        key(found[2])
        for found in extract_from_dir(
            UI, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "lazy_gettext": None}
        )
    }
    listed = {key(message.id) for message in read_catalog(POT) if message.id}
    assert fresh == listed, (
        f"kiosk/ui/translations/messages.pot is out of date with kiosk/ui. "
        f"New in the sources: {sorted(fresh - listed)}; gone from the sources: "
        f"{sorted(listed - fresh)}. Run `{EXTRACT}`, then `{UPDATE}`, translate the new "
        f"entries in ar, fr and tzm, then run `{COMPILE}`."
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_msgid_is_translated_and_not_fuzzy(lang: str) -> None:
    wanted = {key(message.id) for message in read_catalog(POT) if message.id}
    catalog = read_catalog(po_path(lang), lang)
    have = {key(message.id): message for message in catalog if message.id}
    missing = sorted(wanted - set(have))
    stale = sorted(set(have) - wanted)
    assert not missing and not stale, (
        f"{po_path(lang).relative_to(ROOT)} does not match messages.pot (missing: {missing}; "
        f"no longer in the sources: {stale}). Run `{UPDATE}`, translate the new entries, "
        f"then run `{COMPILE}`."
    )
    assert not catalog.fuzzy, (
        f"the header of {po_path(lang).relative_to(ROOT)} is marked fuzzy, so `{COMPILE}` "
        f"skips the whole file: remove its '#, fuzzy' line, then run `{COMPILE}`."
    )
    untranslated = sorted(
        msgid for msgid in wanted if have[msgid].fuzzy or not all(texts(have[msgid].string))
    )
    assert not untranslated, (
        f"{po_path(lang).relative_to(ROOT)} leaves {len(untranslated)} msgid(s) empty or "
        f"fuzzy: {untranslated}. Fill in their msgstr, remove their '#, fuzzy' flag, then run "
        f"`{COMPILE}`."
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_mo_matches_its_po(lang: str) -> None:
    mo_path = po_path(lang).with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path.relative_to(ROOT)} is missing: run `{COMPILE}`."
    with mo_path.open("rb") as file:
        compiled = translated(read_mo(file))
    written = translated(read_catalog(po_path(lang), lang))
    differing = sorted(
        msgid for msgid in set(compiled) | set(written) if compiled.get(msgid) != written.get(msgid)
    )
    assert not differing, (
        f"{mo_path.relative_to(ROOT)} is older than its .po ({len(differing)} msgid(s) differ: "
        f"{differing}). Run `{COMPILE}`."
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: str) -> None:
    broken = [
        (msgid, text)
        for msgid, strings in translated(read_catalog(po_path(lang), lang)).items()
        for text in strings
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(msgid))
    ]
    assert not broken, (
        f"{po_path(lang).relative_to(ROOT)}: these translations lose, add or change a "
        f"placeholder such as %(n)s or {{s}}; copy them exactly from the msgid, then run "
        f"`{COMPILE}`: {broken}"
    )


def test_tamazight_is_written_in_tifinagh() -> None:
    latin_or_other = {}
    for msgid, strings in translated(read_catalog(po_path("tzm"), "tzm")).items():
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
        for msgid, strings in translated(read_catalog(po_path("ar"), "ar")).items()
        for text in strings
        if not ARABIC_LETTER.search(PLACEHOLDER.sub("", text))
    ]
    assert not without_arabic, (
        f"kiosk/ui/translations/ar/LC_MESSAGES/messages.po has msgstr with no Arabic letter "
        f"(left in English?): {without_arabic}. Translate them, then run `{COMPILE}`."
    )
