#!/usr/bin/env python3
"""Login cost: memory held by concurrent wrong logins, and the time of a wrong password for a known vs an unknown user.

    .venv/bin/python bench/login.py [--concurrent 16] [--rounds 20]

Each configuration runs in a fresh child process serving a real uvicorn server on loopback:
- ``main``: argon2-cffi's default Argon2id parameters (m=64 MiB, t=3, p=4) and no cap on concurrent hashing —
  what edusoc did before issue 14 (16 concurrent wrong logins took the server from 226 MB to 1.2 GB);
- ``now``: OWASP's minimum Argon2id (m=19 MiB, t=2, p=1) behind auth.max_concurrent_hashes (4) slots.
``--concurrent`` wrong logins are fired at once; the child reports the growth of its peak RSS (ru_maxrss) over
its RSS before the burst. Then ``--rounds`` wrong logins for a known and an unknown name give the median time of
each (a dummy verification keeps them alike). Ends with one JSON line: the peak growth now, against main's.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(config: str, concurrent: int, rounds: int) -> dict[str, float]:
    import httpx
    from argon2 import PasswordHasher

    import soc_core.security as security
    from soc_core.clock import ManualClock
    from tests.api_helpers import start_demo_process, start_live_server

    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    if config == "main":
        security._hasher = PasswordHasher()  # argon2-cffi defaults, as before
        security._DUMMY_HASH = security._hasher.hash("x")
    settings = {"auth": {"max_failures": 10_000, "address_max_failures": 10_000,
                         "max_concurrent_hashes": 10_000 if config == "main" else 4}}
    demo = start_demo_process(Path(tempfile.mkdtemp()), clock, **settings)
    live = start_live_server(demo.runtime)
    url = f"{live.base_url}/api/v1/auth/token"
    with httpx.Client(timeout=120) as client:  # warm up: first hash, first request
        client.post(url, data={"username": "duty", "password": "wrong-password"})
    before = _rss_mib()

    def wrong() -> None:
        httpx.post(url, data={"username": "duty", "password": "wrong-password"}, timeout=120)

    threads = [threading.Thread(target=wrong) for _ in range(concurrent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    with httpx.Client(timeout=120) as client:
        for _ in range(rounds):
            for kind, name in (("known", "duty"), ("unknown", "no-such-user")):
                started = time.perf_counter()
                client.post(url, data={"username": name, "password": "wrong-password"})
                timings[kind].append((time.perf_counter() - started) * 1000)
    live.stop()
    demo.runtime.close()
    return {"rss_before_mib": round(before, 1), "peak_growth_mib": round(peak - before, 1),
            "known_ms": round(statistics.median(timings["known"]), 1), "unknown_ms": round(statistics.median(timings["unknown"]), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--child", choices=("main", "now"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.concurrent, args.rounds)))
        return
    results = {}
    for config in ("main", "now"):
        output = subprocess.run([sys.executable, __file__, "--child", config, "--concurrent", str(args.concurrent),
                                 "--rounds", str(args.rounds)], capture_output=True, text=True, check=True, cwd=ROOT)
        results[config] = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"{config}: {results[config]}", file=sys.stderr)
    now, main_ = results["now"]["peak_growth_mib"], results["main"]["peak_growth_mib"]
    print(json.dumps({"bench": f"login_peak_rss_growth_{args.concurrent}_concurrent", "value": now, "unit": "MiB",
                      "reference": main_, "ratio": round(now / main_, 3) if main_ else None,
                      "known_vs_unknown_ms": [results["now"]["known_ms"], results["now"]["unknown_ms"]]}))


if __name__ == "__main__":
    main()
