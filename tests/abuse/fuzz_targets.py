"""Coverage-guided fuzzing (atheris, libFuzzer) of what reaches the hub from outside:

* ``codec``: an MQTT payload as a kiosk (or anyone holding a kiosk's certificate) sends it,
  through ``decode_event`` and ``decode_message`` for every message type. Only ProtocolError
  may come out, and an accepted event must re-encode to bytes that decode to itself.
* ``xlsform``: the bytes of an uploaded .xlsx, mutated from the shipped forms, through
  ``load_xlsform``. Only XLSFormError may come out.
* ``xlsform_cells``: a workbook written from the fuzzer's choices (columns, types, names,
  expressions, translations, settings), through ``load_xlsform`` and, when the hub accepts
  it, through the kiosk's runtime: FormError is the only refusal it may give.

Any other exception is a crash: libFuzzer stops, prints the traceback and saves the input.

    python -m tests.abuse.fuzz_targets TARGET [libFuzzer options] [corpus folders]
    python -m tests.abuse.fuzz_targets codec -max_total_time=60 var/fuzz/codec

An empty (or missing) first corpus folder is filled with valid inputs first (``write_seeds``).
tests/abuse/test_fuzz.py runs each target briefly, bench/fuzz.py for longer.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import atheris

TARGETS = ("codec", "xlsform", "xlsform_cells")
# Instrumented as they are imported below, so that libFuzzer sees their branches.
with atheris.instrument_imports(include=["protocol", "hub.questionnaires", "pyxform"]):
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from hub.questionnaires.xlsform import FORMS_DIR, XLSFormError, load_xlsform
    from protocol import ProtocolError, decode_event, encode
    from protocol.codec import decode_message
    from protocol.events import (
        EVENT_TYPES,
        MovementVerified,
        MovementVerifiedEvent,
        QuestionnaireResponse,
        QuestionnaireResponseEvent,
    )
    from protocol.messages import MESSAGE_TYPES, Ack, Status, SyncRequest
    from protocol.questionnaire import FormDefinition, FormError, FormRun


# --- codec ------------------------------------------------------------------------------------


def fuzz_codec(data: bytes) -> None:
    try:
        event = decode_event(data)
    except ProtocolError:
        pass
    else:
        again = encode(event)
        if decode_event(again) != event or encode(decode_event(again)) != again:
            raise AssertionError(f"an accepted event does not round-trip: {data[:200]!r}")
    for model in MESSAGE_TYPES.values():
        try:
            message = decode_message(data, model)
        except ProtocolError:
            continue
        if decode_message(encode(message), model) != message:
            raise AssertionError(f"an accepted {model.__name__} does not round-trip")


def _codec_seeds() -> list[bytes]:
    at = datetime(2026, 11, 29, 5, 2, 50, 123000, tzinfo=UTC)
    envelope: dict[str, Any] = {
        "id": "019ace4f-1c3b-7d2e-9a41-0123456789ab",
        "site": "rabat-1",
        "device": "wing-a-1",
        "seq": 7,
        "at": at,
        "subject": "d-1",
    }
    response = QuestionnaireResponse(
        form_id="masar_intake",
        form_version="2026-11",
        language="ar",
        started_at=at,
        completed_at=at,
        answers={"education_level": "3", "skills": ["welding", "بناء"], "age": 31, "x": 2.5},
    )
    movement = MovementVerified(
        from_location="wing-a", to_location="workshop", modalities=["badge"], outcome="confirmed"
    )
    return [
        encode(QuestionnaireResponseEvent(**envelope, body=response)),
        encode(MovementVerifiedEvent(**envelope, actor="officer-7", body=movement)),
        encode(Status(site="rabat-1", device="wing-a-1", state="online", at=at, outbox_depth=3)),
        encode(Ack(site="rabat-1", device="wing-a-1", at=at, committed=[envelope["id"]])),
        encode(SyncRequest(site="rabat-1", device="wing-a-1", cursor="12", limit=500)),
    ]


def _codec_words() -> list[str]:
    names = {"type", "body", "v", "true", "false", "null", "-0", "1e308", "\\u0000", "\\ud800"}
    for model in (*EVENT_TYPES.values(), *MESSAGE_TYPES.values()):
        names.update(model.model_fields)
    names.update(EVENT_TYPES)
    names.update(["face", "fingerprint", "badge", "pin", "1:1", "1:N", "exact", "matched"])
    names.update(["2026-11-29T05:02:50.123Z", "2026-11-29T05:02:50+01:00", "9999-12-31T23:59Z"])
    return sorted(names)


# --- xlsform ----------------------------------------------------------------------------------


def _runs_on_a_kiosk(data: bytes) -> None:
    """What the hub accepts is either readable by the kiosk's runtime or refused in words."""
    try:
        form = load_xlsform(data)
    except XLSFormError:
        return
    try:
        definition = FormDefinition.from_survey(
            form.survey, form.titles, form_id=form.form_id, version=form.version
        )
    except FormError:
        return
    run = FormRun(definition)
    for question in definition.screens:
        run.label(question.name, "ar")
        if question.type != "note":
            run.answer(question.name, "1")
    run.final_answers()


def fuzz_xlsform(data: bytes) -> None:
    _runs_on_a_kiosk(data)


