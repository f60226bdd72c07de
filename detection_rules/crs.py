"""OWASP Core Rule Set through ModSecurity v3 (the ``libmodsecurity`` bindings), detection only.

Pure: rules from disk in, alerts out; no network, no database. ``CrsEngine(rules_dir)`` loads the
CRS request rules (``REQUEST-*.conf`` of the directory, the GeoIP-only REQUEST-910 left out)
behind a small setup of its own (engine in DetectionOnly, request bodies inspected, paranoia level
and inbound anomaly threshold from the settings), plus edusoc's supplement in the CRS's own form
(``crs_supplement/``: Log4Shell, Spring4Shell and Fastjson autoType, which CRS 3.3.4 predates, scanner and
exploit-kit probe paths, and 941310 left
out, which reads the UTF-8 bytes of Chinese text as US-ASCII-encoded XSS). Request
bodies are parsed as forms, multipart and JSON; any other body (XML included: libxml2 would print every
parse error of hostile input to stderr) is inspected as raw REQUEST_BODY. Each HTTP request an event describes — from
packets the method, target, Host, User-Agent, Referer, Cookie, Content-Type and the carved body;
from an access-log line the target, User-Agent and Referer — is replayed into one ModSecurity
transaction. A request whose anomaly score reaches the threshold becomes one ``Alert``: the CRS
family that scored most names the rule (``crs:sqli``, ``crs:xss``, ...) so repeated attacks of one
kind from one address fold into one incident, and the alert carries every contributing CRS rule
(id, message, matched data, severity), the total score, the CRS tags mapped to ATT&CK and the
national incident category.

Requests that cannot match are skipped before ModSecurity sees them (``skip_static``): a GET or
HEAD of a static asset (by extension) whose path, query (plain ``name=token`` pairs at most),
Host, User-Agent and Referer hold only characters no CRS attack rule at paranoia level 1-2 keys
on, with no body and no cookie, and no scanner name from the CRS's own lists anywhere in them.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detection_rules.alerts import Alert, alert_id, summarize

DEFAULT_RULES_DIR = Path("/usr/share/modsecurity-crs/rules")
# edusoc's own rules in the CRS's form (Log4Shell, Spring4Shell, Fastjson), loaded between REQUEST-944 and -949
SUPPLEMENT_DIR = Path(__file__).resolve().parent / "crs_supplement"
SUPPLEMENT_FAMILY = {99150: 944, 99151: 944, 99152: 944, 99160: 913}
LEFT_OUT = ("REQUEST-910-",)  # IP reputation: needs a GeoIP database and says nothing about the request itself
BLOCKING_EVALUATION = 949110  # "Inbound Anomaly Score Exceeded (Total Score: N)"
NOT_CONTRIBUTING = frozenset({949110, 949111, 980130, 980140})
# CRS severities (syslog numbers) and the anomaly points CRS 3.3 gives them
POINTS_BY_SEVERITY = {2: 5, 3: 4, 4: 3, 5: 2}
SEVERITY_NAMES = {0: "EMERGENCY", 1: "ALERT", 2: "CRITICAL", 3: "ERROR", 4: "WARNING", 5: "NOTICE", 6: "INFO", 7: "DEBUG"}
MAX_MATCHED_CHARS = 200
MAX_BODY_BYTES = 1024 * 1024
NATIONAL_CATEGORY = ("network_attack", "网络攻击事件")  # DOMAIN.md §1.1: attacks on a web application


@dataclass(frozen=True)
class Family:
    """What one CRS rule file (by its id hundred) detects, in the words an alert shows."""

    key: str
    title: str
    title_zh: str
    level: str
    attack_tags: tuple[str, ...]


_EXPLOIT = ("attack.initial-access", "attack.t1190")
FAMILIES: dict[int, Family] = {
    911: Family("method", "HTTP method not allowed", "不允许的 HTTP 请求方法", "medium", _EXPLOIT),
    912: Family("dos", "Application-level denial of service", "应用层拒绝服务攻击", "medium", ("attack.impact", "attack.t1499")),
    913: Family("scanner", "Vulnerability scanner", "漏洞扫描器探测", "medium", ("attack.reconnaissance", "attack.t1595.002")),
    920: Family("protocol", "HTTP protocol violation", "HTTP 协议违规请求", "medium", _EXPLOIT),
    921: Family("protocol-attack", "HTTP request smuggling or splitting", "HTTP 请求走私或响应拆分攻击", "high", _EXPLOIT),
    922: Family("multipart", "Multipart request attack", "Multipart 请求攻击", "high", _EXPLOIT),
    930: Family("lfi", "Local file inclusion / path traversal", "本地文件包含或目录遍历攻击", "high",
                _EXPLOIT + ("attack.discovery", "attack.t1083")),
    931: Family("rfi", "Remote file inclusion", "远程文件包含攻击", "high", _EXPLOIT + ("attack.resource-development", "attack.t1608")),
    932: Family("rce", "Remote command execution", "远程命令执行攻击", "high", _EXPLOIT + ("attack.execution", "attack.t1059")),
    933: Family("php", "PHP injection", "PHP 代码注入攻击", "high", _EXPLOIT + ("attack.execution", "attack.t1059")),
    934: Family("nodejs", "Node.js injection", "Node.js 代码注入攻击", "high", _EXPLOIT + ("attack.execution", "attack.t1059.007")),
    941: Family("xss", "Cross-site scripting", "跨站脚本（XSS）攻击", "high", ("attack.initial-access", "attack.t1189", "attack.t1190")),
    942: Family("sqli", "SQL injection", "SQL 注入攻击", "high", _EXPLOIT),
    943: Family("session-fixation", "Session fixation", "会话固定攻击", "high", _EXPLOIT + ("attack.credential-access", "attack.t1539")),
    944: Family("java", "Java injection (deserialization, Log4Shell, Spring)", "Java 注入攻击（反序列化、Log4Shell、Spring）", "high",
                _EXPLOIT + ("attack.execution", "attack.t1059")),
}
SUPPORTING = frozenset({"scanner", "protocol", "method"})  # what a tool or a malformed request shows, not the attack itself
OTHER = Family("generic", "Web application attack", "Web 应用攻击", "high", _EXPLOIT)

# The alert rules the CRS raises, one per family: what the rules API lists and units can switch off.
FAMILY_RULES: dict[str, Family] = {f"crs:{family.key}": family for family in [*FAMILIES.values(), OTHER]}

STATIC_SUFFIXES = frozenset(
    ".css .js .mjs .map .png .jpg .jpeg .gif .ico .svg .webp .bmp .avif .woff .woff2 .ttf .otf .eot .mp4 .webm .mp3 "
    ".ogg .wav .m4a .flv .swf .pdf .txt".split()
)
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_.\-/]*")  # no '%', no quotes, brackets or separators any rule keys on
_SAFE_QUERY = re.compile(r"[A-Za-z0-9_\-]{1,32}=[A-Za-z0-9_\-]{0,64}(?:&[A-Za-z0-9_\-]{1,32}=[A-Za-z0-9_\-]{0,64}){0,7}")
_SAFE_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?")
_SAFE_AGENT = re.compile(r"[A-Za-z0-9 ()/;:,._+\-]{1,512}")
_SAFE_REFERER = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9_.\-/]*)?(?:\?[A-Za-z0-9_\-=&.]*)?")
_SCANNER_LISTS = ("scanners-user-agents.data", "scanners-headers.data", "scanners-urls.data")


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as ModSecurity is fed it."""

    method: str
    target: str  # path and query as sent
    version: str = "1.1"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client: tuple[str, int] = ("0.0.0.0", 0)
    server: tuple[str, int] = ("0.0.0.0", 80)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class CrsHit:
    """One CRS rule that matched."""

    rule_id: int
    message: str
    matched: str
    severity: int
    tags: tuple[str, ...]

    @property
    def points(self) -> int:
        return POINTS_BY_SEVERITY.get(self.severity, 0)

    @property
    def family(self) -> Family:
        return FAMILIES.get(SUPPLEMENT_FAMILY.get(self.rule_id, self.rule_id // 1000), OTHER)


@dataclass(frozen=True)
class CrsVerdict:
    score: int
    hits: tuple[CrsHit, ...]  # the contributing rules, in the order they fired
    threshold: int

    @property
    def crossed(self) -> bool:
        return self.score >= self.threshold and bool(self.hits)

    @property
    def family(self) -> Family:
        """The family whose rules scored most; an attack family before scanner and protocol findings, then the first to fire."""
        points: dict[str, int] = {}
        by_key: dict[str, Family] = {}
        for hit in self.hits:
            family = hit.family
            points[family.key] = points.get(family.key, 0) + hit.points
            by_key.setdefault(family.key, family)
        if not points:
            return OTHER
        order = list(points)
        best = max(order, key=lambda key: (points[key], key not in SUPPORTING, -order.index(key)))
        return by_key[best]


@dataclass
class CrsStats:
    inspected: int = 0
    skipped: int = 0
    crossed: int = 0
    bad_body: int = 0  # body fields that were not valid base64
    errors: int = 0  # requests the engine could not take (the event is kept; the last reason is below)
    last_error: str = ""


class CrsError(RuntimeError):
    """The CRS could not be loaded at all (the message says which file and why)."""


class CrsEngine:
    """The CRS request rules loaded into one ModSecurity engine; ``inspect`` one request at a time per thread."""

    def __init__(
        self,
        rules_dir: Path = DEFAULT_RULES_DIR,
        *,
        paranoia_level: int = 1,
        anomaly_threshold: int = 5,
        skip_static: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
        supplement: bool = True,
    ) -> None:
        from libmodsecurity import ModSecurity, RulesSet  # the wheel carries its own libmodsecurity

        if not 1 <= paranoia_level <= 4:
            raise ValueError(f"paranoia_level must be 1..4, got {paranoia_level}")
        if anomaly_threshold < 1:
            raise ValueError(f"anomaly_threshold must be at least 1, got {anomaly_threshold}")
        self.rules_dir = Path(rules_dir)
        self.paranoia_level = paranoia_level
        self.anomaly_threshold = anomaly_threshold
        self.skip_static = skip_static
        self.max_body_bytes = max_body_bytes
        self.stats = CrsStats()
        self._modsec = ModSecurity()
        self._modsec.set_connector_information("edusoc detection_rules.crs")
        self._modsec.set_rule_message_callback(_ignore)  # hits are read per transaction; nothing goes to a server log
        self.engine_version = self._modsec.who_am_i()
        files = crs_rule_files(self.rules_dir)
        self.version = _crs_version(files)
        extra = sorted(SUPPLEMENT_DIR.glob("*.conf")) if supplement else []
        files = sorted(files + extra, key=lambda path: path.name)  # the supplement sorts before REQUEST-949
        self._rules = RulesSet()
        if self._rules.load(_setup(paranoia_level, anomaly_threshold, max_body_bytes)) < 0:
            raise CrsError(f"edusoc's CRS setup does not parse: {self._rules.get_parser_error()}")
        self.files = files
        self.rule_count = self.supplement_rule_count = 0
        for path in files:
            loaded = self._rules.load_from_uri(str(path))
            if loaded < 0:
                raise CrsError(f"{path}: {self._rules.get_parser_error().strip()}")
            if path in extra:
                self.supplement_rule_count += loaded
            else:
                self.rule_count += loaded
        self._scanner_names = _scanner_pattern(self.rules_dir)

    def describe(self) -> dict[str, object]:
        return {"version": self.version, "rules": self.rule_count, "supplement_rules": self.supplement_rule_count,
                "files": len(self.files), "engine": self.engine_version,
                "paranoia_level": self.paranoia_level, "anomaly_threshold": self.anomaly_threshold,
                "skip_static": self.skip_static}

    def can_skip(self, request: HttpRequest) -> bool:
        """True when no CRS rule can match ``request`` (see the module docstring); decided without ModSecurity."""
        if request.method not in ("GET", "HEAD") or request.body:
            return False
        path, _, query = request.target.partition("?")
        dot = path.rfind(".")
        if dot < 0 or path[dot:].lower() not in STATIC_SUFFIXES or "/." in path or "//" in path:
            return False
        if not _SAFE_PATH.fullmatch(path) or (query and not _SAFE_QUERY.fullmatch(query)):
            return False
        patterns = {"host": _SAFE_HOST, "user-agent": _SAFE_AGENT, "referer": _SAFE_REFERER}
        texts = [request.target]
        for name, value in request.headers:
            pattern = patterns.get(name.lower())
            if pattern is None or not pattern.fullmatch(value):
                return False  # a cookie, a content type or any header not vetted here goes to the CRS
            texts.append(value)
        return self._scanner_names is None or not self._scanner_names.search("\n".join(texts).lower())

    def inspect(self, request: HttpRequest) -> CrsVerdict | None:
        """The CRS verdict on ``request``; None when it was skipped as unable to match."""
        if self.skip_static and self.can_skip(request):
            self.stats.skipped += 1
            return None
        from libmodsecurity import Transaction

        self.stats.inspected += 1
        transaction = Transaction(self._modsec, self._rules)
        transaction.process_connection(request.client[0], request.client[1], request.server[0], request.server[1])
        transaction.process_uri(request.target, request.method, request.version)
        for name, value in request.headers:
            transaction.add_request_header(name, value)
        transaction.process_request_headers()
        if request.body:
            transaction.append_request_body(request.body[: self.max_body_bytes])
        transaction.process_request_body()
        messages = transaction.get_rule_messages()
        hits: list[CrsHit] = []
        total: int | None = None
        for message in messages:
            if message.rule_id == BLOCKING_EVALUATION:
                total = _total_score(_field(message, "message"))
            if message.rule_id in NOT_CONTRIBUTING or message.severity not in POINTS_BY_SEVERITY:
                continue
            tags = _field(message, "tags")
            hits.append(CrsHit(message.rule_id, _field(message, "message"),
                               _matched(_field(message, "data") or _field(message, "match")),
                               message.severity, tuple(tags) if isinstance(tags, list) else ()))
        score = total if total is not None else sum(hit.points for hit in hits)
        verdict = CrsVerdict(score, tuple(hits), self.anomaly_threshold)
        if verdict.crossed:
            self.stats.crossed += 1
        return verdict

    def scan_event(self, event: Mapping[str, Any]) -> list[Alert]:
        """One alert when the HTTP request ``event`` describes crosses the anomaly threshold, else none."""
        request = request_from_event(event, self.stats)
        if request is None:
            return []
        try:
            verdict = self.inspect(request)
        except (UnicodeError, ValueError, RuntimeError) as error:  # one odd request must not stop detection
            self.stats.errors += 1
            self.stats.last_error = f"{type(error).__name__}: {error}"[:300]
            return []
        if verdict is None or not verdict.crossed:
            return []
        return [self.alert(verdict, event)]

    def alert(self, verdict: CrsVerdict, event: Mapping[str, Any]) -> Alert:
        family = verdict.family
        event_id = str(event.get("event.id") or "")
        rule_id = f"crs:{family.key}"
        crs_tags = sorted({tag for hit in verdict.hits for tag in hit.tags if tag.startswith("attack-")})
        tags = tuple(dict.fromkeys(
            [tag for hit in verdict.hits for tag in hit.family.attack_tags] + [f"crs.{tag}" for tag in crs_tags]
        ))
        matches: dict[str, object] = {
            "anomaly_score": verdict.score,
            "threshold": verdict.threshold,
            "paranoia_level": self.paranoia_level,
            "crs_rule_ids": [hit.rule_id for hit in verdict.hits],
            "crs_rules": [
                {"id": hit.rule_id, "message": hit.message, "matched": hit.matched,
                 "severity": SEVERITY_NAMES.get(hit.severity, str(hit.severity)), "points": hit.points}
                for hit in verdict.hits
            ],
            "crs_version": self.version,
            "national_category": NATIONAL_CATEGORY[0],
            "national_category_zh": NATIONAL_CATEGORY[1],
        }
        unit = event.get("organization.id")
        return Alert(
            id=alert_id(rule_id, (event_id, "crs")),
            rule_id=rule_id,
            rule_title=f"OWASP CRS: {family.title}",
            rule_title_zh=f"{family.title_zh}（OWASP CRS）",
            level=family.level,
            tags=tags,
            timestamp=str(event.get("@timestamp") or ""),
            event_ids=(event_id,),
            unit_id=unit if isinstance(unit, str) else None,
            matches=matches,
            summary=summarize(dict(event)),
        )


def _ignore(message: object) -> None:
    return None


def crs_rule_files(rules_dir: Path) -> list[Path]:
    """The CRS request rule files of ``rules_dir`` in load order, REQUEST-910 left out."""
    if not rules_dir.is_dir():
        raise CrsError(f"{rules_dir}: no CRS rules directory (install Debian's modsecurity-crs, or set detection.crs.rules_dir)")
    files = sorted(path for path in rules_dir.glob("REQUEST-*.conf") if not path.name.startswith(LEFT_OUT))
    if not files:
        raise CrsError(f"{rules_dir}: no REQUEST-*.conf rule files in it")
    return files


def request_from_event(event: Mapping[str, Any], stats: CrsStats | None = None) -> HttpRequest | None:
    """The HTTP request an ``edusoc.http`` (packets) or ``edusoc.web`` (access log) event describes; None for others."""
    method = event.get("http.request.method")
    target = event.get("url.original")
    if not isinstance(method, str) or not isinstance(target, str) or not method or not target:
        return None
    headers: list[tuple[str, str]] = []
    host = event.get("url.domain")
    if isinstance(host, str) and host:
        headers.append(("Host", host))
    elif event.get("event.dataset") == "edusoc.web":
        # An access log does not record the Host header; the client sent one, so the protocol rules
        # must not count its absence against the request.
        headers.append(("Host", "access-log.invalid"))
    for field_name, header in (("user_agent.original", "User-Agent"), ("http.request.referrer", "Referer"),
                               ("http.request.cookie", "Cookie")):
        value = event.get(field_name)
        if isinstance(value, str) and value:
            headers.append((header, value))
    body = _body(event, stats)
    if body:
        content_type = event.get("http.request.mime_type")
        headers.append(("Content-Type", content_type if isinstance(content_type, str) and content_type else _sniff(body)))
        headers.append(("Content-Length", str(len(body))))
    version = event.get("http.version")
    return HttpRequest(
        method=method, target=target, version=version if isinstance(version, str) and version else "1.1",
        headers=tuple(headers), body=body,
        client=(_text(event.get("source.ip"), "0.0.0.0"), _port(event.get("source.port"))),
        server=(_text(event.get("destination.ip"), "0.0.0.0"), _port(event.get("destination.port"), 80)),
    )


def _body(event: Mapping[str, Any], stats: CrsStats | None) -> bytes:
    encoded = event.get("http.request.body.content")
    if not isinstance(encoded, str) or not encoded:
        return b""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        if stats is not None:
            stats.bad_body += 1
        return b""


def _sniff(body: bytes) -> str:
    """A Content-Type for a carved body whose header the event did not keep."""
    head = body[:256].lstrip()
    if head.startswith(b"--"):
        boundary = head[2:].split(b"\r\n", 1)[0].split(b"\n", 1)[0].strip()
        if boundary:
            return f"multipart/form-data; boundary={boundary.decode('latin-1')}"
    if head[:1] in (b"{", b"["):
        return "application/json"
    if head.startswith(b"<"):
        return "text/xml"
    return "application/x-www-form-urlencoded"


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _port(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and 0 <= value <= 65535 else default


def _field(message: Any, name: str) -> Any:
    """A RuleMessage attribute; the bindings decode text strictly as UTF-8, and matched request bytes need not be."""
    try:
        return getattr(message, name)
    except UnicodeDecodeError as error:
        raw = error.object if isinstance(error.object, bytes) else b""
        return raw.decode("utf-8", errors="replace") if name != "tags" else []


def _matched(text: str) -> str:
    return text if len(text) <= MAX_MATCHED_CHARS else text[: MAX_MATCHED_CHARS - 1] + "…"


_SCORE = re.compile(r"Total Score: (\d+)")


def _total_score(message: str) -> int | None:
    found = _SCORE.search(message)
    return int(found.group(1)) if found else None


def _crs_version(files: Iterable[Path]) -> str:
    for path in files:
        if path.name.startswith("REQUEST-901"):
            found = re.search(r"ver:'OWASP_CRS/([0-9.]+)'", path.read_text(encoding="utf-8", errors="replace"))
            if found:
                return f"OWASP CRS {found.group(1)}"
    return "OWASP CRS (version unknown)"


def _scanner_pattern(rules_dir: Path) -> re.Pattern[str] | None:
    names: list[str] = []
    for name in _SCANNER_LISTS:
        path = rules_dir / name
        if not path.is_file():
            return None  # without the lists nothing is known to be scanner-free: skip nothing on that ground
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip().lower()
            if line and not line.startswith("#"):
                names.append(re.escape(line))
    return re.compile("|".join(sorted(set(names), key=len, reverse=True))) if names else None


def _setup(paranoia_level: int, anomaly_threshold: int, max_body_bytes: int) -> str:
    """What crs-setup.conf and modsecurity.conf would say, for detection only (ids in the 9xx000 setup range)."""
    return f"""
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRequestBodyLimit {max_body_bytes}
SecRequestBodyNoFilesLimit {max_body_bytes}
SecRequestBodyLimitAction ProcessPartial
SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "!@rx ^(?:application/x-www-form-urlencoded|multipart/form-data)" "id:200002,phase:1,t:none,t:lowercase,pass,nolog,ctl:forceRequestBodyVariable=On"
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={paranoia_level}"
SecAction "id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold={anomaly_threshold},setvar:tx.outbound_anomaly_score_threshold=4"
SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"
"""
