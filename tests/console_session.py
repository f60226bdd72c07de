"""Driving the built console (/console/) in headless Chromium: log in through its own page, save screenshots."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from edusoc.demo import DEMO_PASSWORD

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".cache" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}


def console_log_in(browser: Any, base_url: str, username: str, path: str = "/console/", *, now: datetime | None = None) -> Any:
    """A page logged in as ``username`` through the console's login, landed on ``path``.

    ``now`` sets the page's clock to the server's (tests run the server on a manual clock); time then flows.
    """
    page = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=VIEWPORT).new_page()
    if now is not None:
        page.clock.set_system_time(now)
    page.goto(f"{base_url}{path}")
    page.wait_for_url("**/console/login**")
    page.fill("#login-username", username)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{path}")
    page.wait_for_selector("[data-test=who]")
    return page


def screenshot(page: Any, persona: str, name: str) -> Path:
    """A full-page screenshot kept as a test artefact: .cache/screenshots/<persona>-<page>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{persona}-{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target
