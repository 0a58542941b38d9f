"""Referral files for partner foundations.

A partner's user sees only the people who agreed to share their file with that partner's
organisation, and downloads each file (PDF or CSV) through the JSON API, which checks the
consent again and writes the export to the audit log. Names are shown to a partner only
when the person shared their identity. Social workers see the same list for a partner
they choose, limited to their establishment if they belong to one.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from hub import detainee_file
from hub.api.core import Call
from hub.models import Consent, Detainee
from hub.web.access import page
from hub.web.detainees import SECTION_NAMES, when
from hub.web.language import selected
from hub.web.nav import NavEntry

bp = Blueprint("partners", __name__)
NAV = [NavEntry(25, "partners.files", _l("Referrals"), "referrals.read")]
PER_PAGE = 50


def _page_number() -> int:
    text = request.args.get("page", "1")
    return max(1, min(int(text), 100_000)) if text.isdigit() else 1


@bp.get("/referrals")
@page("referrals.read")
def files(call: Call) -> ResponseReturnValue:
    user = call.user
    is_partner = user.role == "partner"
    if is_partner:
        choices: list[str] = []
        partner = user.partner
        site = None  # a partner organisation is not tied to an establishment
    else:
        site = user.site
        choices = detainee_file.partners_with_consent(call.session, site)
        partner = request.args.get("partner", "").strip() or (choices[0] if choices else None)
    number = _page_number()
    total: int = 0
    rows: list[tuple[Consent, Detainee]] = []
    if partner:
        total, rows = detainee_file.consented_files(
            call.session, partner, site=site, offset=(number - 1) * PER_PAGE, limit=PER_PAGE
        )
    language = selected()
    return render_template(
        "partner_files.html",
        is_partner=is_partner,
        partner=partner,
        choices=choices,
        rows=rows,
        total=total,
        number=number,
        pages=max(1, -(-total // PER_PAGE)),
        section_names=SECTION_NAMES,
        referral_language=language if language in ("fr", "ar", "en") else "fr",
        when=when,
    )
