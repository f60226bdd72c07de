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


class EventStoreSettings(_Section):
    backend: Literal["sqlite", "elasticsearch"] = "sqlite"
    sqlite_path: str = "events.db"  # relative to data_dir
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_index_prefix: str = "edusoc-events"
    # Network logs are kept "不少于六个月" (Cybersecurity Law art. 21, art. 23 after the 2025
    # amendment; DOMAIN.md §2.1 [S]). Six calendar months are 181-184 days, so 184 by default
    # (DOMAIN.md §2.1 [I]). Whole UTC days are deleted, the oldest first.
    retention_days: int = Field(default=184, ge=1)


class IngestSettings(_Section):
    max_batch_bytes: int = 8 * 1024 * 1024  # size of one request body as sent (gzip)
    max_decompressed_bytes: int = 64 * 1024 * 1024  # guards against gzip bombs
    max_batch_events: int = 10_000
    max_event_bytes: int = 256 * 1024


class DetectionSettings(_Section):
    sigma_paths: list[str] = Field(default_factory=lambda: [str(_package_root() / "detection_rules" / "sigma")])


class IncidentSettings(_Section):
    # Alerts of the same rule and unit within this window fold into one incident.
    group_window_minutes: int = 60
    # Sigma rule level -> national grade (特别重大 I, 重大 II, 较大 III, 一般 IV).
    # [I] design default, see DOMAIN.md §1.1: a single detection cannot by itself show
    # 特别重大 losses, so no level maps to I by default; duty staff regrade by hand.
    grade_by_level: dict[str, Grade] = Field(
        default_factory=lambda: {"critical": "II", "high": "III", "medium": "IV", "low": "IV", "informational": "IV"}
    )
    # Handling deadlines in hours. I and II: "重大网络安全事件1小时内完成处置"; notice: "安全通报事件60小时内完成处置"
    # (education plans this product serves; customer SLAs, DOMAIN.md §0). III and IV: [I] configurable defaults.
    handle_hours_by_grade: dict[Grade, float] = Field(
        default_factory=lambda: {"I": 1.0, "II": 1.0, "III": 24.0, "IV": 72.0}
    )
    handle_hours_notice: float = 60.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDUSOC_", env_nested_delimiter="__", extra="forbid")

    # Where the embedded stores live (case store, event store, spools). Relative to the working directory.
    data_dir: str = "var"
    # SQLAlchemy URL of the case store; empty means SQLite at <data_dir>/edusoc.db.
    database_url: str = ""
    api: ApiSettings = Field(default_factory=ApiSettings)
    event_store: EventStoreSettings = Field(default_factory=EventStoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)

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


class ConfigError(ValueError):
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
