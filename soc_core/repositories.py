"""Repositories for the org tree, users, login tokens and sensors."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.errors import EdusocError
from soc_core.models import LoginToken, Sensor, Unit, User
from soc_core.org import PARENT_KIND, Role, UnitKind, child_path
from soc_core.passwords import PasswordPolicy, display_name_problems, password_problems, username_problems
from soc_core.permissions import within
from soc_core.security import hash_password, hash_token, new_token


class OrgError(EdusocError, ValueError):
    """A change to the org tree, a user or a sensor that cannot be made; the message says why."""


def create_unit(session: Session, name: str, kind: UnitKind, parent: Unit | None = None, code: str | None = None) -> Unit:
    # A root may be of any kind (a deployment can cover a whole province or one city);
    # below the root every unit sits directly under the kind above it.
    expected = PARENT_KIND[kind]
    if parent is not None and (expected is None or parent.kind != expected.value):
        raise OrgError(f"a {kind.value} unit cannot sit under a {parent.kind} unit")
    unit = Unit(name=name, kind=kind.value, parent_id=parent.id if parent else None, code=code)
    session.add(unit)
    session.flush()
    unit.path = child_path(parent.path if parent else None, unit.id)
    session.flush()
    return unit


def units_within(scope: Unit) -> Select[Unit]:
    """Every unit in the subtree rooted at ``scope``, itself included."""
    return select(Unit).where(within(Unit.path, scope))


def create_user(
    session: Session, clock: Clock, username: str, password: str, role: Role, unit: Unit,
    display_name: str = "", actor: str = "system", policy: PasswordPolicy | None = PasswordPolicy(),
) -> User:
    """A new user; ``policy`` None is only for the demo's seeded accounts (they share a published password)."""
    problems = username_problems(username) + display_name_problems(display_name)
    if policy is not None:
        problems += password_problems(policy, password, username)
    if problems:
        raise OrgError("；".join(problems))
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise OrgError(f"user {username!r} exists already")
    if role is Role.SCHOOL_ADMIN and unit.kind != UnitKind.SCHOOL.value:
        raise OrgError("a school admin must belong to a school")
    user = User(
        username=username, display_name=display_name or username, password_hash=hash_password(password),
        role=role.value, unit_id=unit.id, created_at=to_db(clock.now()),
    )
    session.add(user)
    session.flush()
    record_audit(session, clock, actor, "user.create", "user", user.id, unit.id, username=username, role=role.value)
    return user


def revoke_login_token(session: Session, clock: Clock, token: str) -> None:
    login = session.scalar(select(LoginToken).where(LoginToken.token_hash == hash_token(token)))
    if login is not None and login.revoked_at is None:
        login.revoked_at = to_db(clock.now())
        record_audit(session, clock, login.user.username, "auth.logout", "user", login.user_id, login.user.unit_id)


@dataclass(frozen=True)
class RegisteredSensor:
    sensor: Sensor
    token: str  # shown once; only its hash is stored


def register_sensor(session: Session, clock: Clock, name: str, unit: Unit, actor: str = "system") -> RegisteredSensor:
    if session.scalar(select(Sensor).where(Sensor.name == name)) is not None:
        raise OrgError(f"sensor {name!r} exists already")
    token = new_token()
    sensor = Sensor(name=name, unit_id=unit.id, token_hash=hash_token(token), created_at=to_db(clock.now()))
    session.add(sensor)
    session.flush()
    record_audit(session, clock, actor, "sensor.register", "sensor", sensor.id, unit.id, name=name)
    return RegisteredSensor(sensor, token)


def sensor_for_token(session: Session, token: str) -> Sensor | None:
    sensor = session.scalar(select(Sensor).where(Sensor.token_hash == hash_token(token)))
    if sensor is None or sensor.revoked_at is not None:
        return None
    return sensor


def rotate_sensor_token(session: Session, clock: Clock, sensor: Sensor, actor: str = "system") -> str:
    """Give a sensor a new token; the old one stops working at once."""
    token = new_token()
    sensor.token_hash = hash_token(token)
    record_audit(session, clock, actor, "sensor.rotate_token", "sensor", sensor.id, sensor.unit_id)
    return token
