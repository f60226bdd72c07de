"""The demo region and its sample traffic: what `edusoc run --demo` seeds and replays.

Demo only: every account's password is DEMO_PASSWORD, printed at start and in the README.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sensors.pcap import read_pcap
from sensors.shipper import ship_events
from sensors.weblog import read_access_log
from soc_core.clock import Clock
from soc_core.models import Sensor, Unit, User
from soc_core.org import Role, UnitKind
from soc_core.repositories import create_unit, create_user, register_sensor, rotate_sensor_token

DEMO_PASSWORD = "edusoc-demo"
SAMPLES = Path(__file__).resolve().parent.parent / "sensors" / "samples"

# code, name, kind, parent code
DEMO_UNITS = (
    ("DEMO-CITY", "示范市教育局", UnitKind.CITY, None),
    ("DEMO-COUNTY", "示范区教育局", UnitKind.COUNTY, "DEMO-CITY"),
    ("DEMO-SCHOOL-1", "示范区第一中学", UnitKind.SCHOOL, "DEMO-COUNTY"),
    ("DEMO-SCHOOL-2", "示范区实验小学", UnitKind.SCHOOL, "DEMO-COUNTY"),
    ("DEMO-SCHOOL-3", "示范区第二中学", UnitKind.SCHOOL, "DEMO-COUNTY"),
)
# username, display name, role, unit code
DEMO_USERS = (
    ("admin", "系统管理员", Role.SYSTEM_ADMIN, "DEMO-CITY"),
    ("duty", "市局值班员", Role.DUTY_OFFICER, "DEMO-CITY"),
    ("school1", "一中网管", Role.SCHOOL_ADMIN, "DEMO-SCHOOL-1"),
    ("school2", "实验小学网管", Role.SCHOOL_ADMIN, "DEMO-SCHOOL-2"),
    ("regulator", "市局监管（只读）", Role.REGULATOR, "DEMO-CITY"),
    ("drill", "演练组织方", Role.DRILL_ORGANIZER, "DEMO-CITY"),
)
# sensor name, unit code, what it replays
DEMO_SENSORS = (
    ("sensor-school1-edge", "DEMO-SCHOOL-1", SAMPLES / "campus_sample.pcap"),
    ("sensor-school2-web", "DEMO-SCHOOL-2", SAMPLES / "access.log"),
)


@dataclass(frozen=True)
class DemoSensor:
    name: str
    unit_code: str
    token: str
    sample: Path


def seed_demo_region(session: Session, clock: Clock) -> list[DemoSensor]:
    """Create the demo units, users and sensors if missing (idempotent); return fresh sensor tokens."""
    units: dict[str, Unit] = {}
    for code, name, kind, parent_code in DEMO_UNITS:
        unit = session.scalar(select(Unit).where(Unit.code == code))
        units[code] = unit or create_unit(session, name, kind, units[parent_code] if parent_code else None, code=code)
    for username, display_name, role, unit_code in DEMO_USERS:
        if session.scalar(select(User).where(User.username == username)) is None:
            create_user(session, clock, username, DEMO_PASSWORD, role, units[unit_code], display_name, actor="demo-seed")
    sensors: list[DemoSensor] = []
    for name, unit_code, sample in DEMO_SENSORS:
        existing = session.scalar(select(Sensor).where(Sensor.name == name))
        # Tokens are stored hashed, so a restarted demo cannot read the old one back: it rotates it.
        token = rotate_sensor_token(session, clock, existing, "demo-seed") if existing else \
            register_sensor(session, clock, name, units[unit_code], "demo-seed").token
        sensors.append(DemoSensor(name, unit_code, token, sample))
    session.commit()
    return sensors


def read_sample(path: Path) -> list[dict[str, Any]]:
    """Events from a bundled sample: a pcap through the packet reader, a log through the log parser."""
    if path.suffix in (".pcap", ".pcapng"):
        events, _ = read_pcap(path)
    else:
        events, _ = read_access_log(path, "nginx")
    return events


def replay_demo_samples(collector_url: str, sensors: list[DemoSensor]) -> Iterator[str]:
    """Ship each demo sensor's sample to the collector over HTTP, as a real sensor would."""
    for sensor in sensors:
        events = read_sample(sensor.sample)
        report = ship_events(events, collector_url, sensor.token)
        yield (f"{sensor.name}: {sensor.sample.name}: {len(events)} events, {report.accepted} accepted, "
               f"{report.duplicates} already stored, {len(report.rejected)} rejected")
