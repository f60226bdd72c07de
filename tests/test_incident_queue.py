"""GET /api/v1/incidents as a queue for thousands: filters, text search, sort and keyset paging, in scope."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from incidents import Grade, Source, open_incident
from soc_core.models import Incident
from tests.api_helpers import DemoProcess, start_demo_process

GRADES = (Grade.I, Grade.II, Grade.III, Grade.IV)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[DemoProcess]:
    from datetime import datetime, timezone

    from soc_core.clock import ManualClock

    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    process = start_demo_process(tmp_path_factory.mktemp("queue"), clock)
    school1, school2 = process.unit("DEMO-SCHOOL-1"), process.unit("DEMO-SCHOOL-2")
    with process.runtime.sessions() as session:
        for n in range(120):
            unit = session.merge(school1 if n % 3 else school2)
            incident = open_incident(session, clock, process.runtime.settings.incidents, "duty", f"端口扫描 {n}", unit, GRADES[n % 4],
                                     Source.NOTICE if n % 10 == 0 else Source.DETECTED)
            incident.key_entity = f"198.51.100.{n}"
            if n % 7 == 0:
                incident.status = "closed"  # test data: closed and merged ones the default view leaves out
            elif n % 11 == 0:
                incident.status = "merged"
            if n % 13 == 0:
                incident.overdue_at = incident.handle_by
            clock.advance(timedelta(seconds=30))
        session.commit()
    yield process
    process.runtime.close()


def _get(demo: DemoProcess, user: str = "duty", **params: object):  # type: ignore[no-untyped-def]
    response = demo.client.get("/api/v1/incidents", params=params, headers=demo.login(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_walking_the_queue_by_cursor_visits_every_open_incident_once_in_deadline_order(demo):
    seen, deadlines, after = [], [], None
    while True:
        page = _get(demo, open="true", limit=25, **({"after": after} if after else {}))
        seen += [i["id"] for i in page["items"]]
        deadlines += [i["handle_by"] for i in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    with demo.runtime.sessions() as session:
        open_ids = {i.id for i in session.query(Incident).filter(Incident.status.in_(("new", "acknowledged", "investigating", "contained")))}
    assert len(seen) == len(set(seen)) == len(open_ids) == page["total"]
    assert set(seen) == open_ids and deadlines == sorted(deadlines)


def test_newest_first_pages_do_not_overlap(demo):
    first = _get(demo, sort="newest", limit=10)
    second = _get(demo, sort="newest", limit=10, after=first["next_cursor"])
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 20


def test_filters_combine(demo):
    majors = _get(demo, grade=["I", "II"], open="true", limit=500)
    assert majors["items"] and {i["grade"] for i in majors["items"]} == {"I", "II"}
    assert all(i["status"] not in ("closed", "merged") for i in majors["items"])
    school2 = demo.unit("DEMO-SCHOOL-2")
    at_school2 = _get(demo, unit_id=school2.id, limit=500)
    assert at_school2["total"] == 40 and {i["unit_id"] for i in at_school2["items"]} == {school2.id}
    county = _get(demo, unit_id=school2.parent_id, limit=500)  # a unit's subtree: both schools sit under the county
    assert county["total"] == 120 + _demo_seeded(demo)
    assert {i["source"] for i in _get(demo, source="notice", limit=500)["items"]} == {"notice"}
    assert _get(demo, overdue="true")["total"] == len(range(0, 120, 13))
    assert [i["title"] for i in _get(demo, q="扫描 42")["items"]] == ["端口扫描 42"]
    assert [i["key_entity"] for i in _get(demo, q="198.51.100.77")["items"]] == ["198.51.100.77"]
    assert _get(demo, q="100%")["total"] == 0  # a literal %, not a wildcard


def _demo_seeded(demo: DemoProcess) -> int:
    with demo.runtime.sessions() as session:
        return session.query(Incident).filter(~Incident.title.like("端口扫描%")).count()


def test_a_school_admin_cannot_filter_by_another_school_and_a_forged_cursor_is_refused(demo):
    other = demo.unit("DEMO-SCHOOL-2")
    response = demo.client.get("/api/v1/incidents", params={"unit_id": other.id}, headers=demo.login("school1"))
    assert response.status_code == 404
    bad = demo.client.get("/api/v1/incidents", params={"after": "bm90LWEtY3Vyc29y"}, headers=demo.login("duty"))
    assert bad.status_code == 422
    first = _get(demo, sort="newest", limit=5)
    mixed = demo.client.get("/api/v1/incidents", params={"after": first["next_cursor"]}, headers=demo.login("duty"))
    assert mixed.status_code == 422 and "newest" in mixed.text
