"""What edusoc already knows for a blue report: how fast it alerted on the attack, and which red addresses it saw."""
from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from drills.models import Exercise, RedResult
from soc_core.clock import as_utc
from soc_core.drill_scope import DRILL_FIELD
from soc_core.event_store import EventQuery, EventStore
from soc_core.events import parse_timestamp


def blue_prefill(store: EventStore, exercise: Exercise, result: RedResult, now: datetime) -> dict[str, Any]:
    """及时性: seconds from the red result's attack time to the first drill alert at the defending unit;
    覆盖率: the red team's addresses (those the result names, else the whitelist's) that edusoc's drill alerts show."""
    query = EventQuery(start=as_utc(result.attack_time), end=now, unit_ids=[str(result.defender_unit_id)],
                       filters={"event.kind": "alert", DRILL_FIELD: str(exercise.id)}, sort="@timestamp",
                       descending=False, limit=1000)
    alerts = store.search(query).events
    networks = [ipaddress.ip_network(n, strict=False) for n in exercise.attacker_networks]
    seen = {ip for alert in alerts for ip in (alert.get("source.ip"), alert.get("destination.ip"))
            if isinstance(ip, str) and any(ipaddress.ip_address(ip) in n for n in networks)}
    used = list(result.source_addresses) or sorted(seen)
    detected = sorted(ip for ip in used if ip in seen)
    first = alerts[0] if alerts else None
    return {
        "time_to_first_alert_seconds": round((parse_timestamp(first["@timestamp"]) - as_utc(result.attack_time)).total_seconds(), 3)
        if first else None,
        "first_alert_rule": first.get("rule.name") if first else None,
        "alerts": len(alerts),
        "attacker_addresses_used": used,
        "attacker_addresses_detected": detected,
        "address_coverage": round(len(detected) / len(used), 4) if used else None,
    }
