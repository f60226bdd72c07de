"""Who may do what: the one permission table (actions × roles) and the one "inside this unit's subtree" test.

Every route declares the ``Action`` it needs (``soc_api.auth.needs``); every command that changes state calls
``authorize(actor, action, unit)``, which checks the role's grant and that ``unit`` lies in the actor's subtree.
The README's permission table is this table in prose; change both together.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Protocol, overload

from sqlalchemy import ColumnElement

from soc_core.errors import PermissionDenied
from soc_core.models import Unit
from soc_core.org import Role


class Action(str, Enum):
    """What a user does, in their words. The value is what routes declare and /api/v1/auth/me lists."""

    SIGN_IN = "sign_in"                            # anyone, also anonymous
    VIEW = "view"
    WORK_INCIDENT = "work_incident"
    REGRADE = "regrade"
    REQUEST_REGRADE = "request_regrade"
    CLOSE_MAJOR_INCIDENT = "close_major_incident"
    OVERRIDE_CLOSE = "override_close"
    SUPPRESS_ALERTS = "suppress_alerts"
    FILE_INVENTORY = "file_inventory"
    MANAGE_APP_REGISTRY = "manage_app_registry"
    RUN_CHECKS = "run_checks"
    SWITCH_RULE = "switch_rule"
    TRY_RULE = "try_rule"
    MANAGE_SENSORS = "manage_sensors"
    MANAGE_ROSTER = "manage_roster"
    BE_ROSTERED = "be_rostered"
    DECLARE_KEY_PERIOD = "declare_key_period"
    SUBMIT_ZERO_REPORT = "submit_zero_report"
    ISSUE_NOTICE = "issue_notice"
    ANSWER_NOTICE = "answer_notice"
    RUN_JOB = "run_job"
    RUN_DRILL = "run_drill"
    TAKE_PART_IN_DRILL = "take_part_in_drill"
    MANAGE_OWN_ACCOUNT = "manage_own_account"
    ADMINISTER_USERS = "administer_users"
    READ_AUDIT = "read_audit"
    VERIFY_AUDIT = "verify_audit"
    INGEST = "ingest"
    TEND_INGEST_QUARANTINE = "tend_ingest_quarantine"

    @property
    def label(self) -> str:
        """Chinese name first, English second."""
        return LABELS[self]


LABELS: dict[Action, str] = {
    Action.SIGN_IN: "登录 / sign in",
    Action.VIEW: "查看本辖区 / view (own subtree)",
    Action.WORK_INCIDENT: "处置事件 / work an incident (acknowledge, investigate, comment, evidence, reports, tasks, close)",
    Action.REGRADE: "定级改级 / regrade an incident",
    Action.REQUEST_REGRADE: "申请改级 / ask the duty centre for a regrade, with a reason",
    Action.CLOSE_MAJOR_INCIDENT: "关闭重大及以上事件 / close a 重大 or 特别重大 incident (its tasks done)",
    Action.OVERRIDE_CLOSE: "强制关闭（须说明理由） / close with tasks undone, with a reason",
    Action.SUPPRESS_ALERTS: "屏蔽告警 / suppress alerts",
    Action.FILE_INVENTORY: "填报资产台账 / file inventory",
    Action.MANAGE_APP_REGISTRY: "导入应用备案名录 / import the national app filing list",
    Action.RUN_CHECKS: "立即运行合规检查 / run the compliance checks now",
    Action.SWITCH_RULE: "启停检测规则 / switch a detection rule for a unit",
    Action.TRY_RULE: "试运行规则、扫描文件 / dry-run a rule, scan a file",
    Action.MANAGE_SENSORS: "管理探针 / register, revoke and re-key sensors",
    Action.TEND_INGEST_QUARANTINE: "处理采集隔离区 / list, retry and drop events the store refused",
    Action.MANAGE_ROSTER: "排班与交接班 / keep the duty roster, write handovers",
    Action.BE_ROSTERED: "可被排班 / be put on the duty roster",
    Action.DECLARE_KEY_PERIOD: "宣布重要时段 / declare a key period",
    Action.SUBMIT_ZERO_REPORT: "提交零报告 / submit a zero-report",
    Action.ISSUE_NOTICE: "下发通报、复核整改、约谈 / issue a notice, review its rectification, summon",
    Action.ANSWER_NOTICE: "签收通报、提交整改 / acknowledge a notice, submit its rectification",
    Action.RUN_JOB: "查看并立即运行定时任务 / see and run the scheduled jobs",
    Action.RUN_DRILL: "组织攻防演练 / run a drill",
    Action.TAKE_PART_IN_DRILL: "参加演练（按演练中的身份：红队成果、蓝队报告、裁判评判） / take part in a drill as its members list you",
    Action.MANAGE_OWN_ACCOUNT: "管理本人账号（口令、二次验证、会话） / manage your own password, second factor and sessions",
    Action.ADMINISTER_USERS: "管理用户 / administer users",
    Action.READ_AUDIT: "查看本辖区审计日志 / read the audit log of your subtree",
    Action.VERIFY_AUDIT: "校验审计哈希链 / verify the audit hash chain",
    Action.INGEST: "上送事件（探针令牌） / send events (sensor token)",
}

ADMIN, DUTY, SCHOOL, DRILL, REGULATOR, RED = (Role.SYSTEM_ADMIN, Role.DUTY_OFFICER, Role.SCHOOL_ADMIN, Role.DRILL_ORGANIZER,
                                              Role.REGULATOR, Role.RED_TEAM)
EVERY_ROLE = frozenset(Role)
STAFF = EVERY_ROLE - {RED}  # a red-team member sees no unit: only their own drill results

# The table: each action, the roles granted it. A sensor token is no role: it may only INGEST.
GRANTS: dict[Action, frozenset[Role]] = {
    Action.SIGN_IN:              EVERY_ROLE,
    Action.VIEW:                 EVERY_ROLE,                           # a red-team member's subtree holds no unit
    Action.WORK_INCIDENT:        frozenset({ADMIN, DUTY, SCHOOL}),     # not drills: they work drill incidents only
    Action.REGRADE:              frozenset({ADMIN, DUTY}),             # grading is the duty centre's
    Action.REQUEST_REGRADE:      frozenset({SCHOOL}),                  # a school asks, with a reason; duty decides
    Action.CLOSE_MAJOR_INCIDENT: frozenset({ADMIN, DUTY}),
    Action.OVERRIDE_CLOSE:       frozenset({ADMIN, DUTY}),
    Action.SUPPRESS_ALERTS:      frozenset({ADMIN, DUTY, SCHOOL}),
    Action.FILE_INVENTORY:       frozenset({ADMIN, DUTY, SCHOOL}),
    Action.MANAGE_APP_REGISTRY:  frozenset({ADMIN}),
    Action.RUN_CHECKS:           frozenset({ADMIN, DUTY}),
    Action.SWITCH_RULE:          frozenset({ADMIN, DUTY, SCHOOL}),
    Action.TRY_RULE:             STAFF,                                # computes, changes nothing
    Action.MANAGE_SENSORS:       frozenset({ADMIN, DUTY, SCHOOL}),
    Action.TEND_INGEST_QUARANTINE: frozenset({ADMIN, DUTY}),           # the collector is the regional centre's
    Action.MANAGE_ROSTER:        frozenset({ADMIN, DUTY}),
    Action.BE_ROSTERED:          frozenset({ADMIN, DUTY, SCHOOL}),     # never a regulator or a drill organizer
    Action.DECLARE_KEY_PERIOD:   frozenset({ADMIN, DUTY, REGULATOR}),  # the regulator's one write
    Action.SUBMIT_ZERO_REPORT:   frozenset({ADMIN, DUTY, SCHOOL}),
    Action.ISSUE_NOTICE:         frozenset({ADMIN, DUTY}),
    Action.ANSWER_NOTICE:        frozenset({ADMIN, DUTY, SCHOOL}),
    Action.RUN_JOB:              frozenset({ADMIN}),
    Action.RUN_DRILL:            frozenset({ADMIN, DRILL}),
    Action.TAKE_PART_IN_DRILL:   EVERY_ROLE - {REGULATOR},             # what each may do there: drills.commands
    Action.MANAGE_OWN_ACCOUNT:   EVERY_ROLE,
    Action.ADMINISTER_USERS:     frozenset({ADMIN}),
    Action.READ_AUDIT:           STAFF,                                # scoped to the reader's subtree
    Action.VERIFY_AUDIT:         frozenset({ADMIN}),
    Action.INGEST:               frozenset(),                          # sensor tokens only
}
SENSOR_ACTIONS = frozenset({Action.INGEST})
# Where a route records the action it needs (its OpenAPI operation's extension field).
ACTION_KEY = "x-edusoc-action"
ANONYMOUS_ACTIONS = frozenset({Action.SIGN_IN})


class Actor(Protocol):
    """Who acts: a role and the path of the unit whose subtree they act in (``soc_api.auth.Principal`` is one)."""

    @property
    def role(self) -> Role: ...

    @property
    def scope_path(self) -> str: ...


def granted(role: Role, action: Action) -> bool:
    """The table alone: does ``role`` hold ``action`` anywhere?"""
    return role in GRANTS[action]


def actions_of(role: Role) -> list[Action]:
    """Every action ``role`` holds, in the table's order (what /api/v1/auth/me lists)."""
    return [action for action in Action if role in GRANTS[action]]


