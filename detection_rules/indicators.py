"""Indicator lists (IP and CIDR, domain with its subdomains, URL, file hash) matched per event.

Lookups cost constant or logarithmic time whatever the list size: addresses, URLs and hashes
are set members; a domain is looked up with each of its parent domains (a handful of set
lookups: ``evil.example`` listed matches ``a.b.evil.example``); CIDR ranges are merged into
sorted, non-overlapping intervals per IP version and found by bisection.

Import from CSV (``type,value[,description,tags,level]``, a header line optional) or from a
STIX 2 bundle (``indicator`` objects whose pattern compares ``ipv4-addr``/``ipv6-addr``/
``domain-name``/``url:value`` or ``file:hashes`` with ``=``, OR-ed; and the plain cyber
observables ``ipv4-addr``, ``domain-name``, ``url``, ``file``). A line or object that cannot be
used is reported with its reason and skipped; the rest load.
"""
from __future__ import annotations

import bisect
import csv
import io
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from detection_rules.alerts import LEVELS, Alert, alert_id, summarize

KINDS = ("ip", "cidr", "domain", "url", "md5", "sha1", "sha256")
KIND_ALIASES = {
    "ipv4": "ip", "ipv6": "ip", "ipv4-addr": "ip", "ipv6-addr": "ip", "ip-dst": "ip", "ip-src": "ip",
    "domain-name": "domain", "hostname": "domain", "fqdn": "domain", "uri": "url", "sha-256": "sha256",
    "sha-1": "sha1", "md-5": "md5", "network": "cidr",
}
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}
IP_FIELDS = ("source.ip", "destination.ip", "dns.resolved_ip")
DOMAIN_FIELDS = ("dns.question.name", "url.domain", "tls.client.server_name")
URL_FIELDS = ("url.original",)
HASH_FIELDS = ("file.hash.sha256", "file.hash.md5")  # files sensors cut out of HTTP (edusoc.files)
STIX_COMPARISON = re.compile(r"([a-z0-9-]+):(value|hashes\.'?([A-Za-z0-9-]+)'?)\s*=\s*'((?:[^'\\]|\\.)*)'")


@dataclass(frozen=True)
class Indicator:
    kind: str
    value: str  # normalised
    description: str = ""
    tags: tuple[str, ...] = ()
    level: str = "high"
    source: str = ""


