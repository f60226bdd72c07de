"""Enrichment from the asset inventory: owning unit and asset per address, attribution below the sensor's unit."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest

from inventory.address_book import AddressEntry, RangeAddressBook
from soc_core.events import owned_event_id
from soc_core.repositories import register_sensor
from tests.api_helpers import DemoProcess, start_demo_process


def test_the_most_specific_entry_wins_for_v4_and_v6():
    book = RangeAddressBook([
        AddressEntry("10.20.0.0/16", 3, "一中", "/1/2/3/"),
        AddressEntry("10.20.1.80/32", 3, "一中", "/1/2/3/", "web01"),
        AddressEntry("10.20.9.0/24", 5, "分校", "/1/2/5/"),
        AddressEntry("2001:db8:20::/48", 3, "一中", "/1/2/3/"),
        AddressEntry("10.20.0.0/16", 9, "claims it too", "/1/9/"),  # a duplicate claim: the first one keeps it
    ])
    assert book.lookup("10.20.1.80").asset == "web01"
    assert (book.lookup("10.20.1.81").unit_id, book.lookup("10.20.1.81").network) == (3, "10.20.0.0/16")
    assert book.lookup("10.20.9.200").unit_name == "分校"
    assert book.lookup("2001:db8:20:1::5").unit_id == 3
    assert book.lookup("10.21.0.1") is None and book.lookup("2001:db8:21::1") is None
    assert book.lookup("not-an-ip") is None
    assert RangeAddressBook([]).lookup("10.0.0.1") is None


def test_remembered_answers_stay_right_past_the_bound():
    book = RangeAddressBook([AddressEntry("10.20.0.0/16", 3, "一中", "/1/2/3/"),
                             AddressEntry("10.20.1.80/32", 3, "一中", "/1/2/3/", "web01")])
    for _ in range(2):  # 70 000 distinct addresses: more than the book remembers, so it forgets and re-asks
        answers = [book.lookup(f"10.{20 + i % 2}.{i // 256 % 256}.{i % 256}") for i in range(70_000)]
        assert sum(a is not None for a in answers) == 35_000
        assert book.lookup("10.20.1.80").asset == "web01" and book.lookup("10.21.1.80") is None


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)  # the demo schools' inventory: 10.20/16 一中, 10.30/16 实验小学
    process.runtime.refresh_address_book()
    yield process
    process.runtime.close()


def _ship(demo: DemoProcess, token: str, *events: dict[str, object]) -> None:
    body = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    response = demo.client.post("/api/v1/ingest/events", content=body,
                                headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.json()["accepted"] == len(events), response.text


def _flow(n: int, src: str, dst: str, **extra: object) -> dict[str, object]:
    return {"@timestamp": f"2026-11-02T01:00:{n:02d}Z", "event.id": f"flow-{n}", "event.kind": "event",
            "event.dataset": "edusoc.flow", "source.ip": src, "destination.ip": dst, "destination.port": 80, **extra}


def test_a_county_sensor_attributes_school_traffic_to_the_school(demo, clock):
    with demo.runtime.sessions() as session:
        token = register_sensor(session, clock, "county-gw", demo.unit("DEMO-COUNTY")).token
        session.commit()
    _ship(demo, token, _flow(1, "198.51.100.7", "10.30.1.80"), _flow(2, "10.20.1.80", "198.51.100.9"),
          _flow(3, "198.51.100.7", "198.51.100.8"))
    store = demo.runtime.event_store
    county = str(demo.unit("DEMO-COUNTY").id)  # ids are stored as the sending sensor's unit's
    to_school2 = store.get(owned_event_id(county, "flow-1"))
    assert to_school2["organization.id"] == str(demo.unit("DEMO-SCHOOL-2").id)
    assert (to_school2["destination.unit.name"], to_school2["observer.name"]) == ("示范区实验小学", "county-gw")
    from_school1 = store.get(owned_event_id(county, "flow-2"))
    assert from_school1["organization.name"] == "示范区第一中学" and from_school1["source.asset.name"] == "web01"
    assert store.get(owned_event_id(county, "flow-3"))["organization.id"] == str(demo.unit("DEMO-COUNTY").id)  # nobody's address
    # school2's admin now sees the event on their school through the scoped search
    school2 = demo.client.get("/api/v1/events", params={"event.kind": "event"}, headers=demo.login("school2"))
    assert [e["event.id"] for e in school2.json()["items"]] == [owned_event_id(county, "flow-1")]


def test_a_school_sensor_never_moves_events_out_of_its_school(demo):
    forged = _flow(4, "10.20.3.3", "10.30.1.80", **{"source.unit.id": "999", "source.unit.name": "forged"})
    _ship(demo, demo.sensors["sensor-school1-edge"].token, forged)
    stored = demo.runtime.event_store.get(demo.stored_id("flow-4", sensor="sensor-school1-edge"))
    assert stored["organization.name"] == "示范区第一中学"  # 10.30/16 is 实验小学's, outside the sensor's unit
    assert stored["destination.unit.name"] == "示范区实验小学"
    assert (stored["source.unit.name"], stored["source.unit.id"]) == ("示范区第一中学", str(demo.unit("DEMO-SCHOOL-1").id))
