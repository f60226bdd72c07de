"""Replay attack scenario packs through the real path — pcap → sensor reader → HTTPS batches → collector → detection →
EventStore — and read the detection coverage back (composition root: drills builds and measures, sensors read and ship)."""
from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from drills.coverage import ScenarioCoverage, measure
from drills.scenarios import SLOT_SECONDS, Hosts, PlacedScenario, Scenario, write_pack
from sensors.pcap import read_pcap
from sensors.shipper import ShipReport, ship_events
from soc_core.event_store import EventStore


@dataclass(frozen=True)
class Target:
    """Where a pack is replayed: the sensor that ships it (its token) and the defender's hosts."""

    label: str
    token: str
    hosts: Hosts


@dataclass(frozen=True)
class ReplayRun:
    placed: list[PlacedScenario]
    shipped: ShipReport
    coverage: list[ScenarioCoverage]


def pack_span(scenarios: Sequence[Scenario]) -> float:
    """Seconds of event time a pack of ``scenarios`` covers."""
    return len(scenarios) * SLOT_SECONDS


def replay(scenarios: Sequence[Scenario], target: Target, start: float, collector_url: str, store: EventStore,
           client: httpx.Client | None = None, workdir: Path | None = None) -> ReplayRun:
    """Write the pack to a pcap, read it as a sensor does, ship it to the collector, then measure the coverage."""
    with tempfile.TemporaryDirectory(prefix="edusoc-drill-") as scratch:
        pcap = (workdir or Path(scratch)) / f"drill-pack-{target.label}.pcap"
        placed = write_pack(pcap, scenarios, start, target.hosts)
        events, _ = read_pcap(pcap)
    options = {"client": client} if client is not None else {}
    shipped = ship_events(events, collector_url, target.token, **options)
    # SQLite answers at once; Elasticsearch only after its refresh interval (the CLI replays into SQLite).
    return ReplayRun(placed, shipped, measure(store, placed))


@contextmanager
def serving_on_loopback(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL; stop on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="drill-replay-collector", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the collector did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
