"""`edusoc run`: serve the API, UI and collector; with --demo, seed and replay the samples."""
from __future__ import annotations

import logging
import threading

import uvicorn

from edusoc.demo import DEMO_PASSWORD, DEMO_USERS, replay_demo_samples, seed_demo_operations, seed_demo_region
from edusoc.runtime import Runtime, build_runtime
from soc_core.config import Settings

log = logging.getLogger("edusoc")


def serve(settings: Settings, demo: bool = False) -> None:
    serve_runtime(build_runtime(settings), settings, demo)


def serve_runtime(runtime: Runtime, settings: Settings, demo: bool = False) -> None:
    """Serve ``runtime`` until stopped. The scheduler's catch-up pass (everything that fell due while
    the process was down) starts once the server listens, on its own thread: a long catch-up delays
    those jobs, never the API (issue 14: a restart spent minutes on missing-report findings first)."""
    base_url = f"http://{settings.api.host}:{settings.api.port}"
    server = uvicorn.Server(uvicorn.Config(runtime.app, host=settings.api.host, port=settings.api.port, log_level="info"))
    threading.Thread(target=_start_when_up, args=(runtime, server), name="scheduler-start", daemon=True).start()
    if demo:
        with runtime.sessions() as session:
            sensors = seed_demo_region(session, runtime.clock)
        seed_demo_operations(runtime)  # duty roster, a key period with zero-reports, a notice in progress
        _print_demo_banner(base_url)
        threading.Thread(target=_replay_when_up, args=(runtime, server, base_url, sensors), name="demo-replay", daemon=True).start()
    try:
        server.run()
    finally:
        runtime.close()


def _start_when_up(runtime: Runtime, server: uvicorn.Server) -> None:
    import time

    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    try:
        runtime.start()  # periodic jobs and deadlines: catch-up pass, then the scheduler thread
    except Exception:  # noqa: BLE001 - the API keeps serving; the log says why the jobs did not start
        log.exception("the scheduler did not start")


def _replay_when_up(runtime, server: uvicorn.Server, base_url: str, sensors) -> None:  # type: ignore[no-untyped-def]
    import time

    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.1)
    for line in replay_demo_samples(base_url, sensors):
        log.info("demo replay: %s", line)
    log.info("compliance checks after the replay: %s", runtime.run_compliance_checks("demo-seed"))
    log.info("demo replay done: open %s and log in (e.g. duty / %s)", base_url, DEMO_PASSWORD)


def _print_demo_banner(base_url: str) -> None:
    accounts = "\n".join(f"    {username:<10} {role.label}" for username, _, role, _ in DEMO_USERS)
    print(
        f"\n  edusoc demo — {base_url}\n"
        f"  Demo accounts (password for all: {DEMO_PASSWORD} — demo only, change for real use):\n{accounts}\n"
        "  注意：演示账户不启用两步登录（动态口令），也不受口令策略约束；其他账户按 auth.require_mfa 要求两步登录。\n"
        "  Note: the demo accounts log in without a second factor (TOTP) and skip the password policy;\n"
        "  every other account follows auth.require_mfa (two-step login).\n",
        flush=True,
    )
