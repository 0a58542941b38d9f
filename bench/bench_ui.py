"""The kiosk touchscreen's speed, on the browser tests' wing (tests/e2e: hub records, the real
sync, a face calibration measured on faces-dev; building it takes about 40 s):

1. server time per page, in-process through Flask's test client with a detainee's live
   session: p50/p95 over --requests requests each (the identification poll runs while the
   flow's worker analyses camera frames, as on the kiosk);
2. identification to menu in Debian's Chromium with the replay camera: from the touch on
   Start to the person's menu on screen, over --runs runs, logging out between runs.

    .venv/bin/python bench/bench_ui.py
    .venv/bin/python bench/bench_ui.py --requests 500 --runs 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from flask.testing import FlaskClient
from machine import describe
from playwright.sync_api import expect, sync_playwright
from werkzeug.test import TestResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the e2e wing lives in tests/

from tests.e2e.conftest import BuiltWing, RunningKiosk, build_wing, launch_chromium, run_kiosk
from tests.e2e.screenshots import blurred_camera

PAGE_TARGET_MS = 100.0  # p95, server time
MENU_TARGET_S = 1.5  # p95, Start to menu on screen
WARM_UP = 20
FORM = "masar_intake"
# The intake questionnaire answered through to the end (kiosk.ui.questionnaire_screens).
INTAKE = (
    ("intro", {}),
    ("literacy", {"answer": "both"}),
    ("literacy_languages", {"answer": "fr"}),
    ("education_level", {"answer": "3"}),
    ("school_years", {"answer": "9"}),
    ("has_qualification", {"answer": "no"}),
    ("has_worked", {"answer": "no"}),
    ("skills", {"answer": "cooking"}),
)


def expect_status(answer: TestResponse, wanted: int, what: str) -> TestResponse:
    if answer.status_code != wanted:
        raise RuntimeError(f"{what} answered {answer.status_code}, not {wanted}")
    return answer


def log_in(client: FlaskClient) -> None:
    """Start, the face on the replay camera, finish: the detainee's session is live."""
    expect_status(client.post("/identify/start"), 302, "POST /identify/start")
    deadline = time.monotonic() + 30
    while not client.get("/identify/state").get_json()["finished"]:
        if time.monotonic() > deadline:
            raise RuntimeError("identification did not finish within 30 s")
        time.sleep(0.05)
    answer = expect_status(client.post("/identify/finish"), 302, "POST /identify/finish")
    if answer.location != "/menu":
        raise RuntimeError(f"identification did not open a session (went to {answer.location})")


def timed(call: Callable[[], TestResponse], requests: int, wanted: int, what: str) -> list[float]:
    for _ in range(WARM_UP):
        expect_status(call(), wanted, what)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = call()
        samples.append(time.perf_counter() - started)
        expect_status(answer, wanted, what)
    return samples


