"""The hub's questionnaire versions: import an XLSForm, keep every version, find one."""

from __future__ import annotations

import hashlib
from dataclasses import asdict

from sqlalchemy.orm import Session

from hub.models import QuestionnaireVersion
from hub.questionnaires.xlsform import load_xlsform
from protocol.ids import utc_now


class QuestionnaireError(ValueError):
    """The questionnaire cannot be imported; the message says why."""


def import_form(session: Session, xlsx: bytes, *, actor: str) -> QuestionnaireVersion:
    """Check and store one XLSForm version. Importing the same file again changes nothing;
    a different file under an existing version is refused (raise the version instead)."""
    form = load_xlsform(xlsx)  # XLSFormError names sheet, row and column
    digest = hashlib.sha256(xlsx).hexdigest()
    existing = session.get(QuestionnaireVersion, (form.form_id, form.version))
    if existing is not None:
        if existing.xlsx_sha256 == digest:
            return existing
        raise QuestionnaireError(
            f"version {form.version} of questionnaire {form.form_id} already exists with other "
            "content; give the changed form a new version in its settings sheet"
        )
    version = QuestionnaireVersion(
        form_id=form.form_id,
        version=form.version,
        titles=dict(form.titles),
        survey=dict(form.survey),
        facts=[asdict(mapping) for mapping in form.facts],
        xlsx_sha256=digest,
        xlsx=xlsx,
        imported_at=utc_now(),
        imported_by=actor,
    )
    session.add(version)
    session.flush()
    return version


def find_version(session: Session, form_id: str, version: str) -> QuestionnaireVersion | None:
    return session.get(QuestionnaireVersion, (form_id, version))
