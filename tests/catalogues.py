"""Checks shared by the kiosk's and the hub's gettext catalogue tests: each returns what is
wrong, and the test says it with the commands to run (``update`` and ``compile``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
# %(name)s as gettext formats it, and {name} as a page's JavaScript fills it in.
PLACEHOLDER = re.compile(r"%\(\w+\)[a-zA-Z]|%[sdif]|\{\w*\}")
ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")

Text = str | tuple[str, ...] | list[str]  # a msgid or msgstr; a sequence for plural forms


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


@dataclass(frozen=True)
class Catalogues:
    """One folder of catalogues (``messages.pot`` and ``<lang>/LC_MESSAGES/messages.po``)."""

    folder: Path
    update: str  # the pybabel update command, as the messages tell it
    compile: str

    @property
    def pot(self) -> Path:
        return self.folder / "messages.pot"

    def po(self, lang: str) -> Path:
        return self.folder / lang / "LC_MESSAGES" / "messages.po"

    def name(self, path: Path) -> Path:
        return path.relative_to(ROOT)

    def listed(self) -> set[str]:
        return {key(message.id) for message in read_catalog(self.pot) if message.id}

    def translations(self, lang: str) -> dict[str, list[str]]:
        return translated(read_catalog(self.po(lang), lang))

    def incomplete(self, lang: str) -> str | None:
        """Why the .po does not translate exactly the .pot's msgids, if it does not."""
        wanted = self.listed()
        catalog = read_catalog(self.po(lang), lang)
        have = {key(message.id): message for message in catalog if message.id}
        missing, stale = sorted(wanted - set(have)), sorted(set(have) - wanted)
        po, update, compile_ = self.name(self.po(lang)), self.update, self.compile
        if missing or stale:
            return (
                f"{po} does not match messages.pot (missing: {missing}; no longer in the "
                f"sources: {stale}). Run `{update}`, translate the new entries, then run "
                f"`{compile_}`."
            )
        if catalog.fuzzy:
            return (
                f"the header of {po} is marked fuzzy, so `{compile_}` skips the whole file: "
                f"remove its '#, fuzzy' line, then run `{compile_}`."
            )
        empty = sorted(
            msgid for msgid in wanted if have[msgid].fuzzy or not all(texts(have[msgid].string))
        )
        if empty:
            return (
                f"{po} leaves {len(empty)} msgid(s) empty or fuzzy: {empty}. Fill in their "
                f"msgstr, remove their '#, fuzzy' flag, then run `{compile_}`."
            )
        return None

    def stale_mo(self, lang: str) -> str | None:
        """Why the compiled .mo is not its .po, if it is not."""
        mo = self.po(lang).with_suffix(".mo")
        if not mo.exists():
            return f"{self.name(mo)} is missing: run `{self.compile}`."
        with mo.open("rb") as file:
            compiled = translated(read_mo(file))
        written = self.translations(lang)
        differing = sorted(
            msgid
            for msgid in set(compiled) | set(written)
            if compiled.get(msgid) != written.get(msgid)
        )
        if differing:
            return (
                f"{self.name(mo)} is older than its .po ({len(differing)} msgid(s) differ: "
                f"{differing}). Run `{self.compile}`."
            )
        return None

    def broken_placeholders(self, lang: str) -> list[tuple[str, str]]:
        """Translations that lose, add or change a placeholder of their msgid."""
        return [
            (msgid, text)
            for msgid, strings in self.translations(lang).items()
            for text in strings
            if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(msgid))
        ]
