"""Settings: one YAML file plus EDUSOC_* environment overrides, with safe defaults.

Precedence (highest first): environment (``EDUSOC_API__PORT=8001``; nested keys joined
by ``__``), the YAML file (``--config FILE``, else ``$EDUSOC_CONFIG``, else none), defaults.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from soc_core.errors import EdusocError

Grade = Literal["I", "II", "III", "IV"]


class _Section(BaseModel):
    # A misspelt key is an error, never a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    # A login (bearer token or UI session) lasts this long; duty shifts are 8-12 h.
    session_hours: float = 12.0
    # Set true behind HTTPS so the UI session cookie is never sent in clear.
    cookie_secure: bool = False


class AuthSettings(_Section):
    """Login and sessions. Defaults follow GB/T 22239-2019 level 3 (等保三级) §8.1.4.1 身份鉴别: login failure
    handling (limit attempts, lock), idle sessions end, two factors of which one cryptographic (DOMAIN.md §2)."""

    # Every user logs in with password + TOTP (RFC 6238). The demo exempts its own demo accounts and says so.
    require_mfa: bool = True
    # Lockout: this many failed logins within the window lock the account (and, at the address limit, the
    # source address) for lockout_minutes. [I] 5 / 15 min, OWASP Authentication Cheat Sheet's usual figures.
    max_failures: int = Field(default=5, ge=1)
    address_max_failures: int = Field(default=20, ge=1)  # higher: a school's users share one NAT address
    failure_window_minutes: float = Field(default=15.0, gt=0)
    lockout_minutes: float = Field(default=15.0, gt=0)
    # A session (bearer token or UI cookie) unused this long ends (登录连接超时自动退出); 0 = never.
    session_idle_minutes: float = Field(default=30.0, ge=0)
    # The short-lived token between the password step and the TOTP step.
    mfa_challenge_minutes: float = Field(default=5.0, gt=0)
    mfa_issuer: str = "edusoc"
    # Password policy on create, reset and change (口令复杂度): length, character classes (lower, upper,
    # digit, other), never the user name, never one of the last password_history passwords.
    password_min_length: int = Field(default=12, ge=8)
    password_min_classes: int = Field(default=3, ge=1, le=4)
    password_history: int = Field(default=5, ge=0)
    # Password hashing runs at most this many at once; a login beyond waits up to hash_wait_seconds, then 503.
    # Each Argon2id hash holds 19 MiB (OWASP's minimum: m=19 MiB, t=2, p=1), so at most 4 × 19 MiB.
    max_concurrent_hashes: int = Field(default=4, ge=1)
    hash_wait_seconds: float = Field(default=10.0, gt=0)


class AuditSettings(_Section):
    # Audit entries are kept at least six months (GB/T 22239-2019 L3 §8.1.4.3 审计记录保护; 网络安全法 art. 21):
    # 184 days covers any six calendar months. Pruning never deletes a younger entry; fewer days are refused.
    retention_days: int = Field(default=184, ge=184)


class EventStoreSettings(_Section):
    backend: Literal["sqlite", "elasticsearch"] = "sqlite"
    sqlite_path: str = "events.db"  # relative to data_dir
    # A trigram index per day over message and url.original makes free-text search fast; it costs
    # about a third of SQLite's write CPU (an eighth of the collector's); false = scan the time range instead.
    sqlite_full_text: bool = True
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_index_prefix: str = "edusoc-events"
    # An acknowledged event is durable at once (translog fsync) and searchable after the next refresh.
    elasticsearch_refresh_interval: str = "5s"
    # Network logs are kept "不少于六个月" (Cybersecurity Law art. 21, art. 23 after the 2025
    # amendment; DOMAIN.md §2.1 [S]). Six calendar months are 181-184 days, so 184 by default
    # (DOMAIN.md §2.1 [I]). Whole UTC days are deleted, the oldest first.
    retention_days: int = Field(default=184, ge=1)
    # `edusoc run` enforces retention at start and then this often; 0 = never (use `edusoc events retention`).
    retention_check_hours: float = 6.0


class IngestSettings(_Section):
    max_batch_bytes: int = 8 * 1024 * 1024  # size of one request body as sent (gzip)
    max_decompressed_bytes: int = 64 * 1024 * 1024  # guards against gzip bombs
    max_batch_events: int = 10_000
    max_event_bytes: int = 256 * 1024
    # How often the collector re-reads the asset inventory's IP ranges and hosts for enrichment; 0 = only at start.
    address_book_refresh_minutes: float = 5.0
    # While the event store is down, accepted batches wait on disk (<data_dir>/ingest-queue) up to
    # this size; beyond it the collector answers 503 + Retry-After and the sensors keep their spools.
    # 0 = no queue (503 as soon as the store fails).
    queue_max_bytes: int = 1024 * 1024 * 1024
    queue_alarm_fill: float = Field(default=0.8, gt=0, le=1)  # log an alarm and flag health from this fill
    queue_retry_after_seconds: int = 30
    queue_drain_seconds: float = 2.0  # how often the drainer retries the store
    # Health and the sensors page call the queue stuck when it holds batches and none moved to the
    # store for this long.
    queue_stuck_seconds: float = Field(default=300.0, gt=0)
    # Events the store refuses for their content wait in <data_dir>/ingest-quarantine for an
    # operator (`edusoc ingest quarantine`), at most this many; past it they are only reported to
    # the sending sensor as rejected.
    quarantine_max_events: int = Field(default=100_000, ge=0)


class CrsSettings(_Section):
    """OWASP CRS through ModSecurity v3 (detection only) on every HTTP request the sensors see."""

    enabled: bool = True
    # Debian's modsecurity-crs (3.3.4); REQUEST-*.conf are loaded, the GeoIP-only REQUEST-910 left out
    rules_dir: str = "/usr/share/modsecurity-crs/rules"
    # 1 = fewest false positives; 2-4 add stricter rules (more alerts on ordinary traffic)
    paranoia_level: int = Field(default=1, ge=1, le=4)
    # a request whose anomaly score (CRITICAL 5, ERROR 4, WARNING 3, NOTICE 2 points per rule) reaches this raises one alert
    anomaly_threshold: int = Field(default=5, ge=1)
    # GET/HEAD of static assets with nothing any rule keys on (no body, cookie, odd characters or scanner names) skip the engine
    skip_static: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # only the head of a longer carved body is inspected
    # edusoc's rules in the CRS's form for what CRS 3.3.4 lacks (Log4Shell, Spring4Shell, Fastjson autoType)
    supplement: bool = True


class DetectionSettings(_Section):
    sigma_paths: list[str] = Field(default_factory=lambda: [str(_package_root() / "detection_rules" / "sigma")])
    # values of Sigma %placeholders% (modifier expand), e.g. {"admin_users": ["root", "admin"]}
    placeholders: dict[str, list[str]] = Field(default_factory=dict)
    # YARA rule files or folders scanned against carved HTTP bodies and uploaded files
    yara_paths: list[str] = Field(default_factory=lambda: [str(_package_root() / "detection_rules" / "yara")])
    yara_timeout_seconds: int = Field(default=10, ge=1)  # per scan
    yara_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)  # only the head of larger content is scanned
    # indicator lists: CSV (type,value[,description,tags,level]) or STIX 2 bundles (.json)
    indicator_paths: list[str] = Field(default_factory=list)
    # With the Elasticsearch event store: the Sigma rules also run as queries on the indices every
    # N minutes (0 = never), each over [last window end - overlap, now) so a late run skips nothing
    scheduled_query_minutes: int = Field(default=5, ge=0)
    scheduled_query_overlap_minutes: int = Field(default=5, ge=0)
    crs: CrsSettings = Field(default_factory=CrsSettings)


Category = Literal[
    "malware", "network_attack", "information_destruction", "content_security",
    "equipment_failure", "disaster", "other",
]
Level = Literal["informational", "low", "medium", "high", "critical"]


class GradingRule(_Section):
    """One row of the grading policy: when every given condition holds, the incident is at least ``grade``."""

    name: str
    grade: Grade
    min_level: Level = "informational"   # the alert's Sigma level at least this
    min_mlps_level: int | None = None    # the affected asset's MLPS (等级保护) level at least this
    is_cii: bool | None = None           # the affected asset is (True) / is not (False) CII
    min_units: int | None = None         # the same attack is open at this many units or more


OperatorKind = Literal["cii", "central", "other"]


# The defaults of IncidentSettings' tables, typed so each literal is checked against Grade, Category or OperatorKind.
def _default_grade_by_level() -> dict[str, Grade]:
    return {"critical": "II", "high": "III", "medium": "IV", "low": "IV", "informational": "IV"}


def _default_handle_hours_by_grade() -> dict[Grade, float]:
    return {"I": 1.0, "II": 1.0, "III": 24.0, "IV": 72.0}


def _default_category_by_tag() -> dict[str, Category]:
    return {
        "attack.t1505.003": "malware", "attack.t1486": "malware", "attack.t1204": "malware",
        "attack.t1485": "information_destruction", "attack.t1565": "information_destruction",
        "attack.t1491": "content_security",
    }


def _default_report_hours_by_operator() -> dict[OperatorKind, float]:
    return {"cii": 1.0, "central": 2.0, "other": 4.0}


class IncidentSettings(_Section):
    # Alerts of the same rule and unit within this window fold into one incident.
    group_window_minutes: int = 60
    # Sigma rule level -> national grade (特别重大 I, 重大 II, 较大 III, 一般 IV).
    # [I] design default, see DOMAIN.md §1.1: a single detection cannot by itself show
    # 特别重大 losses, so no level maps to I by default; duty staff regrade by hand.
    grade_by_level: dict[str, Grade] = Field(default_factory=_default_grade_by_level)
    # Handling deadlines in hours. I and II: "重大网络安全事件1小时内完成处置"; notice: "安全通报事件60小时内完成处置"
    # (education plans this product serves; customer SLAs, DOMAIN.md §0). III and IV: [I] configurable defaults.
    handle_hours_by_grade: dict[Grade, float] = Field(default_factory=_default_handle_hours_by_grade)
    handle_hours_notice: float = 60.0
    # Grouping key beyond rule + unit: the alert field naming the key entity (e.g. the attacker's
    # address), so one scanner is one incident and two scanners are two. "" groups by rule + unit only.
    group_entity_field: str = "source.ip"
    # Per-rule override of the entity field (rule id -> field, "" for none).
    group_entity_by_rule: dict[str, str] = Field(default_factory=dict)
    # Grading policy: the most severe of the level table above and every matching row below wins;
    # each match is written into the incident's grade basis. [I] design defaults from DOMAIN.md §1.1
    # (特别重大/重大 mean serious loss to important systems: CII and MLPS level 3+ are the important
    # ones, §2.2, §4) — tune per region.
    grading_policy: list[GradingRule] = Field(default_factory=lambda: [
        GradingRule(name="cii", is_cii=True, min_level="high", grade="II"),
        GradingRule(name="mlps3", min_mlps_level=3, min_level="high", grade="II"),
        GradingRule(name="spread10", min_units=10, min_level="medium", grade="II"),
        GradingRule(name="spread50-critical", min_units=50, min_level="critical", grade="I"),
    ])
    # National incident categories (DOMAIN.md §1.1, 国家网络安全事件应急预案): rule tag prefix -> category.
    # First matching prefix wins; otherwise network_attack. [I] mapping of ATT&CK techniques.
    category_by_tag: dict[str, Category] = Field(default_factory=_default_category_by_tag)
    # Evidence files attached to incidents: stored under <data_dir>/evidence, at most this size each.
    evidence_max_bytes: int = 20 * 1024 * 1024
    # An incident still new (unacknowledged) after this many minutes escalates to the unit above.
    # [I] duty practice default (DOMAIN.md §1.1: 7×24 duty in key periods).
    ack_minutes: float = 15.0
    # Reporting upward (国家网络安全事件报告管理办法, 2025, Art. 4; DOMAIN.md §1.2): only 较大 and above
    # must be reported; the first report is due within 1 h for CII operators, 2 h for central units and
    # their directly affiliated units, 4 h for all others; the final report within 30 days after closure (Art. 8).
    report_min_grade: Grade = "III"
    report_hours_by_operator: dict[OperatorKind, float] = Field(default_factory=_default_report_hours_by_operator)
    final_report_days: int = 30
    # TrueType/TTC font with Chinese glyphs for PDF reports; empty: the first of the known system fonts.
    report_font: str = ""


    def report_hours(self, operator_type: str) -> float:
        """Hours to the first report for an incident's stored operator type (cii, central or other)."""
        by_operator: dict[str, float] = {str(kind): hours for kind, hours in self.report_hours_by_operator.items()}
        return by_operator[operator_type]

