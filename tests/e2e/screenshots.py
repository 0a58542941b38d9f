"""Screenshots of every main kiosk screen, in each language and screen size: the real kiosk
(agent, replay camera, waitress) on the browser tests' wing, shown by Debian's Chromium.

    .venv/bin/python -m tests.e2e.screenshots docs/screenshots

Files are named ``<screen>-<lang>-<W>x<H>.png`` (SCREENS lists the screens). Each screen is
reached as a person would reach it, then photographed at every size. Out of service is a
kiosk whose data folder is on a 32 MiB file system (a tmpfs in a mount namespace of its own,
so nothing is left mounted): the kiosk's own health check finds it almost full. That needs
root, as the kiosk's CI has.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import (
    BuiltWing,
    RunningKiosk,
    build_wing,
    free_port,
    launch_chromium,
    run_kiosk,
    write_config,
)
from tests.e2e.wing import STAFF_BADGE, STAFF_PIN

SCREENS = (
    "attract",
    "identify",
    "menu",
    "questionnaires",
    "question-choices",
    "question-keyboard",
    "question-error",
    "send",
    "receipt",
    "training",
    "file",
    "goodbye",
    "out-of-service",
    "movement",
    "enrolment",
)
LANGUAGES = ("ar", "fr", "tzm")
SIZES = ((800, 480), (1280, 800))
FORM = "masar_intake"
QUALIFICATION = {"fr": "bac pro", "ar": "بكالوريا", "tzm": "بكالوريا"}  # typed on the keyboard
SMALL_STORAGE_MIB = 32  # under kiosk.health.MIN_FREE_BYTES (50 MiB): "almost full"
WAIT = 15_000  # ms, for what the kiosk's own pace decides (identification, a flow's stage)


Size = tuple[int, int]


def shoot(page: Page, out_dir: Path, screen: str, lang: str, sizes: Sequence[Size]) -> None:
    """The page as it is now, at each size (the face box is placed again by the page's poll)."""
    for width, height in sizes:
        page.set_viewport_size({"width": width, "height": height})
        if page.locator("#face-box").count():
            page.wait_for_timeout(600)
            expect(page.locator("#face-box")).to_be_visible(timeout=WAIT)
        page.screenshot(
            path=out_dir / f"{screen}-{lang}-{width}x{height}.png", animations="disabled"
        )


@contextmanager
def browsing(browser: Browser, kiosk_url: str, lang: str, size: Size) -> Iterator[Page]:
    """A fresh browser (its own cookies: kiosks on other ports share the host) at the attract
    screen, in ``lang``."""
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]}, device_scale_factor=1, locale="fr-FR"
    )
    try:
        page = context.new_page()
        page.goto(kiosk_url)
        page.locator(f"button.lang[value={lang}]").click()
        expect(page.locator("html")).to_have_attribute("lang", lang)
        yield page
    finally:
        context.close()


def key(page: Page, text: str) -> None:
    page.locator(".keyboard button:not(.mode)", has_text=re.compile(f"^{re.escape(text)}$")).click()


def choose(page: Page, value: str) -> None:
    page.locator(f"input[name=answer][value='{value}']").check()
    page.locator("#next").click()


def at_question(page: Page, name: str) -> None:
    expect(page.locator("#question")).to_have_attribute("data-name", name)


