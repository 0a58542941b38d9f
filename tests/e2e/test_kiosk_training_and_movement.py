"""A training enrolment request by a detainee, and a movement check by a wing officer, in a
real browser against the running kiosk."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.wing import PEOPLE, STAFF_BADGE, STAFF_PIN


def test_a_detainee_asks_to_join_a_training_and_sees_the_request_pending(
    start_kiosk: Any, built_wing: Any, page: Page
) -> None:
    person = built_wing.people[2]
    kiosk = start_kiosk(camera=person.probes)
    page.goto(kiosk.url)
    page.locator("button.lang[value=fr]").click()
    page.locator("#start").click()
    expect(page.locator("#person-name")).to_have_text(PEOPLE[2][2])
    page.locator("#training").click()
    bakery = page.locator("[data-programme=p-bakery]")
    expect(bakery).to_contain_text("Boulangerie")
    bakery.get_by_role("button").click()
    expect(page.locator("[data-programme=p-bakery] .status-requested")).to_be_visible()

    [request] = kiosk.events("training.enrolment_requested")
    assert request["subject"] == person.detainee_id
    assert request["body"]["programme_id"] == "p-bakery"


def test_a_wing_officer_checks_a_detainee_at_the_gate(
    start_kiosk: Any, built_wing: Any, page: Page
) -> None:
    person = built_wing.people[0]
    kiosk = start_kiosk(camera=person.probes, mode="movement_check")
    page.goto(kiosk.url)
    page.locator("button.lang[value=fr]").click()
    page.locator("#start").click()
    expect(page.locator("#out-count")).to_contain_text("0")

    kiosk.tap_badge(STAFF_BADGE)
    expect(page.locator("#pin")).to_be_visible(timeout=10_000)
    for digit in STAFF_PIN:
        page.locator(".keyboard button", has_text=digit).first.click()
    page.locator("#pin-ok").click()
    expect(page.locator("#logout")).to_be_visible(timeout=10_000)

    kiosk.tap_badge(person.badge)
    expect(page.locator("#person-name")).to_contain_text(person.name_latin, timeout=15_000)
    expect(page.locator("#scheduled")).to_be_visible()
    page.locator("input[name=to][value=workshop]").check()
    page.locator("#confirm").click()
    expect(page.locator("#last-movement")).to_contain_text("workshop")
    expect(page.locator("#out-count")).to_contain_text("1")

    [movement] = kiosk.events("movement.verified")
    assert movement["subject"] == person.detainee_id
    assert movement["actor"] == "s-karima"
    body = movement["body"]
    assert (body["from_location"], body["to_location"], body["outcome"]) == (
        "a",
        "workshop",
        "confirmed",
    )
    assert body["modalities"] == ["badge", "face"]


def test_an_officer_enrols_a_face_and_gives_a_badge_at_the_enrolment_station(
    start_kiosk: Any, built_wing: Any, page: Page
) -> None:
    person = built_wing.people[1]
    kiosk = start_kiosk(camera=person.probes, mode="enrolment")
    page.goto(kiosk.url)
    page.locator("button.lang[value=fr]").click()
    page.locator("#start").click()
    kiosk.tap_badge(STAFF_BADGE)
    expect(page.locator("#pin")).to_be_visible(timeout=10_000)
    for digit in STAFF_PIN:
        page.locator(".keyboard button", has_text=digit).first.click()
    page.locator("#pin-ok").click()
    expect(page.locator("#prison-number")).to_be_visible(timeout=10_000)

    keyboard = page.locator(".keyboard")
    keyboard.locator("button", has_text="123").click()
    for key in person.prison_number:  # "2026/000102", typed on the screen's keys
        keyboard.locator("button", has_text=key).first.click()
    page.locator("#pick").click()
    expect(page.locator("#person")).to_contain_text(person.name_latin)

    page.locator("#capture-face").click()  # several good frames from the camera
    expect(page.locator("#message")).to_be_visible(timeout=20_000)
    page.locator("#assign-badge").click()
    kiosk.tap_badge("C0FFEE01")
    expect(page.locator("#capture-face")).to_be_visible(timeout=10_000)

    captured = kiosk.events("enrolment.captured")
    assert [e["body"]["modality"] for e in captured] == ["face", "badge"]
    assert all(e["subject"] == person.detainee_id for e in captured)
    assert all(e["actor"] == "s-karima" for e in captured)
    assert captured[1]["body"]["badge_uid"] == "C0FFEE01"
