"""The dashboard: charts a manager would rather look at than read, for the user's
establishment or all of them. The figures come from hub.dashboard; this module only names
them in the interface's language and says where each tile leads."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from hub.api.core import Call
from hub.classifications import isced_levels, isco_groups
from hub.dashboard import PROFILE_MAX_AGE, Dashboard, ProfileCache, dashboard
from hub.roles import allowed
from hub.web import language
from hub.web.access import page
from hub.web.nav import NavEntry

bp = Blueprint("dashboard", __name__)
NAV = [NavEntry(10, "dashboard.dashboard", _l("Dashboard"), "dashboard.read")]

# The population profile of each establishment, kept a minute (see hub.dashboard).
PROFILES = ProfileCache()

# Where a tile leads, and who may follow it. Plain addresses: some of these pages are built
# by other modules, whose endpoints need not exist for this one to work.
LINKS = {
    "movements": ("/movements", "movements.read"),
    "training": ("/training", "training.read"),
    "health": ("/health", "health.read"),
    "fleet": ("/fleet", "fleet.read"),
}


@dataclass(frozen=True)
class Bar:
    """One bar of a chart (and one row of its table); ``second`` for two-bar charts."""

    key: str
    label: str
    value: int
    second: int | None = None


def _isced(code: str, lang: str) -> str:
    level = isced_levels()[code]
    return f"{code} · {level.title_ar if lang == 'ar' else level.title_fr}"


def _isco(code: str, lang: str) -> str:
    group = isco_groups()[code]
    title = (group.title_ar if lang == "ar" else group.title_fr) or group.title_en
    return f"{code} · {title}"


def _form(figures: Dashboard, form_id: str, lang: str) -> str:
    titles = figures.form_titles.get(form_id, {})
    return titles.get(lang) or titles.get("fr") or form_id


def _charts(figures: Dashboard, lang: str) -> dict[str, list[Bar]]:
    everywhere = figures.site is None
    profile = figures.profiles
    education = [Bar(c, _isced(c, lang), n) for c, n in profile.education.items()]
    if profile.education_unknown:
        education.append(Bar("unknown", _("not known yet"), profile.education_unknown))
    return {
        "sites": [Bar(site, site, n) for site, n in figures.sites.items()],
        "wings": [
            Bar(
                f"{w.site}/{w.wing or ''}",
                (f"{w.site} · " if everywhere else "") + (w.wing or _("no wing")),
                w.people,
            )
            for w in figures.wings
        ],
        "education": education,
        "occupations": [Bar(c, _isco(c, lang), n) for c, n in profile.occupations.items()],
        "aptitude": [Bar(f"{low}-{high}", f"{low}–{high}", n) for low, high, n in profile.aptitude],
        "training": [
            Bar(
                p.id,
                str(p.titles.get(lang) or p.titles.get("fr") or p.id)
                + (f" ({p.site})" if everywhere else ""),
                p.demand,
                p.capacity,
            )
            for p in figures.training
        ],
        "completion": [
            Bar(f.form_id, _form(figures, f.form_id, lang), f.done, f.open)
            for f in figures.completion
        ],
        "responses": [
            Bar(form, _form(figures, form, lang), n) for form, n in figures.responses.items()
        ],
        "fleet": [
            Bar("online", _("online"), figures.fleet.online),
            Bar("offline", _("offline"), figures.fleet.offline),
            Bar("problems", _("reporting a problem"), len(figures.fleet.troubled)),
        ],
    }


@bp.get("/dashboard", endpoint="dashboard")
@page("dashboard.read")
def dashboard_page(call: Call) -> ResponseReturnValue:
    role = call.user.role
    figures = dashboard(
        call.session, call.user.site, health=allowed(role, "health.read"), cache=PROFILES
    )
    links = {name: href for name, (href, permission) in LINKS.items() if allowed(role, permission)}
    return render_template(
        "dashboard.html",
        d=figures,
        bars=_charts(figures, language.selected()),
        links=links,
        profile_seconds=int(PROFILE_MAX_AGE),
    )