@dataclass(frozen=True)
class ImportProblem:
    where: str  # "file.csv:12" or "bundle.json: indicator--…"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class IndicatorSet:
    exact: dict[tuple[str, str], Indicator] = field(default_factory=dict)  # (kind, value) for ip/domain/url/hashes
    problems: list[ImportProblem] = field(default_factory=list)
    _ranges: dict[int, list[tuple[int, int, Indicator]]] = field(default_factory=lambda: {4: [], 6: []})
    _starts: dict[int, list[int]] = field(default_factory=lambda: {4: [], 6: []})

    def __len__(self) -> int:
        return len(self.exact) + sum(len(ranges) for ranges in self._ranges.values())

    # -- building ---------------------------------------------------------------------------

    def add(self, kind: str, value: str, *, description: str = "", tags: Iterable[str] = (), level: str = "high", source: str = "") -> Indicator:
        """Add one indicator; raises ValueError with the reason when it is not usable."""
        kind = KIND_ALIASES.get(kind.strip().lower(), kind.strip().lower())
        if kind not in KINDS:
            raise ValueError(f"unknown indicator type {kind!r}; expected one of {', '.join(KINDS)}")
        level = level.strip().lower() or "high"
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        normal = _normalise(kind, value)
        indicator = Indicator(kind, normal, description, tuple(tag for tag in tags if tag), level, source)
        if kind == "cidr":
            network = ipaddress.ip_network(normal)
            if network.num_addresses == 1:
                self.exact[("ip", str(network.network_address))] = Indicator("ip", str(network.network_address), description, indicator.tags, level, source)
            else:
                self._add_range(network, indicator)
        else:
            self.exact[(kind, normal)] = indicator
        return indicator

    def _add_range(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, indicator: Indicator) -> None:
        ranges = self._ranges[network.version]
        ranges.append((int(network.network_address), int(network.broadcast_address), indicator))
        ranges.sort(key=lambda item: item[0])
        # keep intervals disjoint: a range inside an earlier one adds nothing; overlaps merge
        merged: list[tuple[int, int, Indicator]] = []
        for start, end, owner in ranges:
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end, merged[-1][2])
                continue
            merged.append((start, end, owner))
        self._ranges[network.version] = merged
        self._starts[network.version] = [start for start, _, _ in merged]

    def load_csv(self, text: str, source: str = "csv") -> int:
        """Add the indicators of a CSV text; returns how many were added (problems are kept)."""
        added = 0
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if number == 1 and row[0].strip().lower() == "type":
                continue
            if len(row) < 2:
                self.problems.append(ImportProblem(f"{source}:{number}", "expected type,value[,description,tags,level]"))
                continue
            description = row[2].strip() if len(row) > 2 else ""
            tags = [tag.strip() for tag in row[3].split(";")] if len(row) > 3 else []
            level = row[4] if len(row) > 4 else "high"
            try:
                self.add(row[0], row[1], description=description, tags=tags, level=level, source=source)
            except ValueError as error:
                self.problems.append(ImportProblem(f"{source}:{number}", str(error)))
                continue
            added += 1
        return added

    def load_stix(self, bundle: object, source: str = "stix") -> int:
        """Add the indicators of a STIX 2 bundle (parsed JSON); returns how many were added."""
        if not isinstance(bundle, dict) or bundle.get("type") != "bundle" or not isinstance(bundle.get("objects"), list):
            self.problems.append(ImportProblem(source, "not a STIX 2 bundle (expected type 'bundle' with objects)"))
            return 0
        added = 0
        for item in bundle["objects"]:
            if not isinstance(item, dict):
                continue
            where = f"{source}: {item.get('id', '?')}"
            try:
                added += self._stix_object(item, source)
            except ValueError as error:
                self.problems.append(ImportProblem(where, str(error)))
        return added

    def _stix_object(self, item: dict[str, Any], source: str) -> int:
        kind = item.get("type")
        description = str(item.get("description") or item.get("name") or "")
        tags = [str(label) for label in item.get("labels") or []]
        if kind == "indicator":
            pattern = str(item.get("pattern") or "")
            if item.get("pattern_type", "stix") != "stix":
                raise ValueError(f"pattern type {item.get('pattern_type')!r} is not supported (stix is)")
            if re.search(r"\bAND\b|\bFOLLOWEDBY\b|\bWITHIN\b|!=|\bMATCHES\b|\bLIKE\b", pattern):
                raise ValueError("only '=' comparisons joined by OR are supported in indicator patterns")
            comparisons = STIX_COMPARISON.findall(pattern)
            if not comparisons:
                raise ValueError(f"no supported comparison in pattern {pattern!r}")
            for object_type, _, hash_name, value in comparisons:
                value = value.replace("\\'", "'").replace("\\\\", "\\")
                self.add(_stix_kind(object_type, hash_name), value, description=description, tags=tags, source=source)
            return len(comparisons)
        if kind in ("ipv4-addr", "ipv6-addr", "domain-name", "url"):
            self.add(str(kind), str(item.get("value", "")), description=description, tags=tags, source=source)
            return 1
        if kind == "file" and isinstance(item.get("hashes"), dict):
            count = 0
            for hash_name, value in item["hashes"].items():
                name = KIND_ALIASES.get(hash_name.lower(), hash_name.lower())
                if name in HASH_LENGTHS:
                    self.add(name, str(value), description=description, tags=tags, source=source)
                    count += 1
            return count
        return 0  # relationships, identities, reports…: nothing to match

    def load_file(self, path: Path) -> int:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() == ".json":
            try:
                return self.load_stix(json.loads(text), source=path.name)
            except json.JSONDecodeError as error:
                self.problems.append(ImportProblem(path.name, f"invalid JSON: {error.msg} at line {error.lineno}"))
                return 0
        return self.load_csv(text, source=path.name)

    # -- matching -----------------------------------------------------------------------------

    def match_ip(self, text: str) -> Indicator | None:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return None
        found = self.exact.get(("ip", str(address)))
        if found is not None:
            return found
        starts = self._starts[address.version]
        position = bisect.bisect_right(starts, int(address)) - 1
        if position >= 0:
            start, end, indicator = self._ranges[address.version][position]
            if start <= int(address) <= end:
                return indicator
        return None

    def match_domain(self, name: str) -> Indicator | None:
        labels = name.strip().rstrip(".").lower().split(".")
        for first in range(len(labels) - 1):  # the name, then each parent down to the registrable part
            found = self.exact.get(("domain", ".".join(labels[first:])))
            if found is not None:
                return found
        return None

    def match_url(self, url: str, domain: str | None = None) -> Indicator | None:
        candidates = [url]
        if domain and url.startswith("/"):
            candidates += [f"http://{domain}{url}", f"https://{domain}{url}"]
        for candidate in candidates:
            try:
                found = self.exact.get(("url", _normalise("url", candidate)))
            except ValueError:
                continue
            if found is not None:
                return found
        return None

    def match_hash(self, digest: str) -> Indicator | None:
        kind = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(digest))
        return self.exact.get((kind, digest.lower())) if kind else None

    def match_event(self, event: dict[str, Any]) -> list[tuple[str, Indicator]]:
        """(field, indicator) for every indicator an event's fields hit."""
        hits: list[tuple[str, Indicator]] = []
        for name in IP_FIELDS:
            for value in _values(event.get(name)):
                found = self.match_ip(value)
                if found is not None:
                    hits.append((name, found))
        for name in DOMAIN_FIELDS:
            for value in _values(event.get(name)):
                found = self.match_domain(value)
                if found is not None:
                    hits.append((name, found))
        for name in HASH_FIELDS:
            digest = event.get(name)
            if isinstance(digest, str) and digest:
                found = self.match_hash(digest)
                if found is not None:
                    hits.append((name, found))
        url = event.get("url.original")
        if isinstance(url, str) and url:
            domain = event.get("url.domain")
            found = self.match_url(url, domain if isinstance(domain, str) else None)
            if found is not None:
                hits.append(("url.original", found))
        return hits

    def alerts_for(self, hits: list[tuple[str, Indicator]], event: dict[str, Any], timestamp: str, event_id: str) -> list[Alert]:
        """``hits`` (from ``match_event``) as alerts on ``event``."""
        alerts = []
        for name, indicator in hits:
            rule_id = f"ioc:{indicator.kind}:{indicator.value}"
            alerts.append(Alert(
                id=alert_id(rule_id, (event_id, name)),
                rule_id=rule_id,
                rule_title=f"威胁情报命中 Indicator match: {indicator.kind} {indicator.value}",
                level=indicator.level,
                tags=("ioc", f"ioc.{indicator.kind}", *indicator.tags),
                timestamp=timestamp,
                event_ids=(event_id,),
                unit_id=event.get("organization.id") if isinstance(event.get("organization.id"), str) else None,
                matches={name: event.get(name), "indicator": indicator.value, "source": indicator.source,
                         **({"description": indicator.description} if indicator.description else {})},
                summary=summarize(event),
            ))
        return alerts