def detainee_screens(
    page: Page, kiosk: RunningKiosk, out_dir: Path, lang: str, sizes: Sequence[Size]
) -> None:
    """attract … goodbye: one person's visit, with the intake questionnaire sent."""

    def snap(screen: str) -> None:
        shoot(page, out_dir, screen, lang, sizes)

    expect(page.locator("#start")).to_be_visible()
    snap("attract")
    page.locator("#start").click()
    expect(page.locator("#person-name")).to_be_visible(timeout=WAIT)
    snap("menu")
    page.locator("#my-questionnaires").click()
    expect(page.locator(f"[data-form={FORM}]")).to_be_visible()
    snap("questionnaires")
    page.locator(f"[data-form={FORM}]").click()
    at_question(page, "intro")
    page.locator("#next").click()
    at_question(page, "literacy")
    page.locator("input[name=answer][value=both]").check()
    snap("question-choices")
    page.locator("#next").click()
    page.locator("input[name=answer][value=fr]").check()
    page.locator("#next").click()
    choose(page, "3")
    at_question(page, "school_years")
    page.locator(".keyboard button.clear").click()
    for digit in "9":
        key(page, digit)
    page.locator("#next").click()
    choose(page, "yes")
    at_question(page, "qualification")
    for letter in QUALIFICATION[lang]:
        key(page, "␣" if letter == " " else letter)
    snap("question-keyboard")
    page.locator("#next").click()
    at_question(page, "qualification_year")
    for digit in "1900":
        key(page, digit)
    page.locator("#next").click()
    expect(page.locator("#problem")).to_be_visible()
    snap("question-error")
    page.locator(".keyboard button.clear").click()
    for digit in "2019":
        key(page, digit)
    page.locator("#next").click()
    at_question(page, "other_qualification")
    page.locator("#next").click()
    choose(page, "no")  # has worked
    at_question(page, "skills")
    page.locator("input[name=answer][value=cooking]").check()
    page.locator("#next").click()
    expect(page.locator("#send")).to_be_visible()
    snap("send")
    page.locator("#send").click()
    expect(page.locator("#receipt")).to_be_visible()
    snap("receipt")
    page.locator("#back-to-menu").click()
    page.locator("#training").click()
    page.locator("[data-programme=p-bakery]").get_by_role("button").click()
    expect(page.locator("[data-programme=p-bakery] .status-requested")).to_be_visible()
    snap("training")
    page.locator("#back-to-menu").click()
    page.locator("#my-file").click()
    expect(page.locator("#receipts li")).to_have_count(1)
    page.locator("#receipts li").scroll_into_view_if_needed()  # the last section of the file
    snap("file")
    # Where the inactivity countdown goes when it reaches zero.
    page.goto(f"{kiosk.url}/logout?why=timeout")
    expect(page.locator("#goodbye")).to_be_visible()
    snap("goodbye")


def identify_screen(page: Page, out_dir: Path, lang: str, sizes: Sequence[Size]) -> None:
    """The camera preview with the face box: the face is too blurred to compare ("Hold
    still"), so the screen stays as it is while it is photographed."""
    page.locator("#start").click()
    expect(page.locator("#face-box")).to_be_visible(timeout=WAIT)
    expect(page.locator("#guidance")).not_to_be_empty()
    shoot(page, out_dir, "identify", lang, sizes)
    page.locator("#cancel").click()
    expect(page.locator("#start")).to_be_visible()  # the flow is over before the page goes


def log_out(page: Page) -> None:
    """Staff log out, and the kiosk has heard it before the page goes: else the next login
    finds the kiosk still in use."""
    page.locator("#logout").click()
    expect(page.locator("#goodbye")).to_be_visible()


def staff_login(page: Page, kiosk: RunningKiosk) -> None:
    page.locator("#start").click()
    kiosk.tap_badge(STAFF_BADGE)
    # The page loads itself again for the PIN stage: type once it has.
    expect(page.locator("#identify")).to_have_attribute(
        "data-key", re.compile(":pin:"), timeout=WAIT
    )
    expect(page.locator("#pin")).to_be_visible()
    for digit in STAFF_PIN:
        key(page, digit)
    # Once the PIN is accepted, kiosk.js's poll reloads the page while the form's own answer
    # loads; the second load finds the kiosk in use and logs the officer out. Hold the poll
    # while the PIN is sent (the screens shown are the same).
    state = re.compile(r"/(movement|enrolment)/state")
    page.route(state, lambda route: route.abort())
    page.locator("#pin-ok").click()
    expect(page.locator("#logout")).to_be_visible(timeout=WAIT)
    page.unroute(state)


def movement_screen(
    page: Page, kiosk: RunningKiosk, badge: str, out_dir: Path, lang: str, sizes: Sequence[Size]
) -> None:
    """A wing officer logged in, the detainee's badge and face checked: where to?"""
    staff_login(page, kiosk)
    kiosk.tap_badge(badge)
    expect(page.locator("#scheduled")).to_be_visible(timeout=WAIT)
    shoot(page, out_dir, "movement", lang, sizes)
    log_out(page)


def enrolment_screen(
    page: Page, kiosk: RunningKiosk, badge: str, out_dir: Path, lang: str, sizes: Sequence[Size]
) -> None:
    """The enrolment station's menu for a detainee picked by their badge."""
    staff_login(page, kiosk)
    expect(page.locator("#prison-number")).to_be_visible(timeout=WAIT)
    kiosk.tap_badge(badge)
    # The pick page has no camera preview, and kiosk.js then stops before it polls the
    # station: the tap shows only once the page is loaded again.
    page.reload()
    expect(page.locator("#capture-face")).to_be_visible(timeout=WAIT)
    shoot(page, out_dir, "enrolment", lang, sizes)
    log_out(page)


def blurred_camera(probes: Path, folder: Path) -> Path:
    """The person's pictures, too blurred for the quality gate: a face box, never a match."""
    folder.mkdir(parents=True)
    for picture in sorted(probes.glob("*.jpg")):
        image = cv2.imread(str(picture))
        cv2.imwrite(str(folder / picture.name), cv2.GaussianBlur(image, (21, 21), 0))
    return folder


