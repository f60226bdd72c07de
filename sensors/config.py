"""The sensor's YAML configuration (``edusoc sensor run --config FILE``).

    sensor:    {name: gate-1}
    collector: {url: https://soc.example:8000, token_file: /etc/edusoc/sensor.token}
    spool:     {dir: /var/lib/edusoc/spool, max_mb: 1024}
    packets:
      files: [/data/capture.pcap]                 # read once
      interfaces: [{name: eth1, bpf: "not port 22"}]
    logs:
      files: [{path: /var/log/auth.log, format: auth}]
      syslog: {host: 0.0.0.0, udp_port: 514, tcp_port: 514}

A misspelt key is an error, never a silently ignored setting.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sensors.logfiles import LOG_FORMATS

LogFormat = Literal["syslog", "auth", "iptables", "eve", "json", "nginx", "apache"]
assert set(LOG_FORMATS) == set(LogFormat.__args__)  # type: ignore[attr-defined]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SensorIdentity(_Section):
    name: str = "sensor"


class CollectorSettings(_Section):
    url: str
    token: str | None = None
    token_file: str | None = None  # preferred: keeps the secret out of the config file
    timeout_seconds: float = Field(default=30.0, gt=0)
    batch_events: int = Field(default=1000, ge=1, le=10_000)  # the collector accepts at most 10 000 per batch
    batch_seconds: float = Field(default=5.0, gt=0)  # a partial batch is sent after this long
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    heartbeat_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_token(self) -> CollectorSettings:
        if bool(self.token) == bool(self.token_file):
            raise ValueError("give exactly one of collector.token and collector.token_file")
        return self

    def read_token(self) -> str:
        if self.token:
            return self.token
        assert self.token_file
        return Path(self.token_file).read_text("utf-8").strip()


class SpoolSettings(_Section):
    dir: str = "var/sensor/spool"
    max_mb: float = Field(default=1024.0, gt=0)  # when full, the oldest batches are dropped (and counted)


class InterfaceSource(_Section):
    name: str
    bpf: str = ""
    snaplen: int = Field(default=65535, ge=64)


class PacketSettings(_Section):
    files: list[str] = Field(default_factory=list)
    interfaces: list[InterfaceSource] = Field(default_factory=list)
    max_flows: int = Field(default=100_000, ge=1)
    idle_timeout_seconds: float = Field(default=300.0, ge=0)
    carve_kb: int = Field(default=1024, ge=0)  # first N KB of each HTTP body kept (YARA, file records); longer: truncated
    carve_budget_mb: int = Field(default=256, ge=1)  # all HTTP bodies' carves held at once, across connections


class LogFileSource(_Section):
    path: str
    format: LogFormat


class SyslogSource(_Section):
    host: str = "0.0.0.0"
    udp_port: int | None = Field(default=514, ge=0, le=65535)
    tcp_port: int | None = Field(default=514, ge=0, le=65535)
    format: LogFormat = "syslog"
    max_message_kb: int = Field(default=64, ge=1)


class LogSettings(_Section):
    files: list[LogFileSource] = Field(default_factory=list)
    syslog: SyslogSource | None = None
    poll_seconds: float = Field(default=1.0, gt=0)
    max_line_kb: int = Field(default=1024, ge=1)


class SensorConfig(_Section):
    sensor: SensorIdentity = Field(default_factory=SensorIdentity)
    collector: CollectorSettings
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    state_dir: str = "var/sensor/state"  # tailed files' offsets
    packets: PacketSettings = Field(default_factory=PacketSettings)
    logs: LogSettings = Field(default_factory=LogSettings)


class SensorConfigError(ValueError):
    """The configuration file is missing, not YAML, or has a wrong key or value."""


def load_sensor_config(path: str | Path) -> SensorConfig:
    """Read and validate a sensor configuration file; raises SensorConfigError saying what is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise SensorConfigError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SensorConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return SensorConfig.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise SensorConfigError(f"{path}: {problems}") from None
