"""/api/v1/rules: the loaded detection rules, switching them off per unit, dry runs, file scans.

Reads need a login; switching a rule on or off needs a writing role within the unit's scope
(school admins for their own school) and is audited; dry runs compile a pasted rule and run it
over pasted events without storing or alerting anything; an uploaded file is scanned with the
YARA set and matched against the hash indicators, then dropped (never stored or served).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, HTTPException, UploadFile
from sqlalchemy import select

from detection_rules import BUNDLED_RULES, CompiledCorrelation, dry_run, parse_pasted_events
from detection_rules.crs import FAMILY_RULES
from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.context import DetectionContext
from soc_api.schemas.rules import DryRunRequest, Switch
from soc_core.audit import record_audit
from soc_core.clock import to_db
from soc_core.models import Unit
from soc_core.models_rules import RuleUnitSetting
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


def _detection(context: Any) -> DetectionContext:
    if context.detection is None:
        raise HTTPException(503, "detection engine not running in this process")
    return context.detection  # type: ignore[no-any-return]


@router.get("", **require(Action.VIEW))
def list_rules(principal: CurrentPrincipal, context: Context, session: DbSession) -> dict[str, Any]:
    """Every loaded rule (Sigma, correlations and the OWASP CRS's families), the units it is off for, and the rejected files."""
    detection = _detection(context)
    visible = {unit.code for unit in session.scalars(select(Unit).where(Unit.id.in_(principal.visible_units())))}
    rules = []
    for rule in detection.ruleset.rules:
        meta = rule.meta
        rules.append({
            "id": meta.rule_id, "title": meta.title, "title_zh": meta.title_zh, "level": meta.level,
            "tags": list(meta.tags), "file": meta.path.name, "pack": _pack(meta.path),
            "kind": "correlation" if isinstance(rule, CompiledCorrelation) else "sigma",
            "disabled_units": [code for code in detection.switches.disabled_units(meta.rule_id) if code in visible],
        })
    if detection.crs is not None:
        for rule_id, family in FAMILY_RULES.items():
            rules.append({
                "id": rule_id, "title": f"OWASP CRS: {family.title}", "title_zh": f"{family.title_zh}（OWASP CRS）",
                "level": family.level, "tags": list(family.attack_tags), "file": detection.crs.version, "pack": "OWASP CRS",
                "kind": "crs", "disabled_units": [code for code in detection.switches.disabled_units(rule_id) if code in visible],
            })
    return {
        "rules": rules,
        "rejected": [{"file": error.path.name, "line": error.line, "reason": error.reason} for error in detection.ruleset.errors],
        "yara": {"rules": detection.yara.rule_count if detection.yara else 0,
                 "left_out": [str(error) for error in detection.yara.errors] if detection.yara else []},
    }


def _pack(path: Path) -> str:
    """Where a rule comes from: the bundled campus pack, or the folder it was loaded from."""
    if path.resolve().is_relative_to(BUNDLED_RULES.resolve()):
        return "edusoc 校园规则包"
    return path.parent.name


@router.put("/{rule_id}/units/{unit_id}", **require(Action.SWITCH_RULE))
def switch_rule(rule_id: str, unit_id: int, switch: Switch, principal: CurrentPrincipal, context: Context, session: DbSession) -> dict[str, Any]:
    """Switch a rule on or off for one unit (takes effect on the next event)."""
    detection = _detection(context)
    unit = session.get(Unit, unit_id)
    if unit is None or not principal.can_see(unit) or not unit.code:
        raise HTTPException(404, f"unit {unit_id} not found")
    crs_rule = detection.crs is not None and rule_id in FAMILY_RULES
    if not crs_rule and not any(rule.rule_id == rule_id for rule in detection.ruleset.rules):
        raise HTTPException(404, f"rule {rule_id} is not loaded")
    setting = session.scalars(select(RuleUnitSetting).filter_by(rule_id=rule_id, unit_id=unit.id)).one_or_none()
    if setting is None:
        setting = RuleUnitSetting(rule_id=rule_id, unit_id=unit.id)
        session.add(setting)
    setting.enabled = switch.enabled
    setting.updated_at = to_db(context.clock.now())
    setting.updated_by = principal.user.username
    record_audit(session, context.clock, principal.user.username, "rule.enabled" if switch.enabled else "rule.disabled",
                 "rule", rule_id, unit_id=unit.id)
    session.commit()
    detection.switches.set(rule_id, unit.code, switch.enabled)
    return {"rule_id": rule_id, "unit_id": unit.id, "unit": unit.code, "enabled": switch.enabled}


@router.post("/dry-run", **require(Action.TRY_RULE))
def dry_run_rule(request: Annotated[DryRunRequest, Body()], principal: CurrentPrincipal) -> dict[str, Any]:
    """Compile the pasted rule and run it over the pasted events; nothing is stored or alerted."""
    if request.pipeline not in ("ecs", "none"):
        raise HTTPException(422, "pipeline must be ecs or none")
    try:
        events = parse_pasted_events(request.events)
    except ValueError as error:
        raise HTTPException(422, f"events are not JSON: {error}") from None
    result = dry_run(request.rule, events, request.pipeline)
    return {"rules": result.rules, "events": result.events, "alerts": result.alerts,
            "rule_errors": result.rule_errors, "event_errors": result.event_errors}


@router.post("/scan-file", **require(Action.TRY_RULE))
async def scan_file(principal: CurrentPrincipal, context: Context, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """YARA and hash indicators on an uploaded file (read into memory, never stored)."""
    detection = _detection(context)
    limit = detection.yara.max_bytes if detection.yara else 8 * 1024 * 1024
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"file larger than the scan limit of {limit} bytes")
    sha256 = hashlib.sha256(data).hexdigest()
    hits = detection.yara.scan(data, filename=file.filename or "") if detection.yara else []
    indicator = None
    if detection.indicators is not None:
        for digest in (sha256, hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest()):  # noqa: S324 - indicator lookups
            found = detection.indicators.match_hash(digest)
            if found is not None:
                indicator = {"kind": found.kind, "value": found.value, "description": found.description, "level": found.level}
                break
    return {
        "filename": file.filename, "bytes": len(data), "sha256": sha256,
        "yara": [{"rule": hit.rule, "namespace": hit.namespace, "tags": list(hit.tags), "strings": list(hit.strings),
                  "description": hit.meta.get("description")} for hit in hits],
        "indicator": indicator,
    }