def quantile(samples: Sequence[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def server_times(
    pages: RunningKiosk, poll: RunningKiosk, requests: int
) -> list[tuple[str, list[float]]]:
    client = pages.app.test_client()
    stranger = pages.app.test_client()  # no session: what the attract screen sees
    log_in(client)
    # The poll: a flow that keeps analysing frames (too blurred to match) on its worker.
    watcher = poll.app.test_client()
    expect_status(watcher.post("/identify/start"), 302, "POST /identify/start")
    results = [
        ("attract", timed(lambda: stranger.get("/"), requests, 200, "GET /")),
        (
            "identify state poll (flow running)",
            timed(lambda: watcher.get("/identify/state"), requests, 200, "GET /identify/state"),
        ),
        ("menu", timed(lambda: client.get("/menu"), requests, 200, "GET /menu")),
        (
            "questionnaires",
            timed(lambda: client.get("/questionnaires"), requests, 200, "GET /questionnaires"),
        ),
        (
            "question page (select_one)",
            timed(lambda: client.get(f"/q/{FORM}/literacy"), requests, 200, "GET a question"),
        ),
        (
            "question POST (answer saved)",
            timed(
                lambda: client.post(f"/q/{FORM}/literacy", data={"answer": "both", "go": "next"}),
                requests,
                302,
                "POST an answer",
            ),
        ),
        ("training", timed(lambda: client.get("/training"), requests, 200, "GET /training")),
    ]
    if watcher.get("/identify/state").get_json()["finished"]:
        raise RuntimeError("the identification flow ended while its poll was being timed")
    for name, data in INTAKE:
        expect_status(client.post(f"/q/{FORM}/{name}", data=data), 302, f"POST {name}")
    expect_status(client.post(f"/send/{FORM}"), 302, "POST send")
    results.append(
        (
            "file (one receipt)",
            timed(lambda: client.get("/file"), requests, 200, "GET /file"),
        )
    )
    watcher.post("/identify/cancel")
    return results


def start_to_menu(kiosk: RunningKiosk, runs: int) -> list[float]:
    """Seconds from the touch on Start to the person's name on the menu, in Chromium."""
    samples = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 800, "height": 480})
            page = context.new_page()
            for _ in range(runs):
                page.goto(kiosk.url)
                expect(page.locator("#start")).to_be_visible()
                started = time.perf_counter()
                page.locator("#start").click()
                expect(page.locator("#person-name")).to_be_visible(timeout=30_000)
                samples.append(time.perf_counter() - started)
                page.locator("#logout").click()
                expect(page.locator("#goodbye")).to_be_visible()
            context.close()
        finally:
            browser.close()
    return samples


def report(pages: list[tuple[str, list[float]]], menu: list[float], requests: int) -> None:
    print(f"\n| server time, {requests} requests each | p50 | p95 | target | |")
    print("|---|---|---|---|---|")
    for what, samples in pages:
        p50, p95 = quantile(samples, 50) * 1000, quantile(samples, 95) * 1000
        verdict = "ok" if p95 <= PAGE_TARGET_MS else "MISSED"
        print(
            f"| {what} | {p50:.1f} ms | {p95:.1f} ms | p95 <= {PAGE_TARGET_MS:.0f} ms | {verdict} |"
        )
    p50, p95 = quantile(menu, 50), quantile(menu, 95)
    verdict = "ok" if p95 <= MENU_TARGET_S else "MISSED"
    print(f"\n| Chromium, replay camera, {len(menu)} runs | p50 | p95 | max | target | |")
    print("|---|---|---|---|---|---|")
    print(
        f"| Start touched → menu on screen | {p50:.2f} s | {p95:.2f} s | {max(menu):.2f} s "
        f"| p95 <= {MENU_TARGET_S} s | {verdict} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per page, after a warm-up")
    parser.add_argument("--runs", type=int, default=20, help="Start → menu in Chromium")
    args = parser.parse_args()
    print(describe(("flask", "waitress", "onnxruntime", "sqlite-utils", "playwright")))
    with tempfile.TemporaryDirectory(prefix="masar-bench-ui-") as tmp:
        folder = Path(tmp)
        started = time.monotonic()
        wing: BuiltWing = build_wing(folder / "wing")
        print(f"wing built in {time.monotonic() - started:.0f} s", flush=True)
        person = wing.people[0]
        kiosks = [
            run_kiosk(wing, folder / "pages", camera=person.probes),
            run_kiosk(
                wing, folder / "poll", camera=blurred_camera(person.probes, folder / "blurred")
            ),
        ]
        try:
            pages = server_times(kiosks[0], kiosks[1], args.requests)
            for kiosk in kiosks:
                kiosk.stop()
            kiosks = [run_kiosk(wing, folder / "browser", camera=person.probes)]
            menu = start_to_menu(kiosks[0], args.runs)
        finally:
            for kiosk in kiosks:
                kiosk.stop()
    report(pages, menu, args.requests)


if __name__ == "__main__":
    main()
