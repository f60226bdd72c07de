"""Which events belong to a red-blue exercise (攻防演练): the collector asks once per event.

An event is the exercise's when its source or destination address is one of the exercise's whitelisted red-team
addresses, its time lies in the exercise window and its unit lies within the exercise's scope units. Such events carry
``drill.id`` (see soc_core/events.py); their alerts and incidents are drill ones.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc_core.events import parse_timestamp

DRILL_FIELD = "drill.id"
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class DrillWindow:
    drill_id: int
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive
    networks: tuple[IpNetwork, ...]
    unit_paths: tuple[str, ...]  # materialised paths of the scope units


class DrillScopes:
    """The windows of the exercises that may still tag events, and each unit's path (by organization.id)."""

    def __init__(self, windows: Iterable[DrillWindow], unit_paths: Mapping[str, str]) -> None:
        self.windows = tuple(windows)
        self.unit_paths = dict(unit_paths)
        self._networks = tuple({network for window in self.windows for network in window.networks})
        self._seen: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.windows)

    def _red(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        known = self._seen.get(ip)
        if known is None:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                known = False
            else:
                known = any(address in network for network in self._networks)
            if len(self._seen) > 1 << 16:
                self._seen.clear()
            self._seen[ip] = known
        return known

    def drill_of(self, event: Mapping[str, Any]) -> int | None:
        """The exercise ``event`` belongs to, or None."""
        source, destination = event.get("source.ip"), event.get("destination.ip")
        if not (self._red(source) or self._red(destination)):
            return None
        try:
            instant = parse_timestamp(str(event.get("@timestamp", "")))
        except ValueError:
            return None
        path = self.unit_paths.get(str(event.get("organization.id", "")), "")
        for window in self.windows:
            if not window.start <= instant < window.end or not any(path.startswith(p) for p in window.unit_paths):
                continue
            for ip in (source, destination):
                if isinstance(ip, str) and self._red(ip) and any(ipaddress.ip_address(ip) in n for n in window.networks):
                    return window.drill_id
        return None

    def tag(self, event: dict[str, Any]) -> None:
        """Set ``drill.id`` from the exercises, whatever the sensor claimed."""
        event.pop(DRILL_FIELD, None)
        if self.windows:
            drill = self.drill_of(event)
            if drill is not None:
                event[DRILL_FIELD] = str(drill)