LANGUAGE_COLUMNS = ["Arabic (ar)", "French (fr)", "Tamazight (tzm)"]
SURVEY_COLUMNS = [
    "type",
    "name",
    *(f"label::{language}" for language in LANGUAGE_COLUMNS),
    "label",
    "hint::French (fr)",
    "relevant",
    "constraint",
    *(f"constraint_message::{language}" for language in LANGUAGE_COLUMNS),
    "required",
    "calculation",
    "choice_filter",
    "appearance",
    "default",
    "masar::fact",
    "media::audio::Arabic (ar)",
    "repeat_count",
]
CHOICE_COLUMNS = ["list_name", "name", *(f"label::{language}" for language in LANGUAGE_COLUMNS)]
SETTINGS_COLUMNS = [
    "form_id",
    "version",
    "default_language",
    *(f"masar::title::{language}" for language in LANGUAGE_COLUMNS),
    "masar::note",
]
VOCABULARY = {
    "type": ["integer", "decimal", "text", "date", "note", "calculate", "select_one yn",
             "select_multiple yn", "select_one missing", "begin group", "end group",
             "begin repeat", "end repeat", "begin_group", "geopoint", "image", "audio",
             "hidden", "start", "today", "acknowledge", "range", "rank yn", "trigger"],
    "name": ["a", "b", "c", "yn", "g", "1bad", "a b", "meta", "instanceID", "a-b", "ⴰ"],
    "list_name": ["yn", "other", ""],
    "expression": ["${a} > 1", "${b} = 'yes'", "selected(${a}, 'y')", ". < 10", "${missing}",
                   "(", ")", "${a", "'open", "1 +", "and", "today() - ${c}", "regex(., '[')",
                   "${a} div 0", "if(${a}, 1, 2)", "count-selected(${b})", "pow(10, 400)",
                   "substring-after(${a}, '')", "concat(${a}, ${b})", "jr:choice-name(${a}, 'b')"],
    "required": ["yes", "no", "true()", "${a} > 1", "TRUE", ""],
    "masar::fact": ["education_level", "occupation", "unknown_fact", ""],
    "version": ["1", "2026-11", "", "٢٠٢٦"],
    "form_id": ["f", "masar_intake", "", "a b"],
}  # fmt: skip
EXPRESSION_COLUMNS = {"relevant", "constraint", "calculation", "choice_filter", "repeat_count"}


def _text(fdp: atheris.FuzzedDataProvider, column: str) -> str:
    key = "expression" if column in EXPRESSION_COLUMNS else column
    choice = fdp.ConsumeIntInRange(0, 3)
    if choice == 0 or key not in VOCABULARY:
        # Free text, without the control characters an .xlsx cannot hold.
        return str(ILLEGAL_CHARACTERS_RE.sub("", fdp.ConsumeUnicodeNoSurrogates(12)))
    if choice == 1:
        return ""
    words = VOCABULARY[key]
    return words[fdp.ConsumeIntInRange(0, len(words) - 1)]


def _sheet(
    fdp: atheris.FuzzedDataProvider, book: Any, title: str, columns: list[str], rows: int
) -> None:
    sheet = book.create_sheet(title)
    chosen = [column for column in columns if fdp.ConsumeIntInRange(0, 4) > 0]
    sheet.append(chosen)
    for _ in range(fdp.ConsumeIntInRange(0, rows)):
        sheet.append([_text(fdp, column) for column in chosen])


def workbook(data: bytes) -> bytes:
    """An .xlsx built from the fuzzer's bytes: which columns, how many rows, what in each."""
    fdp = atheris.FuzzedDataProvider(data)
    book = openpyxl.Workbook()
    book.remove(book.active)
    _sheet(fdp, book, "survey", SURVEY_COLUMNS, 8)
    if fdp.ConsumeBool():
        _sheet(fdp, book, "choices", CHOICE_COLUMNS, 4)
    if fdp.ConsumeBool():
        _sheet(fdp, book, "settings", SETTINGS_COLUMNS, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def fuzz_xlsform_cells(data: bytes) -> None:
    _runs_on_a_kiosk(workbook(data))


# --- running ----------------------------------------------------------------------------------

HARNESSES: dict[str, Callable[[bytes], None]] = {
    "codec": fuzz_codec,
    "xlsform": fuzz_xlsform,
    "xlsform_cells": fuzz_xlsform_cells,
}


def write_seeds(target: str, folder: Path) -> Path | None:
    """Put valid inputs for ``target`` in ``folder``; return a libFuzzer dictionary, if any."""
    folder.mkdir(parents=True, exist_ok=True)
    if target == "codec":
        for number, seed in enumerate(_codec_seeds()):
            (folder / f"seed-{number}.json").write_bytes(seed)
        dictionary = folder.parent / f"{target}.dict"
        lines = (f'"{_escaped(word)}"' for word in _codec_words())
        dictionary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return dictionary
    if target == "xlsform":
        for path in sorted(FORMS_DIR.glob("*.xlsx")):
            (folder / path.name).write_bytes(path.read_bytes())
    return None


def _escaped(word: str) -> str:
    """A dictionary entry as libFuzzer reads it: printable ASCII, other bytes as \\xNN."""
    return "".join(
        chr(byte) if 32 <= byte < 127 and byte not in b'"\\' else f"\\x{byte:02x}"
        for byte in word.encode()
    )


def main(argv: list[str]) -> None:
    """Fuzz TARGET; an empty corpus folder is first filled with the seeds, and the codec's
    dictionary is given to libFuzzer."""
    if len(argv) < 2 or argv[1] not in HARNESSES:
        sys.exit(f"usage: python -m tests.abuse.fuzz_targets {{{','.join(TARGETS)}}} [options]")
    target, options = argv[1], argv[2:]
    folders = [Path(option) for option in options if not option.startswith("-")]
    if folders and not (folders[0].is_dir() and any(folders[0].iterdir())):
        dictionary = write_seeds(target, folders[0])
        if dictionary is not None and not any(o.startswith("-dict=") for o in options):
            options.append(f"-dict={dictionary}")
    atheris.Setup([argv[0], *options], HARNESSES[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