@contextmanager
def small_storage_kiosk(built: BuiltWing, folder: Path) -> Iterator[str]:
    """`masar kiosk run` with its data on a 32 MiB tmpfs, mounted in a mount namespace of the
    kiosk's own (gone with the process); yields its URL."""
    data = folder / "data"
    data.mkdir(parents=True)
    port = free_port()
    config_file = write_config(
        folder, camera=built.people[0].probes, inactivity=60, mode="self_service", port=port
    )
    masar = Path(sys.executable).parent / "masar"
    script = (
        f'mount -t tmpfs -o size={SMALL_STORAGE_MIB}m masar-small "$1" && cp -a "$2"/. "$1"/ '
        '&& exec "$3" kiosk run --config "$4"'
    )
    log_path = folder / "kiosk.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"),
                *(str(data), str(built.folder / "data"), str(masar), str(config_file)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    "the kiosk on small storage stopped (mounting a tmpfs needs root): "
                    + log_path.read_text(errors="replace")[-2000:]
                )
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the kiosk on small storage did not answer at {url}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def take_screenshots(
    out_dir: Path,
    languages: Sequence[str] = LANGUAGES,
    sizes: Sequence[Size] = SIZES,
    *,
    wing: BuiltWing | None = None,
    browser: Browser | None = None,
) -> list[Path]:
    """Write ``<screen>-<lang>-<W>x<H>.png`` for every screen of SCREENS into ``out_dir``.

    ``wing``/``browser``: the browser tests' own (else a wing is built, about 40 s, and
    Chromium launched). Returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="masar-screenshots-") as tmp:
        folder = Path(tmp)
        built = wing or build_wing(folder / "wing")
        if browser is None:
            with sync_playwright() as playwright:
                chromium = launch_chromium(playwright)
                try:
                    _all_screens(chromium, built, folder, out_dir, languages, sizes)
                finally:
                    chromium.close()
        else:
            _all_screens(browser, built, folder, out_dir, languages, sizes)
    return [
        out_dir / f"{screen}-{lang}-{width}x{height}.png"
        for lang in languages
        for screen in SCREENS
        for width, height in sizes
    ]


def _all_screens(
    browser: Browser,
    built: BuiltWing,
    folder: Path,
    out_dir: Path,
    languages: Sequence[str],
    sizes: Sequence[Size],
) -> None:
    person = built.people[0]
    kiosks: list[RunningKiosk] = []

    def start(name: str, **options: object) -> RunningKiosk:
        kiosk = run_kiosk(built, folder / name, **options)  # type: ignore[arg-type]
        kiosks.append(kiosk)
        return kiosk

    try:
        blurred = start("identify", camera=blurred_camera(person.probes, folder / "blurred"))
        movement = start("movement", camera=person.probes, mode="movement_check")
        enrolment = start("enrolment", camera=person.probes, mode="enrolment")
        with small_storage_kiosk(built, folder / "small-storage") as small_storage:
            for lang in languages:
                # A kiosk of its own per language: the person's questionnaire starts afresh.
                visit = start(f"detainee-{lang}", camera=person.probes)
                with browsing(browser, visit.url, lang, sizes[0]) as page:
                    detainee_screens(page, visit, out_dir, lang, sizes)
                with browsing(browser, blurred.url, lang, sizes[0]) as page:
                    identify_screen(page, out_dir, lang, sizes)
                with browsing(browser, small_storage, lang, sizes[0]) as page:
                    out_of_service(page, out_dir, lang, sizes)
                with browsing(browser, movement.url, lang, sizes[0]) as page:
                    movement_screen(page, movement, person.badge, out_dir, lang, sizes)
                with browsing(browser, enrolment.url, lang, sizes[0]) as page:
                    enrolment_screen(page, enrolment, person.badge, out_dir, lang, sizes)
                visit.stop()
                kiosks.remove(visit)
    finally:
        for kiosk in kiosks:
            kiosk.stop()


def out_of_service(page: Page, out_dir: Path, lang: str, sizes: Sequence[Size]) -> None:
    expect(page.locator("#out-of-service")).to_be_visible()
    shoot(page, out_dir, "out-of-service", lang, sizes)


def main(argv: Sequence[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m tests.e2e.screenshots OUT_DIR  (e.g. docs/screenshots)")
    started = time.monotonic()
    written = take_screenshots(Path(argv[0]))
    missing = [path for path in written if not path.exists()]
    if missing:
        sys.exit(f"these screenshots were not written: {', '.join(map(str, missing))}")
    print(f"{len(written)} screenshots in {argv[0]} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
