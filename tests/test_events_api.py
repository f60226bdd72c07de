"""GET /api/v1/events and its aggregations: scoped by the org tree, filters, pivot from an incident."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest

from soc_core.models import Incident
from tests.api_helpers import DemoProcess, start_demo_process

SQLI = "id=1%27%20union%20select%201,2,database()--"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    _ship(process, "sensor-school2-web", [_web(n) for n in range(6)] + [_web(9, SQLI)])
    _ship(process, "sensor-school1-edge", [_flow(n) for n in range(4)])
    yield process
    process.runtime.close()


def _web(n: int, query: str = "page=1") -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-02T01:{n:02d}:00Z", "event.id": f"web-{n}", "event.kind": "event",
        "event.dataset": "edusoc.web", "event.module": "weblog", "source.ip": "203.0.113.7",
        "destination.ip": "10.23.1.10", "destination.port": 80, "http.request.method": "GET",
        "url.original": f"/news.php?{query}", "url.path": "/news.php", "url.query": query,
        "http.response.status_code": 200 if n % 2 else 404, "message": f"GET /news.php?{query}",
    }


def _flow(n: int) -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-02T01:{n:02d}:30Z", "event.id": f"flow-{n}", "event.kind": "event",
        "event.dataset": "edusoc.flow", "event.module": "pcap", "source.ip": f"10.21.3.{10 + n}",
        "destination.ip": "10.21.0.1", "destination.port": 22 if n < 3 else 443, "network.transport": "tcp",
        "message": f"tcp 10.21.3.{10 + n} -> 10.21.0.1",
    }


def _ship(demo: DemoProcess, sensor: str, events: list[dict[str, object]]) -> None:
    body = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    response = demo.client.post("/api/v1/ingest/events", content=body, headers={
        "Authorization": f"Bearer {demo.sensors[sensor].token}", "Content-Encoding": "gzip"})
    assert response.status_code == 200 and not response.json()["rejected"], response.text


def _get(demo: DemoProcess, user: str, path: str = "/api/v1/events", **params: object):
    return demo.client.get(path, params=params, headers=demo.login(user))


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The ids the sensors sent (the collector stores them as "<unit id>:<sensor's id>")."""
    assert response.status_code == 200, response.text
    return [e["event.id"].split(":", 1)[1] for e in response.json()["items"]]


def test_each_principal_sees_only_events_of_their_subtree(demo):
    everything = _get(demo, "duty", **{"event.kind": "event"}, limit=100)
    assert everything.json()["total"] == 11  # 7 web + 4 flow events (alerts are events too: filtered out)
    school1 = _get(demo, "school1", **{"event.kind": "event"}, limit=100)
    assert set(_ids(school1)) == {f"flow-{n}" for n in range(4)}
    assert _get(demo, "regulator", **{"event.kind": "event"}).json()["total"] == 11
    assert demo.client.get("/api/v1/events").status_code == 401


def test_a_unit_or_event_outside_the_scope_is_not_found(demo):
    school2 = demo.unit("DEMO-SCHOOL-2").id
    assert _get(demo, "school1", unit_id=school2).status_code == 404
    assert _get(demo, "duty", unit_id=school2, **{"event.kind": "event"}).json()["total"] == 7
    web_1 = demo.stored_id("web-1")
    assert _get(demo, "school1", f"/api/v1/events/{web_1}").status_code == 404
    assert _get(demo, "school2", f"/api/v1/events/{web_1}").json()["url.original"] == "/news.php?page=1"


def test_field_filters_text_sort_and_paging(demo):
    assert _ids(_get(demo, "duty", **{"destination.port": 443})) == ["flow-3"]
    assert _ids(_get(demo, "duty", q="UNION%20select", **{"event.kind": "event"})) == ["web-9"]
    assert _ids(_get(demo, "duty", **{"event.dataset": "edusoc.web", "http.response.status_code": 404},
                     order="asc")) == ["web-0", "web-2", "web-4"]
    page = _get(demo, "duty", **{"event.dataset": "edusoc.flow"}, sort="source.ip", order="desc", offset=1, limit=2)
    assert _ids(page) == ["flow-2", "flow-1"] and page.json()["total"] == 4
    timed = _get(demo, "duty", start="2026-11-02T01:02:00Z", end="2026-11-02T01:04:00Z", **{"event.kind": "event"})
    assert sorted(_ids(timed)) == ["flow-2", "flow-3", "web-2", "web-3"]


def test_bad_parameters_are_clear_errors(demo):
    assert "unknown parameter 'colour'" in _get(demo, "duty", colour="red").json()["detail"]
    assert "expected an integer" in _get(demo, "duty", **{"destination.port": "ssh"}).json()["detail"]
    assert "cannot sort on 'message'" in _get(demo, "duty", sort="message").json()["detail"]
    assert _get(demo, "duty", start="2026-11-03T00:00:00Z", end="2026-11-02T00:00:00Z").status_code == 422
    terms = _get(demo, "duty", "/api/v1/events/aggregations/terms", field="message")
    assert terms.status_code == 422


def test_counts_by_field_and_over_time(demo):
    terms = _get(demo, "duty", "/api/v1/events/aggregations/terms", field="event.dataset", **{"event.kind": "event"})
    assert terms.json()["buckets"] == [{"value": "edusoc.web", "count": 7}, {"value": "edusoc.flow", "count": 4}]
    ports = _get(demo, "school1", "/api/v1/events/aggregations/terms", field="destination.port").json()
    assert ports["buckets"] == [{"value": 22, "count": 3}, {"value": 443, "count": 1}]
    hist = _get(demo, "duty", "/api/v1/events/aggregations/histogram", interval=120,
                **{"event.dataset": "edusoc.flow"}).json()
    assert hist["interval"] == 120
    assert [(b["start"], b["count"]) for b in hist["buckets"]] == [
        ("2026-11-02T01:00:00Z", 2), ("2026-11-02T01:02:00Z", 2)]
    auto = _get(demo, "duty", "/api/v1/events/aggregations/histogram", **{"event.kind": "event"}).json()
    assert auto["interval"] == 60 and sum(b["count"] for b in auto["buckets"]) == 11


def test_pivot_from_an_incident_to_its_events(demo):
    with demo.runtime.sessions() as session:
        # the Sigma rule's SQL injection incident at 实验小学 (the CRS opens its own beside it)
        incident = session.query(Incident).filter(~Incident.rule_id.startswith("crs:")).one()
        incident_id = incident.id
    behind = _get(demo, "duty", incident_id=incident_id, alert_events=True)
    assert _ids(behind) == ["web-9"]
    around = _get(demo, "duty", incident_id=incident_id, **{"event.kind": "event"}, limit=100)
    assert set(_ids(around)) == {f"web-{n}" for n in (0, 1, 2, 3, 4, 5, 9)}  # its unit only, ±30 min
    assert _get(demo, "school1", incident_id=incident_id).status_code == 404
