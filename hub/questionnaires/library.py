"""The hub's questionnaire versions: import an XLSForm, keep every version, find one, publish
it (its recorded audio is published by hub.questionnaires.media)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
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


def latest_version(session: Session, form_id: str) -> QuestionnaireVersion | None:
    """The newest imported version of one questionnaire."""
    return session.scalars(
        select(QuestionnaireVersion)
        .where(QuestionnaireVersion.form_id == form_id)
        .order_by(QuestionnaireVersion.imported_at.desc())
        .limit(1)
    ).first()


def latest_versions(session: Session) -> list[QuestionnaireVersion]:
    """The newest imported version of each questionnaire."""
    newest: dict[str, QuestionnaireVersion] = {}
    for version in session.scalars(
        select(QuestionnaireVersion).order_by(QuestionnaireVersion.imported_at)
    ):
        newest[version.form_id] = version
    return sorted(newest.values(), key=lambda v: v.form_id)


def publish(
    session: Session, trail: Trail, form_id: str, version: str, *, site: str, wing: str | None
) -> None:
    """Send this version to the kiosks of a site (or of one wing): it replaces the one they
    had under the same form id. Answers always name the version they were given for."""
    stored = find_version(session, form_id, version)
    if stored is None:
        raise LookupError(f"no version {version} of questionnaire {form_id}")
    data = {
        "form_id": form_id,
        "version": version,
        "titles": stored.titles,
        "survey": stored.survey,
    }
    key = f"{form_id}@{site}" + (f"/{wing}" if wing else "")
    roster.put_document(session, "questionnaire", key, data, site=site, wing=wing)
    trail.record(
        session,
        "questionnaire.publish",
        None,
        {"form_id": form_id, "version": version, "site": site, "wing": wing},
    )