@overload
def within(unit: Unit | str, scope: Unit | str) -> bool: ...
@overload
def within(unit: ColumnElement[str] | Any, scope: Unit | str) -> ColumnElement[bool]: ...
def within(unit: Any, scope: Unit | str) -> Any:
    """Is ``unit`` inside the subtree rooted at ``scope`` (itself included)? Either may be a ``Unit`` or a
    materialised path ('/1/4/'); given the column ``Unit.path`` it is the SQL condition instead."""
    scope_path = scope if isinstance(scope, str) else scope.path
    path = unit.path if isinstance(unit, Unit) else unit
    return path.startswith(scope_path)


def may(actor: Actor, action: Action, unit: Unit | None = None) -> bool:
    """``actor``'s role holds ``action`` and ``unit`` (when given) lies in their subtree; system admins see all."""
    if actor.role not in GRANTS[action]:
        return False
    return unit is None or actor.role is Role.SYSTEM_ADMIN or within(unit, actor.scope_path)


def authorize(actor: Actor, action: Action, unit: Unit | None = None) -> None:
    """The one permission check every command makes; raises ``PermissionDenied`` (HTTP 403) when ``may`` says no."""
    if actor.role not in GRANTS[action]:
        raise PermissionDenied(f"{actor.role.label}无权{LABELS[action].split(' / ')[0]}",
                               f"role {actor.role.value} may not {action.value.replace('_', ' ')}")
    if not may(actor, action, unit):
        raise PermissionDenied(f"{unit.name if unit else ''}不在您的辖区内",
                               f"unit {unit.id if unit else ''} is outside your subtree")
