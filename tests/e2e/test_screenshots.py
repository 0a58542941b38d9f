"""The screenshot set (tests/e2e/screenshots.py) is made from the real screens: one language
and one size here, every screen written at the size asked."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

from tests.e2e.hub_screenshots import PAGES as HUB_PAGES
from tests.e2e.hub_screenshots import take_screenshots as take_hub_screenshots
from tests.e2e.screenshots import SCREENS, take_screenshots


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_every_screen_is_photographed_at_the_size_asked(
    built_wing: Any, browser: Browser, tmp_path: Path
) -> None:
    written = take_screenshots(
        tmp_path, languages=("ar",), sizes=((800, 480),), wing=built_wing, browser=browser
    )
    expected = [tmp_path / f"{screen}-ar-800x480.png" for screen in SCREENS]
    assert written == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in expected)
    for path in expected:
        assert png_size(path) == (800, 480), path.name


def test_the_hub_pages_are_photographed(browser: Browser, tmp_path: Path) -> None:
    written = take_hub_screenshots(tmp_path, languages=("ar",), browser=browser)
    assert [p.name for p in written] == [f"hub-{name}-ar.png" for name in HUB_PAGES]
    assert all(png_size(path) == (1280, 800) for path in written)
