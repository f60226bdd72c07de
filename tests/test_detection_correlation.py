"""Streaming event_count / value_count correlations: threshold, timespan, groups, bounded state."""
from __future__ import annotations

import textwrap
from pathlib import Path

from detection_rules import DetectionEngine, load_ruleset
from soc_core.events import timestamp_from_epoch

T0 = 1_793_581_200.0  # 2026-11-02T01:00:00Z

BASE = """\
title: Refused Connection
id: 6a0f7d52-8a51-4f54-a0b6-3d1c8d0c0a01
name: refused_connection
status: test
logsource:
    product: zeek
    service: conn
detection:
    selection:
        conn_state: REJ
    condition: selection
level: low
"""


def correlation(tmp_path: Path, body: str) -> DetectionEngine:
    text = BASE + "---\n" + textwrap.dedent(
        """\
        title: Many Refused Connections
        id: 6a0f7d52-8a51-4f54-a0b6-3d1c8d0c0a02
        status: test
        correlation:
        {body}
        level: medium
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    path = tmp_path / "corr.yml"
    path.write_text(text)
    ruleset = load_ruleset([path])
    assert ruleset.errors == [], ruleset.errors
    return DetectionEngine(ruleset, max_groups=4)


def flow(second: float, port: int = 80, source: str = "10.20.3.66", dest: str = "10.20.1.10", state: str = "REJ") -> dict[str, object]:
    return {
        "@timestamp": timestamp_from_epoch(T0 + second),
        "event.id": f"flow-{source}-{dest}-{port}-{second}",
        "event.kind": "event",
        "event.dataset": "edusoc.flow",
        "source.ip": source,
        "destination.ip": dest,
        "destination.port": port,
        "network.transport": "tcp",
        "network.connection.state": state,
        "organization.id": "school-7",
    }


PORTS = """\
type: value_count
rules: [refused_connection]
group-by: [id.orig_h, id.resp_h]
timespan: 1m
condition:
    field: id.resp_p
    gte: 10
"""

COUNT = """\
type: event_count
rules: [refused_connection]
group-by: [id.orig_h]
timespan: 10s
condition:
    gte: 3
"""


def test_value_count_fires_once_when_threshold_crossed(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    alerts = engine.process_many(flow(i * 0.1, port=1000 + i) for i in range(300))
    [alert] = alerts
    assert alert.rule_title == "Many Refused Connections"
    assert alert.matches["count"] == 10
    assert alert.matches["group_by"] == {"source.ip": "10.20.3.66", "destination.ip": "10.20.1.10"}
    assert alert.timestamp == timestamp_from_epoch(T0 + 0.9)
    assert len(alert.event_ids) == 10
    assert alert.unit_id == "school-7"


def test_value_count_counts_distinct_values_only(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    assert engine.process_many(flow(i, port=80 + i % 9) for i in range(50)) == []


def test_base_rule_with_generate_false_raises_no_alerts_of_its_own(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    assert engine.process(flow(0)) == []


def test_events_not_matching_the_base_rule_are_not_counted(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    assert engine.process_many(flow(i, port=1000 + i, state="SF") for i in range(20)) == []


def test_groups_are_counted_separately(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    events = [flow(i, port=1000 + i, dest=f"10.20.1.{i % 2 + 1}") for i in range(18)]
    assert engine.process_many(events) == []
    alerts = engine.process_many([flow(18, port=2000, dest="10.20.1.2"), flow(19, port=2001, dest="10.20.1.1")])
    assert [a.matches["group_by"]["destination.ip"] for a in alerts] == ["10.20.1.2", "10.20.1.1"]


def test_values_outside_the_timespan_do_not_count(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    # 9 ports, a pause longer than the timespan, then 9 more: never 10 within a minute
    events = [flow(i, port=1000 + i) for i in range(9)] + [flow(100 + i, port=2000 + i) for i in range(9)]
    assert engine.process_many(events) == []


def test_fires_again_in_a_later_window(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS)
    first = engine.process_many(flow(i, port=1000 + i) for i in range(30))
    later = engine.process_many(flow(120 + i, port=3000 + i) for i in range(30))
    assert len(first) == 1 and len(later) == 1
    assert first[0].id != later[0].id


def test_event_count_with_timespan(tmp_path: Path) -> None:
    engine = correlation(tmp_path, COUNT)
    assert engine.process_many([flow(0), flow(5), flow(11)]) == []  # the first fell out of the 10 s window
    [alert] = engine.process(flow(12))
    assert alert.matches["count"] == 3
    assert engine.process(flow(13)) == []  # once per window, not once per further event


def test_group_state_is_bounded(tmp_path: Path) -> None:
    engine = correlation(tmp_path, COUNT)
    for i in range(50):
        engine.process(flow(i * 0.01, source=f"10.9.0.{i}"))
    (_, window), = engine._correlations
    assert len(window.groups) <= 4
    assert window.evicted_groups == 46


def test_expired_groups_are_swept(tmp_path: Path) -> None:
    engine = correlation(tmp_path, COUNT)
    for i in range(4):
        engine.process(flow(0, source=f"10.9.0.{i}"))
    engine.process(flow(100, source="10.9.1.1"))  # a fifth group, long after the others expired
    (_, window), = engine._correlations
    assert len(window.groups) == 1
    assert window.evicted_groups == 0


def test_event_ids_are_bounded(tmp_path: Path) -> None:
    engine = correlation(tmp_path, PORTS.replace("gte: 10", "gte: 500"))
    alerts = engine.process_many(flow(i * 0.01, port=1000 + i) for i in range(600))
    [alert] = alerts
    assert len(alert.event_ids) == 100
    assert alert.event_ids[-1] == flow(4.99, port=1499)["event.id"]


def test_correlation_alert_id_is_stable(tmp_path: Path) -> None:
    events = [flow(i, port=1000 + i) for i in range(12)]
    first = correlation(tmp_path, PORTS).process_many(events)
    second = correlation(tmp_path, PORTS).process_many(events)
    assert [a.id for a in first] == [a.id for a in second]


SECOND_BASE = """\
title: Accepted Connection
id: 6a0f7d52-8a51-4f54-a0b6-3d1c8d0c0a10
name: accepted_connection
status: test
logsource:
    product: zeek
    service: conn
detection:
    selection:
        conn_state: SF
    condition: selection
level: low
"""


def two_rule_correlation(tmp_path: Path, body: str) -> DetectionEngine:
    path = tmp_path / "temporal.yml"
    path.write_text(BASE + "---\n" + SECOND_BASE + "---\n" + textwrap.dedent(
        """\
        title: Refused Then Accepted
        id: 6a0f7d52-8a51-4f54-a0b6-3d1c8d0c0a03
        correlation:
        {body}
        level: medium
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    ")))
    ruleset = load_ruleset([path])
    assert ruleset.errors == [], ruleset.errors
    return DetectionEngine(ruleset)


TEMPORAL = """\
type: temporal
rules: [refused_connection, accepted_connection]
group-by: [id.orig_h]
timespan: 1m
"""


def test_temporal_fires_when_every_rule_matched_within_the_timespan(tmp_path: Path) -> None:
    engine = two_rule_correlation(tmp_path, TEMPORAL)
    assert engine.process_many([flow(0), flow(5), flow(10, source="10.9.9.9", state="SF")]) == []
    [alert] = engine.process(flow(20, state="SF"))
    assert alert.rule_title == "Refused Then Accepted"
    assert alert.matches["count"] == 2
    assert alert.matches["condition"] == "temporal >= 2 within 60s"


def test_temporal_in_any_order_but_not_across_the_timespan(tmp_path: Path) -> None:
    engine = two_rule_correlation(tmp_path, TEMPORAL)
    assert engine.process_many([flow(0, state="SF"), flow(100)]) == []  # 100 s apart
    assert len(engine.process(flow(130, state="SF"))) == 1  # accepted after refused, 30 s apart


def test_temporal_ordered_requires_the_listed_order(tmp_path: Path) -> None:
    ordered = TEMPORAL.replace("type: temporal", "type: temporal_ordered")
    engine = two_rule_correlation(tmp_path, ordered)
    assert engine.process_many([flow(0, state="SF"), flow(5)]) == []  # accepted first: wrong order
    [alert] = engine.process(flow(10, state="SF"))
    assert alert.matches["count"] == 2


def test_aliases_group_different_fields_of_different_rules(tmp_path: Path) -> None:
    body = """\
    type: temporal_ordered
    rules: [refused_connection, accepted_connection]
    group-by: [host]
    timespan: 1m
    aliases:
        host:
            refused_connection: id.orig_h
            accepted_connection: id.resp_h
    """
    engine = two_rule_correlation(tmp_path, body)
    assert engine.process(flow(0, source="10.20.3.66", dest="10.20.1.10")) == []
    # the accepted connection goes *to* the host that was refused before: same group
    [alert] = engine.process(flow(3, source="10.20.1.99", dest="10.20.3.66", state="SF"))
    assert alert.matches["group_by"] == {"host": "10.20.3.66"}


def test_upper_bound_condition_is_decided_when_the_window_closes(tmp_path: Path) -> None:
    engine = correlation(tmp_path, COUNT.replace("gte: 3", "lt: 3"))
    assert engine.process_many([flow(0), flow(5)]) == []  # window [0, 10] still open
    assert engine.process_many([flow(0, source="10.9.0.1")] * 3) == []
    [alert] = engine.process(flow(11, source="10.0.0.99", state="SF"))  # event time passes 10 s
    assert alert.matches["count"] == 2
    assert alert.matches["group_by"] == {"source.ip": "10.20.3.66"}
    assert alert.unit_id == "school-7"
    assert alert.matches["condition"] == "event_count < 3 within 10s"


def test_value_sum_over_a_numeric_field(tmp_path: Path) -> None:
    body = """\
    type: value_sum
    rules: [refused_connection]
    group-by: [id.orig_h]
    timespan: 1m
    condition:
        field: id.resp_p
        gt: 1000
    """
    engine = correlation(tmp_path, body)
    assert engine.process_many([flow(0, port=400), flow(1, port=500)]) == []
    [alert] = engine.process(flow(2, port=200))
    assert alert.matches["count"] == 1100


def test_correlation_over_a_missing_rule_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dangling.yml"
    path.write_text(textwrap.dedent("""\
        title: Dangling
        id: 6a0f7d52-8a51-4f54-a0b6-3d1c8d0c0a05
        correlation:
            type: event_count
            rules: [no_such_rule]
            timespan: 1m
            condition:
                gte: 3
        level: low
        """))
    [error] = load_ruleset([path]).errors
    assert "no_such_rule" in error.reason