class ComplianceSettings(_Section):
    """Inventory checks (MLPS, app filing, discovery, coverage) and the regulators' compliance figures."""

    # Run the checks (and take a compliance snapshot) this often while `edusoc run` is up; 0 = never.
    check_interval_minutes: float = 60.0
    # A level >= 2 system is filed within 30 days of grading: 《信息安全等级保护管理办法》 Art. 15 [S]
    # (DOMAIN.md §2.3; 公网安〔2020〕1960号 may have tightened it to 10 working days [R], set 14 if so).
    filing_days_after_grading: int = 30
    # Days between assessments per level: L3 yearly, L4 half-yearly (管理办法 Art. 14 [S], DOMAIN.md §2.4);
    # L2 every 2 years is practice, not statute ([P], DOMAIN.md §2.4) — a policy setting. L5: special, unset.
    assessment_interval_days: dict[int, int] = Field(default_factory=lambda: {2: 730, 3: 365, 4: 182})
    # A unit is monitored when one of its sensors sent a heartbeat within this window ([I]).
    heartbeat_window_minutes: float = 60.0
    # How often sensors send a heartbeat (their `collector.heartbeat_seconds`): a sensor is 在线 online
    # while its last one is at most two intervals old, 延迟 stale after that until the window closes, then 离线 offline.
    sensor_heartbeat_seconds: float = Field(default=60.0, gt=0)
    # How far back the traffic-based checks (app use, discovery) read events.
    traffic_lookback_hours: float = 24.0
    # Domain suffixes that count as a unit's own for 双非 (非本单位IP、非本单位域名, DOMAIN.md §5) ([I]).
    official_domain_suffixes: list[str] = Field(default_factory=lambda: ["edu.cn"])
    # A responder address/port seen in at most this many flows is not reported as a discovered service
    # (a port scan's probes of closed ports answer REJ and never count).
    discovery_min_flows: int = 1


