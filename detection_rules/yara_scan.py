"""YARA (libyara through yara-python): rule sets compiled once, content scanned with limits.

``YaraScanner.load(paths)`` compiles every ``.yar``/``.yara`` file under ``paths`` into one
rule set, one namespace per file (its path relative to the folder it was found under), so two
sources may define rules of the same name. A file that does not compile is reported with
libyara's message and left out; the others load. ``index.yar`` files that only ``include``
others are compiled as their own source (``include`` resolved relative to them).

Scanning takes bytes — an HTTP body a sensor carved (``http.request.body.content`` /
``http.response.body.content``, base64), a file a sensor cut out of a multipart upload
(``file.content`` of an ``edusoc.files`` event, scanned as a file of its own name so size- and
offset-anchored rules work; its raw multipart body is then not scanned again), or a file
uploaded through the API —
with a per-scan timeout and a size limit (only the first ``max_bytes`` are scanned, and the hit
says so). A hit becomes an ``Alert`` with the rule, its tags and the matched strings.
``reload()`` recompiles from the same paths and swaps the rule set in one assignment; if the
new set does not compile at all the old one stays.

Signature-base rules use the external variables ``filename``, ``filepath``, ``extension``,
``filetype`` and ``owner``; they are declared empty and set per scan from what is known.
"""
from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yara

from detection_rules.alerts import Alert, alert_id, summarize

YARA_SUFFIXES = (".yar", ".yara")
BUNDLED_YARA = Path(__file__).resolve().parent / "yara"  # the YARA pack shipped with edusoc
DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_STRINGS_PER_ALERT = 20
MAX_STRING_BYTES = 64
EXTERNALS = {"filename": "", "filepath": "", "extension": "", "filetype": "", "owner": ""}
BODY_FIELDS = ("http.request.body.content", "http.response.body.content")
FILE_FIELD = "file.content"  # a multipart part cut out by the sensor (edusoc.files)


@dataclass(frozen=True)
class YaraError:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class YaraHit:
    namespace: str
    rule: str
    tags: tuple[str, ...]
    meta: dict[str, object]
    strings: tuple[dict[str, object], ...]
    truncated: bool  # the content was longer than max_bytes; only its head was scanned

    @property
    def rule_id(self) -> str:
        return f"yara:{self.namespace}:{self.rule}"


@dataclass
class ScanStats:
    scans: int = 0
    hits: int = 0
    timeouts: int = 0
    truncated: int = 0
    bad_content: int = 0  # body fields that were not valid base64
    errors: list[str] = field(default_factory=list)


