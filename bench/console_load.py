#!/usr/bin/env python3
"""The console's first load in Chromium: bundle size (gzip) and time from navigation to a usable page.

    .venv/bin/python bench/console_load.py [--incidents 2000] [--rounds 3]

Serves a demo process (``--incidents`` open incidents in the queue) on loopback with uvicorn, then in a
fresh headless Chromium context each round: opens /console/ (cold cache), logs in as the duty officer and
waits for the queue's first row. Reports the login page's load time, the time from submitting the login to
the queue on screen, and the gzip size of the JavaScript and CSS the two pages fetched. The reference is
the server-rendered queue (``/``) reaching its table in the same run: the ratio says what the single-page
app costs on first load against the page it replaces. Needs ``make console`` first. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from edusoc.demo import DEMO_PASSWORD  # noqa: E402
from incidents import Grade, Source, open_incident  # noqa: E402
from soc_api.routers.console import CONSOLE_DIST  # noqa: E402
from soc_core.clock import ManualClock  # noqa: E402
from tests.api_helpers import serving, start_demo_process  # noqa: E402
from tests.browser_session import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

GRADES = (Grade.I, Grade.II, Grade.III, Grade.IV)


def seed(demo, clock: ManualClock, count: int) -> None:  # type: ignore[no-untyped-def]
    schools = [demo.unit(code) for code in ("DEMO-SCHOOL-1", "DEMO-SCHOOL-2")]
    with demo.runtime.sessions() as session:
        for n in range(count):
            unit = session.merge(schools[n % 2])
            open_incident(session, clock, demo.runtime.settings.incidents, "bench", f"压测事件 {n}", unit, GRADES[n % 4], Source.DETECTED)
        session.commit()


def timed_login(browser, url: str, username: str, password: str, ready: str, fetched: set[str] | None = None) -> float:  # type: ignore[no-untyped-def]
    """Milliseconds from submitting the duty officer's login at ``url`` to ``ready`` on screen, in a fresh context
    (cold cache); the console's asset addresses it fetched go into ``fetched``."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    if fetched is not None:
        page.on("request", lambda r: fetched.add(r.url) if "/console/assets/" in r.url else None)
    page.goto(url)
    page.fill(username, "duty")
    page.fill(password, DEMO_PASSWORD)
    started = time.perf_counter()
    page.click("button[type=submit]")
    page.wait_for_selector(ready)
    elapsed = (time.perf_counter() - started) * 1000
    context.close()
    return elapsed


def gzip_size(paths: list[str]) -> int:
    total = 0
    for path in paths:
        relative = path.split("/console/", 1)[1]
        total += len(gzip.compress((CONSOLE_DIST / relative).read_bytes(), 9))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (CONSOLE_DIST / "index.html").exists():
        sys.exit("the console is not built: run `make console`")
    clock = ManualClock(datetime.now(timezone.utc))
    with tempfile.TemporaryDirectory() as data_dir:
        demo = start_demo_process(Path(data_dir), clock)
        seed(demo, clock, args.incidents)
        with serving(demo) as live, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            login_ms, queue_ms, legacy_ms, fetched = [], [], [], set()
            for _ in range(args.rounds):
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                page = context.new_page()
                page.on("request", lambda r: fetched.add(r.url) if "/console/assets/" in r.url else None)
                started = time.perf_counter()
                page.goto(f"{live.base_url}/console/")
                page.wait_for_selector("#login-username")
                login_ms.append((time.perf_counter() - started) * 1000)
                context.close()
                queue_ms.append(timed_login(browser, f"{live.base_url}/console/", "#login-username", "#login-password", ".el-table__row", fetched))
                # the server-rendered queue it replaces, logged in the same way
                legacy_ms.append(timed_login(browser, f"{live.base_url}/login", "input[name=username]", "input[name=password]", "table.incidents"))
            browser.close()
        demo.runtime.close()
    scripts = sorted(u for u in fetched if u.endswith(".js"))
    styles = sorted(u for u in fetched if u.endswith(".css"))
    first_load = statistics.median(login_ms) + statistics.median(queue_ms)
    legacy = statistics.median(legacy_ms)
    print(f"login page {statistics.median(login_ms):.0f} ms, login → queue ({args.incidents} incidents) "
          f"{statistics.median(queue_ms):.0f} ms, server-rendered queue {legacy:.0f} ms", file=sys.stderr)
    print(f"first load fetched {len(scripts)} JS files, {gzip_size(scripts) / 1024:.0f} KiB gzip; "
          f"{len(styles)} CSS files, {gzip_size(styles) / 1024:.0f} KiB gzip", file=sys.stderr)
    print(json.dumps({"bench": "console_first_load", "value": round(first_load), "unit": "ms", "reference": round(legacy),
                      "ratio": round(first_load / legacy, 2), "js_gzip_kib": round(gzip_size(scripts) / 1024),
                      "css_gzip_kib": round(gzip_size(styles) / 1024), "incidents": args.incidents}))


if __name__ == "__main__":
    main()