class NoticeSettings(_Section):
    """Notices (通报 → 整改 → 复核), DOMAIN.md §7: reminders before the rectification is due, escalation when overdue."""

    # Remind the receiving unit this many hours before the due time (0 = at the due time) while it has not
    # sent its rectification. [P] issuers chase units ahead of the 反馈期限 (DOMAIN.md §7); [I] 24 h and at due.
    remind_hours_before: list[float] = Field(default_factory=lambda: [24.0, 0.0])
    # Channel (actions.channels) reminders and overdue escalations are sent to; empty: none (history only).
    channel: str = "duty"
    # Unit code -> channel, for units with their own robot or mailbox (reminders go to the receiving unit's,
    # escalations to the supervising unit's); others use ``channel``.
    channel_by_unit: dict[str, str] = Field(default_factory=dict)
    # "Overdue or repeated cases escalate to 约谈 of the unit head" ([P], DOMAIN.md §7; 网络安全法 art. 56):
    # from this many overdue notices of one unit within ``summons_window_days``, the escalation suggests a
    # summons. 0 = never. [I] defaults.
    summons_after_overdue: int = Field(default=2, ge=0)
    summons_window_days: int = Field(default=365, ge=1)

    @field_validator("remind_hours_before")
    @classmethod
    def _not_negative(cls, value: list[float]) -> list[float]:
        if any(hours < 0 for hours in value):
            raise ValueError("reminders are hours before the due time: 0 or more")
        return sorted(set(value), reverse=True)


