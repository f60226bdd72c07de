"""Driving the web UI in headless Chromium: where Chromium is, how to start it, how to log in."""
from __future__ import annotations

import shutil
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, which this closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def log_in(browser: Any, base_url: str, username: str, *, ready: str = "table.incidents",
           install_clock: bool = True, accept_downloads: bool = False) -> Any:
    """A new page logged in as ``username`` (demo password), once ``ready`` is on screen.

    With ``install_clock`` the page's timers run only when the test moves Playwright's clock.
    """
    page = browser.new_context(locale="zh-CN", accept_downloads=accept_downloads).new_page()
    if install_clock:
        page.clock.install()
    page.goto(f"{base_url}/")
    assert page.url.endswith("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "edusoc-demo")
    page.click("button[type=submit]")
    page.wait_for_selector(ready)
    return page
