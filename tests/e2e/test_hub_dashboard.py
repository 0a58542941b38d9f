"""The dashboard in Chromium: every chart with its table, nothing fetched from elsewhere, the
same page with JavaScript off, and the health alert count for health staff only."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, Request

from hub.assignments import assign
from hub.audit import Trail, load_key
from hub.db import open_engine, session_factory
from hub.models import KioskState
from protocol.ids import utc_now
from tests.e2e.conftest import log_in

CHARTS = (
    "sites",
    "wings",
    "education",
    "occupations",
    "aptitude",
    "training",
    "completion",
    "responses",
    "fleet",
)


def _add_assignment_and_kiosks(database_url: str) -> None:
    """What the seed does not make: a questionnaire given to a wing, and two kiosks' states."""
    key = load_key(Path(database_url.removeprefix("sqlite:///")).with_name("audit.key"))
    engine = open_engine(database_url)
    with session_factory(engine).begin() as session:
        assign(
            session,
            Trail(key, "user:e2e"),
            form_id="masar_wishes",
            due_on=date.today() + timedelta(days=7),
            site="rabat-1",
            wing="a",
        )
        for device, state, problems in (
            ("wing-a-1", "online", []),
            ("wing-b-1", "offline", ["no camera"]),
        ):
            session.add(
                KioskState(
                    site="rabat-1",
                    device=device,
                    state=state,
                    status={"outbox_depth": 3, "problems": problems},
                    updated_at=utc_now(),
                )
            )
    engine.dispose()


def _numbers(page: Page, chart: str, column: int = 2) -> list[int]:
    cells = page.locator(f"#chart-{chart} details table tr[data-key] td:nth-child({column})")
    return [int(text or "") for text in cells.all_text_contents()]  # closed <details> too


def test_the_admin_sees_every_chart_and_its_table(
    page: Page, hub_url: str, hub_database: str
) -> None:
    _add_assignment_and_kiosks(hub_database)
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(hub_url) else None)
    log_in(page, hub_url, "admin")
    page.goto(hub_url + "/dashboard")
    assert page.locator("html").get_attribute("lang") == "fr"
    for chart in CHARTS:
        figure = page.locator(f"#chart-{chart}")
        svg = figure.locator("svg[role=img]")
        assert svg.count() == 1 and (svg.get_attribute("aria-label") or "").strip()
        assert figure.locator("details table").count() == 1
        rows = figure.locator("details table tr[data-key]")
        assert rows.count() >= 1, chart
        # the SVG draws one bar per row of the table, with the same number
        drawn = figure.locator("rect[data-value]").evaluate_all(
            "bars => bars.map(b => Number(b.dataset.value))"
        )
        assert drawn == _numbers(page, chart), chart
    page.click("#chart-education summary")
    assert page.locator("#chart-education table").is_visible()
    held = int(page.locator("#in-custody").get_attribute("data-count") or -1)
    assert sum(_numbers(page, "sites")) == sum(_numbers(page, "wings")) == held > 0
    assert _numbers(page, "completion", 2) + _numbers(page, "completion", 3) != []
    assert page.locator("#tile-kiosk-problems").get_attribute("data-count") == "1"
    assert page.locator("#tile-health-alerts").count() == 0  # an admin holds no health.read
    assert page.locator("a[href='/training']").count() >= 1
    assert page.locator("a[href='/fleet']").count() >= 1
    assert elsewhere == []  # no CDN, no font, nothing outside the hub


def test_the_page_works_with_javascript_off(browser: Browser, hub_url: str) -> None:
    context = browser.new_context(locale="fr-FR", java_script_enabled=False)
    try:
        page = context.new_page()
        requests: list[Request] = []
        page.on("request", lambda request: requests.append(request))
        log_in(page, hub_url, "registrar")
        page.goto(hub_url + "/dashboard")
        for chart in CHARTS:
            assert page.locator(f"#chart-{chart} svg[role=img]").count() == 1
        page.click("#chart-wings summary")  # <details> opens without any script
        assert page.locator("#chart-wings table").is_visible()
        assert all(r.resource_type != "script" for r in requests)
    finally:
        context.close()


def test_health_alerts_for_the_nurse_only(browser: Browser, hub_url: str) -> None:
    for username, sees in (("trainer", False), ("nurse", True)):
        context = browser.new_context(locale="fr-FR")
        try:
            page = context.new_page()
            log_in(page, hub_url, username)
            page.goto(hub_url + "/dashboard")
            tile = page.locator("#tile-health-alerts")
            assert page.locator("#chart-wings").count() == 1
            assert page.locator("#tile-kiosk-problems").count() == 1
            if sees:
                assert int(tile.get_attribute("data-count") or 0) >= 1
                assert tile.locator("a[href='/health']").count() == 1
            else:
                assert tile.count() == 0
                assert page.locator("a[href='/health']").count() == 0
        finally:
            context.close()
