"""The hub's web pages in Chromium: logging in, each role's navigation, the language."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.conftest import log_in
from tests.e2e.hub_site import ARABIC_USER


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
    page.click("text=Log out")  # French catalogue not compiled yet: the English word
    assert "/login" in page.url
    page.goto(hub_url + "/fleet")
    assert "/login" in page.url


def test_an_arabic_user_gets_a_right_to_left_page(page: Page, hub_url: str) -> None:
    log_in(page, hub_url, ARABIC_USER)
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