class PlaybookSettings(_Section):
    # Extra playbook directories; their files replace bundled playbooks of the same name.
    directories: list[str] = Field(default_factory=list)
    # How often the deadline scheduler checks for due jobs (seconds of the injected clock's world).
    tick_seconds: float = 5.0


class ChannelSettings(_Section):
    """One place actions are delivered to."""

    adapter: Literal["webhook", "wecom", "dingtalk", "email", "blocklist"]
    url: str = ""             # webhook, wecom, dingtalk, blocklist
    secret: str = ""          # dingtalk: the robot's 加签 secret; webhook/blocklist: HMAC-SHA256 key for X-Edusoc-Signature
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = ""
    mail_to: list[str] = Field(default_factory=list)


class ActionSettings(_Section):
    # name -> channel; playbooks refer to channels by name. Unconfigured names are skipped (logged).
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    max_attempts: int = 5
    # Wait before attempt 2, 3, …; the last value repeats.
    retry_seconds: list[float] = Field(default_factory=lambda: [30.0, 120.0, 600.0, 1800.0])
    timeout_seconds: float = 10.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDUSOC_", env_nested_delimiter="__", extra="forbid")

    # Where the embedded stores live (case store, event store, spools). Relative to the working directory.
    data_dir: str = "var"
    # SQLAlchemy URL of the case store; empty means SQLite at <data_dir>/edusoc.db.
    database_url: str = ""
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    event_store: EventStoreSettings = Field(default_factory=EventStoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
    playbooks: PlaybookSettings = Field(default_factory=PlaybookSettings)
    notices: NoticeSettings = Field(default_factory=NoticeSettings)
    actions: ActionSettings = Field(default_factory=ActionSettings)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: str) -> str:
        return os.path.expanduser(value)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def case_store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'edusoc.db'}"

    @property
    def sqlite_events_path(self) -> Path:
        return self.data_path / self.event_store.sqlite_path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the YAML file, which arrives as init kwargs.
        return (env_settings, init_settings)


class ConfigError(EdusocError, ValueError):
    """The configuration file cannot be used; the message names the file and the problem."""


def _package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from ``path`` (or ``$EDUSOC_CONFIG``), then apply ``EDUSOC_*`` overrides."""
    path = path or os.environ.get("EDUSOC_CONFIG")
    values: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        values = loaded or {}
    try:
        return Settings(**values)
    except ValueError as exc:
        raise ConfigError(f"{path or 'environment'}: {exc}") from exc
