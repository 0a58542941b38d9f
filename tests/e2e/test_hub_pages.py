"""The hub's web pages in Chromium: logging in, each role's navigation, the language."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page

from hub.roles import allowed
from tests.e2e.conftest import log_in
from tests.e2e.hub_site import ARABIC_USER, USERS


def test_a_wrong_password_is_refused_in_plain_words(page: Page, hub_url: str) -> None:
    page.goto(hub_url + "/")
    page.fill("#f-username", "registrar")
    page.fill("#f-password", "not the password")
    page.click("button.primary")
    assert page.locator("[role=alert]").inner_text().strip() != ""
    assert page.input_value("#f-username") == "registrar"  # what was typed is kept
    assert "/login" in page.url


def test_the_admin_sees_the_fleet_and_logs_out(page: Page, hub_url: str) -> None:
    log_in(page, hub_url, "admin")
    page.goto(hub_url + "/fleet")
    assert page.locator("h1").inner_text()
    page.click("form[action='/logout'] button")
    assert "/login" in page.url
    page.goto(hub_url + "/fleet")
    assert "/login" in page.url


def test_an_arabic_user_gets_a_right_to_left_page(page: Page, hub_url: str) -> None:
    log_in(page, hub_url, ARABIC_USER)
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"


# Each area's first page and the permission that opens it (hub/roles.py).
AREAS = {
    "/dashboard": "dashboard.read",
    "/detainees": "detainees.read",
    "/referrals": "referrals.read",
    "/training": "training.read",
    "/questionnaires": "questionnaires.read",
    "/health": "health.read",
    "/movements": "movements.read",
    "/fleet": "fleet.read",
}


def test_each_role_sees_and_opens_only_its_pages(page: Page, hub_url: str) -> None:
    for username, role in USERS.items():
        log_in(page, hub_url, username)
        mine = {path for path, permission in AREAS.items() if allowed(role, permission)}
        shown = {str(link.get_attribute("href")) for link in page.locator("header nav a").all()}
        assert shown == mine, role
        assert urlsplit(page.url).path in mine, role  # landed on a page of the role
        for path in AREAS:
            answer = page.goto(hub_url + path)
            assert answer is not None
            assert (answer.status == 200) == (path in mine), (role, path, answer.status)
        page.click("form[action='/logout'] button")
