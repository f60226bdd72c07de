"""soc_core: settings, event validation, org tree, users and tokens."""
from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from soc_core.config import ConfigError, load_settings
from soc_core.events import EventError, stable_event_id, validate_event
from soc_core.models import AuditEntry
from soc_core.org import Role, UnitKind
from soc_core.config import AuthSettings
from soc_core.login import LoginRefused, live_session, password_step
from soc_core.repositories import OrgError, create_unit, create_user, units_within


def _event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "@timestamp": "2026-11-02T01:00:00Z", "event.id": "e1", "event.kind": "event", "event.dataset": "edusoc.flow",
    }
    base.update(fields)
    return base


def test_yaml_then_environment_override(tmp_path, monkeypatch):
    path = tmp_path / "edusoc.yaml"
    path.write_text("api:\n  port: 9000\nincidents:\n  group_window_minutes: 5\n", encoding="utf-8")
    monkeypatch.setenv("EDUSOC_API__PORT", "9100")
    settings = load_settings(path)
    assert settings.api.port == 9100
    assert settings.incidents.group_window_minutes == 5


def test_defaults_follow_the_education_plans():
    settings = load_settings(None)
    assert settings.incidents.handle_hours_by_grade["II"] == 1.0
    assert settings.incidents.handle_hours_notice == 60.0


def test_unknown_setting_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("api:\n  prot: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(path)


def test_valid_event_is_normalised():
    event = validate_event(_event(**{"source.ip": "10.0.0.1", "@timestamp": "2026-11-02T09:00:00+08:00"}))
    assert event["@timestamp"] == "2026-11-02T01:00:00.000000Z"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"source.ip": "10.0.0.300"}, "source.ip"),
        ({"destination.port": 70000}, "destination.port"),
        ({"no.such.field": "x"}, "no.such.field"),
        ({"event.id": ""}, "event.id"),
        ({"@timestamp": "yesterday"}, "@timestamp"),
        ({"event.kind": "gossip"}, "event.kind"),
        ({"source.ip": "010.0.0.1"}, "source.ip"),  # leading zeros: octal to some parsers
        ({"source.ip": "10.1"}, "source.ip"),  # inet_aton's short forms are not addresses here
        ({"source.bytes": 1 << 63}, "source.bytes"),  # beyond a signed 64-bit long
        ({"event.duration": -(1 << 63) - 1}, "event.duration"),
    ],
)
def test_invalid_event_names_the_field(fields, field):
    with pytest.raises(EventError) as excinfo:
        validate_event(_event(**fields))
    assert excinfo.value.field == field


@pytest.mark.parametrize("raw, canonical", [
    ("10.0.0.1", "10.0.0.1"),
    ("255.255.255.255", "255.255.255.255"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("::ffff:10.0.0.1", str(ipaddress.ip_address("::ffff:10.0.0.1"))),
])
def test_addresses_are_stored_in_canonical_form(raw, canonical):
    assert validate_event(_event(**{"source.ip": raw}))["source.ip"] == canonical
    assert validate_event(_event(**{"source.bytes": (1 << 63) - 1}))["source.bytes"] == (1 << 63) - 1


def test_stable_id_is_deterministic():
    assert stable_event_id("a", 1) == stable_event_id("a", 1) != stable_event_id("a", 2)


def test_org_tree_scopes_subtrees(session):
    province = create_unit(session, "省教育厅", UnitKind.PROVINCE)
    city = create_unit(session, "市教育局", UnitKind.CITY, province)
    county = create_unit(session, "区教育局", UnitKind.COUNTY, city)
    school = create_unit(session, "第一中学", UnitKind.SCHOOL, county)
    other_city = create_unit(session, "另一市", UnitKind.CITY, province)
    inside = {u.id for u in session.scalars(units_within(city))}
    assert inside == {city.id, county.id, school.id}
    assert other_city.id not in inside
    with pytest.raises(OrgError):
        create_unit(session, "错位学校", UnitKind.SCHOOL, city)


def test_password_is_hashed_and_token_expires(session, clock):
    province = create_unit(session, "省教育厅", UnitKind.PROVINCE)
    user = create_user(session, clock, "duty", "Correct horse 9", Role.DUTY_OFFICER, province)
    assert "Correct horse 9" not in user.password_hash
    settings = AuthSettings(require_mfa=False, session_idle_minutes=0)
    with pytest.raises(LoginRefused):
        password_step(session, clock, settings, 1.0, "duty", "wrong password", "127.0.0.1")
    token = password_step(session, clock, settings, 1.0, "duty", "Correct horse 9", "127.0.0.1").token
    assert live_session(session, clock, token, 0).user is user
    clock.advance(timedelta(hours=1, seconds=1))
    assert live_session(session, clock, token, 0) is None
    actions = [entry.action for entry in session.query(AuditEntry)]
    assert actions == ["user.create", "auth.failed", "auth.login"]


def test_example_config_lists_valid_settings():
    from pathlib import Path

    settings = load_settings(Path(__file__).resolve().parent.parent / "config" / "edusoc.example.yaml")
    assert settings.incidents.handle_hours_notice == 60
