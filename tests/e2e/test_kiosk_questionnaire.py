"""A detainee at the kiosk, in a real browser: face identification from the replay camera,
the intake questionnaire with skip logic and a constraint, a timeout, a resume, sending."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.wing import PEOPLE

FORM = "masar_intake"
LITERACY_LABEL = {"fr": "Savez-vous lire et écrire", "tzm": "ⵉⵙ"}


def identify(page: Page, kiosk: Any) -> None:
    """From the attract screen to the menu: Start, then the face on the replay camera."""
    page.goto(kiosk.url)
    page.locator("#start").click()
    expect(page.locator("#person-name")).to_be_visible(timeout=15_000)


def at_question(page: Page, name: str) -> None:
    expect(page.locator("#question")).to_have_attribute("data-name", name)


def choose(page: Page, value: str) -> None:
    page.locator(f"input[name=answer][value='{value}']").check()
    page.locator("#next").click()


def type_digits(page: Page, digits: str) -> None:
    page.locator(".keyboard button.clear").click()
    for digit in digits:  # the on-screen keyboard: no physical keyboard at a kiosk
        page.locator(".keyboard button", has_text=re.compile(f"^{digit}$")).click()
    page.locator("#next").click()


def test_an_arabic_questionnaire_with_skip_logic_a_constraint_a_timeout_and_a_resume(
    start_kiosk: Any, built_wing: Any, page: Page
) -> None:
    person = built_wing.people[0]
    kiosk = start_kiosk(camera=person.probes, inactivity=8)
    identify(page, kiosk)
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#person-name")).to_have_text(PEOPLE[0][3])

    page.locator("#my-questionnaires").click()
    page.locator(f"[data-form={FORM}]").click()
    at_question(page, "intro")
    page.locator("#next").click()
    choose(page, "none")
    at_question(page, "education_level")  # literacy_languages skipped: cannot read
    choose(page, "0")
    at_question(page, "has_qualification")  # school_years skipped: never went to school
    expect(page.locator(".progress-text")).to_contain_text("4")

    # Nobody touches the screen: the countdown shows, then the session ends.
    expect(page.locator("#countdown")).to_be_visible(timeout=10_000)
    expect(page.locator("#goodbye")).to_be_visible(timeout=10_000)
    page.go_back()
    expect(page.locator("body")).not_to_contain_text(PEOPLE[0][3])
    expect(page.locator("#question")).to_have_count(0)

    # Back at the kiosk: the questionnaire resumes at the question left.
    identify(page, kiosk)
    page.locator("#my-questionnaires").click()
    page.locator(f"[data-form={FORM}]").click()
    at_question(page, "has_qualification")
    choose(page, "no")
    at_question(page, "has_worked")
    choose(page, "yes")
    choose(page, "7")  # last occupation: ISCO major group 7, craft and related trades
    page.locator("#next").click()  # other occupations: none
    at_question(page, "years_worked")
    type_digits(page, "99")
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("#problem")).to_contain_text(re.compile("[\u0600-\u06ff]"))
    at_question(page, "years_worked")
    type_digits(page, "5")
    page.locator("input[name=answer][value=welding]").check()
    page.locator("#next").click()
    page.locator("#send").click()
    expect(page.locator("#receipt")).to_be_visible()

    [response] = kiosk.events("questionnaire.response")
    assert response["subject"] == person.detainee_id
    body = response["body"]
    assert (body["form_id"], body["language"]) == (FORM, "ar")
    assert body["answers"]["literacy"] == "none"
    assert "literacy_languages" not in body["answers"]
    assert body["answers"]["years_worked"] == 5
    assert body["answers"]["skills"] == ["welding"]
    progress = kiosk.events("questionnaire.progress")
    assert len(progress) >= 8  # every answer was saved the moment it was given
    identifications = kiosk.events("identification")
    assert [e["body"]["outcome"] for e in identifications] == ["matched", "matched"]


@pytest.mark.parametrize("lang", ["fr", "tzm"])
def test_the_same_questionnaire_in_french_and_in_tamazight(
    start_kiosk: Any, built_wing: Any, page: Page, lang: str
) -> None:
    person = built_wing.people[1]
    kiosk = start_kiosk(camera=person.probes)
    page.goto(kiosk.url)
    page.locator(f"button.lang[value={lang}]").click()
    page.locator("#start").click()
    expect(page.locator("#person-name")).to_have_text(PEOPLE[1][2])
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.locator("html")).to_have_attribute("lang", lang)

    page.locator("#my-questionnaires").click()
    page.locator(f"[data-form={FORM}]").click()
    page.locator("#next").click()
    expect(page.locator("#label")).to_contain_text(LITERACY_LABEL[lang])
    choose(page, "both")
    at_question(page, "literacy_languages")  # can read: asked in which languages
    page.locator("input[name=answer][value=fr]").check()
    page.locator("#next").click()
    choose(page, "3")
    at_question(page, "school_years")
    type_digits(page, "45")
    expect(page.locator("#problem")).to_be_visible()
    type_digits(page, "9")
    choose(page, "no")
    choose(page, "no")
    at_question(page, "skills")
    page.locator("#next").click()  # required: the kiosk says so in the person's language
    expect(page.locator("#problem")).to_be_visible()
    page.locator("input[name=answer][value=cooking]").check()
    page.locator("#next").click()
    page.locator("#send").click()
    expect(page.locator("#receipt")).to_be_visible()

    [response] = kiosk.events("questionnaire.response")
    body = response["body"]
    assert body["language"] == lang
    assert body["answers"]["literacy_languages"] == ["fr"]
    assert body["answers"]["school_years"] == 9
    assert "last_occupation" not in body["answers"]  # never worked: skipped
