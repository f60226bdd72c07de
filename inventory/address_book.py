"""Who owns an address: the asset inventory's IP ranges (owning unit) and hosts (the asset), as an
index the collector asks once per address of every event.

Lookup is longest-prefix match: one hash probe per distinct prefix length present (at most 33 for
IPv4, 129 for IPv6, in practice a handful), so it does not grow with the number of ranges.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Host, IpRange
from soc_core.models import Unit


@dataclass(frozen=True)
class AssetRef:
    unit_id: int
    unit_name: str
    unit_path: str  # materialised path in the org tree, for scope checks
    network: str    # the inventory entry that matched, e.g. 10.21.0.0/16 or 10.21.3.17/32
    asset: str | None = None  # host name when the address is an inventoried host


@dataclass(frozen=True)
class AddressEntry:
    cidr: str
    unit_id: int
    unit_name: str
    unit_path: str
    asset: str | None = None


class AddressBook(Protocol):
    def lookup(self, ip: str) -> AssetRef | None: ...


_ANSWERS_SIZE = 1 << 16


class RangeAddressBook:
    """An AddressBook over (CIDR, unit, asset) entries; the most specific entry wins."""

    def __init__(self, entries: Iterable[AddressEntry]) -> None:
        # (version, prefix length) -> {network address as int: ref}
        self._tables: dict[tuple[int, int], dict[int, AssetRef]] = {}
        for entry in entries:
            network = ipaddress.ip_network(entry.cidr, strict=False)
            ref = AssetRef(entry.unit_id, entry.unit_name, entry.unit_path, str(network), entry.asset)
            table = self._tables.setdefault((network.version, network.prefixlen), {})
            # Two units claiming the same network: the first (lowest id, see from_inventory) keeps it.
            table.setdefault(int(network.network_address), ref)
        self._order = {v: sorted((p for (ver, p) in self._tables if ver == v), reverse=True) for v in (4, 6)}
        self.size = sum(len(t) for t in self._tables.values())
        # Addresses repeat across events: answers by address string, bounded (the book itself never
        # changes; a new inventory is a new book).
        self._answers: dict[str, AssetRef | None] = {}

    def lookup(self, ip: str) -> AssetRef | None:
        try:
            return self._answers[ip]
        except KeyError:
            pass
        if len(self._answers) >= _ANSWERS_SIZE:
            self._answers.clear()
        answer = self._answers[ip] = self._lookup(ip)
        return answer

    def _lookup(self, ip: str) -> AssetRef | None:
        try:
            packed = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except (OSError, ValueError):
            return None
        version, value = (4 if len(packed) == 4 else 6), int.from_bytes(packed, "big")
        bits = 32 if version == 4 else 128
        for prefix in self._order[version]:
            ref = self._tables[(version, prefix)].get(value >> (bits - prefix) << (bits - prefix))
            if ref is not None:
                return ref
        return None


def address_book_from_inventory(session: Session) -> RangeAddressBook:
    """Build the index from the inventory: every unit's IP ranges, and its hosts as /32 (/128) assets."""
    entries: list[AddressEntry] = []
    rows = session.execute(select(IpRange.cidr, Unit.id, Unit.name, Unit.path).join(Unit, IpRange.unit_id == Unit.id)
                           .order_by(IpRange.id))
    for cidr, unit_id, name, path in rows:
        entries.append(AddressEntry(cidr, unit_id, name, path))
    hosts = session.execute(select(Host.ip, Host.hostname, Unit.id, Unit.name, Unit.path)
                            .join(Unit, Host.unit_id == Unit.id).order_by(Host.id))
    for ip, hostname, unit_id, name, path in hosts:
        try:
            entries.append(AddressEntry(str(ipaddress.ip_address(ip)), unit_id, name, path, hostname or ip))
        except ValueError:
            continue  # the inventory import validates addresses; a bad one is simply not indexed
    return RangeAddressBook(entries)