def _values(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item]
    return []


def _stix_kind(object_type: str, hash_name: str) -> str:
    if object_type == "file":
        name = KIND_ALIASES.get(hash_name.lower(), hash_name.lower())
        if name not in HASH_LENGTHS:
            raise ValueError(f"file hash {hash_name!r} is not supported (MD5, SHA-1, SHA-256 are)")
        return name
    if object_type in ("ipv4-addr", "ipv6-addr"):
        return "cidr"  # a STIX address value may carry a prefix
    return KIND_ALIASES.get(object_type, object_type)


def _normalise(kind: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("empty value")
    if kind == "ip":
        return str(ipaddress.ip_address(value))
    if kind == "cidr":
        return str(ipaddress.ip_network(value, strict=False))
    if kind == "domain":
        name = value.rstrip(".").lower()
        if name.startswith("*."):
            name = name[2:]
        if not re.fullmatch(r"[a-z0-9_\-]+(\.[a-z0-9_\-]+)+|xn--[a-z0-9\-.]+", name):
            raise ValueError(f"{value!r} is not a domain name")
        return name
    if kind == "url":
        parts = urlsplit(value if "://" in value else f"http://{value}")
        if not parts.hostname:
            raise ValueError(f"{value!r} is not a URL")
        port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.hostname.lower()}{port}{parts.path or '/'}{query}"
    length = HASH_LENGTHS[kind]
    digest = value.lower()
    if len(digest) != length or not re.fullmatch(r"[0-9a-f]+", digest):
        raise ValueError(f"{value!r} is not a {kind} digest ({length} hex digits)")
    return digest
