"""Screenshots of the hub's main pages in French and Arabic: the browser tests' seeded hub
(tests/e2e/hub_site.py) served by gunicorn, shown by Debian's Chromium.

    .venv/bin/python -m tests.e2e.hub_screenshots docs/screenshots

Files are ``hub-<page>-<lang>.png`` at 1280×800 (PAGES lists them): the dashboard (an
administrator), a detainee's file with a kiosk questionnaire response (a registrar), a
programme's enrolment queue (a trainer) and the urgent health alerts (a nurse).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from hub.db import open_engine, session_factory
from hub.models import Enrolment, Event
from tests.e2e.conftest import free_port, launch_chromium, log_in
from tests.e2e.hub_site import HubSite, build_hub, serve_hub

PAGES = ("dashboard", "detainee", "enrolment-queue", "health-alert")
LANGUAGES = ("fr", "ar")
SIZE = {"width": 1280, "height": 800}


def _examples(site: HubSite) -> tuple[str, str]:
    """A person whose file shows a kiosk questionnaire response, and a programme with a
    request waiting."""
    engine = open_engine(site.database_url)
    try:
        with session_factory(engine)() as session:
            person = session.scalars(
                select(Event.subject)
                .where(Event.type == "questionnaire.response", Event.subject.is_not(None))
                .where(Event.body["form_id"].as_string() == "masar_intake")
                .order_by(Event.at.desc())
                .limit(1)
            ).one()
            programme = session.scalars(
                select(Enrolment.programme_id).where(Enrolment.state == "requested").limit(1)
            ).one()
            return str(person), programme
    finally:
        engine.dispose()


def _as(
    browser: Browser, url: str, username: str, lang: str, visit: Callable[[Page], None]
) -> Page:
    context = browser.new_context(viewport=SIZE, device_scale_factor=1, locale="fr-FR")
    page = context.new_page()
    log_in(page, url, username)
    if page.locator("html").get_attribute("lang") != lang:
        page.locator(f"header button[name=language][value={lang}]").click()
        expect(page.locator("html")).to_have_attribute("lang", lang)
    visit(page)
    return page


def take_screenshots(
    out_dir: Path, *, languages: Sequence[str] = LANGUAGES, browser: Browser | None = None
) -> list[Path]:
    """Every page of PAGES in every language; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="masar-hub-shots-") as folder:
        site = build_hub(Path(folder))
        person, programme = _examples(site)
        shots: dict[str, tuple[str, Callable[[Page], None]]] = {
            "dashboard": ("admin", lambda page: page.goto(f"{url}/dashboard")),
            "detainee": ("registrar", lambda page: page.goto(f"{url}/detainees/{person}")),
            "enrolment-queue": (
                "trainer",
                lambda page: page.goto(f"{url}/training/{programme}#queue-section"),
            ),
            "health-alert": ("nurse", lambda page: page.goto(f"{url}/health")),
        }
        written = []
        with serve_hub(site, free_port()) as url, ExitStack() as stack:
            if browser is None:
                browser = launch_chromium(stack.enter_context(sync_playwright()))
                stack.callback(browser.close)
            for lang in languages:
                for name in PAGES:
                    username, visit = shots[name]
                    page = _as(browser, url, username, lang, visit)
                    path = out_dir / f"hub-{name}-{lang}.png"
                    page.screenshot(path=path, animations="disabled")
                    page.context.close()
                    written.append(path)
        return written


def main(argv: Sequence[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m tests.e2e.hub_screenshots OUT_DIR  (e.g. docs/screenshots)")
    started = time.monotonic()
    written = take_screenshots(Path(argv[0]))
    print(f"{len(written)} screenshots in {argv[0]} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