class YaraScanner:
    """A compiled YARA rule set with scan limits; safe to reload while scanning from other threads."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        level: str = "high",
    ) -> None:
        self.paths = [Path(path) for path in paths]
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes
        self.level = level
        self.errors: list[YaraError] = []
        self.namespaces: list[str] = []
        self.stats = ScanStats()
        self._rules: yara.Rules | None = None
        self._lock = threading.Lock()
        self.reload()

    @classmethod
    def load(cls, paths: Sequence[Path], **limits: Any) -> YaraScanner:
        return cls(paths, **limits)

    @property
    def rule_count(self) -> int:
        return sum(1 for _ in self._rules) if self._rules is not None else 0

    def reload(self) -> list[YaraError]:
        """Recompile from ``paths``; returns the files that were left out (and keeps the old set if none compiled)."""
        sources, errors = _sources(self.paths)
        good: dict[str, str] = {}
        for namespace, path in sources.items():
            try:
                yara.compile(filepath=str(path), externals=EXTERNALS)
            except yara.SyntaxError as error:
                errors.append(YaraError(path, f"does not compile: {error}"))
                continue
            good[namespace] = str(path)
        if good:
            rules = yara.compile(filepaths=good, externals=EXTERNALS)
            with self._lock:
                self._rules = rules
                self.namespaces = sorted(good)
        elif self._rules is None:
            errors.append(YaraError(Path(",".join(map(str, self.paths))), "no YARA rule file compiled"))
        self.errors = errors
        return errors

    def scan(self, data: bytes, *, filename: str = "", filepath: str = "") -> list[YaraHit]:
        """Hits of the rule set on ``data`` (its first ``max_bytes``); a timeout yields no hit and is counted."""
        rules = self._rules
        if rules is None:
            return []
        truncated = len(data) > self.max_bytes
        if truncated:
            data = data[: self.max_bytes]
            self.stats.truncated += 1
        name = PurePosixPath(filename or filepath).name
        externals = {
            "filename": name,
            "filepath": filepath or name,
            "extension": PurePosixPath(name).suffix.lower(),
        }
        self.stats.scans += 1
        try:
            matches = rules.match(data=data, timeout=self.timeout_seconds, externals=externals)
        except yara.TimeoutError:
            self.stats.timeouts += 1
            return []
        except yara.Error as error:
            self.stats.errors.append(str(error))
            del self.stats.errors[:-20]
            return []
        hits = [_hit(match, truncated) for match in matches]
        self.stats.hits += len(hits)
        return hits

    def scan_file(self, path: Path) -> list[YaraHit]:
        with path.open("rb") as handle:
            data = handle.read(self.max_bytes + 1)
        return self.scan(data, filename=path.name, filepath=str(path))

    def scan_event(self, event: dict[str, Any]) -> list[Alert]:
        """Alerts for the carved HTTP bodies of ``event`` (base64 in the body fields)."""
        alerts: list[Alert] = []
        path = event.get("url.path")
        filepath = path if isinstance(path, str) else ""
        files = event.get("http.request.body.files")
        for name in (*BODY_FIELDS, FILE_FIELD):
            if name == BODY_FIELDS[0] and isinstance(files, int) and files > 0:
                continue  # its files are scanned one by one in their edusoc.files events
            encoded = event.get(name)
            if not isinstance(encoded, str) or not encoded:
                continue
            try:
                body = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                self.stats.bad_content += 1
                continue
            filename = event.get("file.name") if name == FILE_FIELD else None
            for hit in self.scan(body, filename=filename if isinstance(filename, str) else "", filepath=filepath):
                alerts.append(self.alert(hit, event, source=name))
        return alerts

    def alert(self, hit: YaraHit, event: dict[str, Any] | None, *, source: str, subject_id: str | None = None) -> Alert:
        """``hit`` as an Alert on ``event`` (or on an uploaded file: ``subject_id`` names it)."""
        event = event or {}
        event_id = event.get("event.id") if isinstance(event.get("event.id"), str) else (subject_id or "upload")
        description = hit.meta.get("description")
        matches: dict[str, object] = {
            "yara_rule": hit.rule,
            "namespace": hit.namespace,
            "scanned": source,
            "strings": list(hit.strings),
        }
        if hit.truncated:
            matches["truncated_to_bytes"] = self.max_bytes
        if description:
            matches["description"] = description
        return Alert(
            id=alert_id(hit.rule_id, (str(event_id), source)),
            rule_id=hit.rule_id,
            rule_title=f"YARA {hit.rule}",
            level=_level(hit.meta, self.level),
            tags=tuple(f"yara.{tag.lower()}" for tag in hit.tags),
            timestamp=str(event.get("@timestamp") or ""),
            event_ids=(str(event_id),),
            unit_id=event.get("organization.id") if isinstance(event.get("organization.id"), str) else None,
            matches=matches,
            summary=summarize(event),
        )


def _sources(paths: Sequence[Path]) -> tuple[dict[str, Path], list[YaraError]]:
    sources: dict[str, Path] = {}
    errors: list[YaraError] = []
    for root in paths:
        if root.is_file():
            sources.setdefault(root.stem, root)
        elif root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.suffix in YARA_SUFFIXES and p.is_file()):
                namespace = str(path.relative_to(root).with_suffix(""))
                sources.setdefault(namespace, path)
        else:
            errors.append(YaraError(root, "no such file or directory"))
    return sources, errors


def _hit(match: Any, truncated: bool) -> YaraHit:
    strings: list[dict[str, object]] = []
    for string in match.strings:
        for instance in string.instances:
            if len(strings) >= MAX_STRINGS_PER_ALERT:
                break
            data = bytes(instance.matched_data[:MAX_STRING_BYTES])
            strings.append({
                "identifier": string.identifier,
                "offset": instance.offset,
                "data": data.decode("utf-8", errors="backslashreplace"),
            })
    return YaraHit(match.namespace, match.rule, tuple(match.tags), dict(match.meta), tuple(strings), truncated)


def _level(meta: dict[str, object], default: str) -> str:
    score = meta.get("score")
    if isinstance(score, int):  # signature-base: 0..100
        return "critical" if score >= 85 else "high" if score >= 70 else "medium" if score >= 50 else "low"
    return default
