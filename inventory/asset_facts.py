"""Asset facts for grading, read from the asset inventory: the MLPS level and CII flag of the targeted system."""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from detection_rules import Alert
from inventory.models import InformationSystem

# Alert context fields that name the attacked side, most specific first.
TARGET_FIELDS = ("destination.ip", "url.domain")


@dataclass(frozen=True)
class AssetFacts:
    """What the asset inventory knows about the target of an alert (for grading)."""

    mlps_level: int | None = None
    is_cii: bool = False


# (unit id, alert) -> facts about the targeted asset, or None when the inventory does not know it.
AssetLookup = Callable[[int, Alert], "AssetFacts | None"]


def _answers_on(addresses: str, target: str) -> bool:
    try:
        address = ipaddress.ip_address(target)
    except ValueError:
        address = None
    for entry in (part.strip().lower() for part in addresses.split(",")):
        if not entry:
            continue
        if entry == target.lower():
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def inventory_lookup(session: Session) -> AssetLookup:
    """An AssetLookup over the unit's filed information systems: the most important system the target belongs to."""

    def lookup(unit_id: int, alert: Alert) -> AssetFacts | None:
        targets = [str(alert.summary[f]) for f in TARGET_FIELDS if alert.summary.get(f)]
        if not targets:
            return None
        matches = [s for s in session.scalars(select(InformationSystem).where(InformationSystem.unit_id == unit_id))
                   if any(_answers_on(s.addresses, t) for t in targets)]
        if not matches:
            return None
        return AssetFacts(mlps_level=max((s.level or 0 for s in matches), default=0) or None, is_cii=any(s.is_cii for s in matches))

    return lookup
