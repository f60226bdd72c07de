"""Playbook definitions: YAML files in playbooks/definitions/ (and any configured directory), parsed once."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soc_core.org import Role

BUNDLED = Path(__file__).resolve().parent / "definitions"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_Spec):
    """Empty lists match anything; a playbook applies when all given lists contain the incident's value."""

    grades: list[Literal["I", "II", "III", "IV"]] = []
    categories: list[str] = []
    sources: list[Literal["detected", "notice", "self_reported"]] = []


class EscalationSpec(_Spec):
    at: float = Field(gt=0, le=1, description="fraction of the handling time (0.5 = half of it gone)")
    levels_up: int = Field(ge=1, le=3, description="1 = the unit above (school → county), 2 = two above …")
    overdue: bool = False  # this step is the breach: the incident is marked overdue and counted against the unit


class TaskSpec(_Spec):
    name: str
    owner_role: Role
    due: float = Field(gt=0, le=1, description="fraction of the handling time")
    # How far up the org tree the task goes when it is past due and not done; None: as far as the
    # playbook's escalation step reached by then (see Playbook.task_levels_up).
    escalate_levels_up: int | None = Field(default=None, ge=1, le=3)


class ActionSpec(_Spec):
    when: Literal["open", "escalation", "overdue", "unacknowledged", "task_overdue"]  # not "on": YAML 1.1 reads it as true
    channel: str
    block: str | None = None  # for a block-list channel: the alert field whose value to block, e.g. source.ip


class Playbook(_Spec):
    name: str
    title: str
    priority: int = 0
    trigger: Trigger = Trigger()
    handle_hours: float | None = None  # None: incidents.handle_hours_by_grade / handle_hours_notice
    escalation: list[EscalationSpec] = []
    tasks: list[TaskSpec] = []
    actions: list[ActionSpec] = []

    def task_levels_up(self, task: TaskSpec) -> int:
        """Where an overdue task escalates: its own setting, else the last escalation step at or before its due
        fraction (a task due at 50 % goes where the 50 % step goes), else the first step, else the unit above."""
        if task.escalate_levels_up is not None:
            return task.escalate_levels_up
        reached = [step.levels_up for step in sorted(self.escalation, key=lambda s: s.at) if step.at <= task.due]
        if reached:
            return reached[-1]
        return self.escalation[0].levels_up if self.escalation else 1

    def matches(self, grade: str, category: str, source: str) -> bool:
        t = self.trigger
        return ((not t.grades or grade in t.grades) and (not t.categories or category in t.categories)
                and (not t.sources or source in t.sources))


class PlaybookError(ValueError):
    """A playbook file cannot be used; the message names the file and the problem."""


def load_playbooks(directories: Sequence[Path] = (BUNDLED,)) -> list[Playbook]:
    """Every *.yaml / *.yml playbook in ``directories``, highest priority first; a later file of the same name replaces."""
    by_name: dict[str, Playbook] = {}
    for directory in directories:
        for path in sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")]):
            try:
                playbook = Playbook.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            except (yaml.YAMLError, ValidationError, TypeError) as exc:
                raise PlaybookError(f"{path}: {exc}") from exc
            by_name[playbook.name] = playbook
    if not by_name:
        raise PlaybookError(f"no playbooks found in {', '.join(map(str, directories))}")
    return sorted(by_name.values(), key=lambda p: -p.priority)


def select_playbook(playbooks: Sequence[Playbook], grade: str, category: str, source: str) -> Playbook | None:
    """The highest-priority playbook whose trigger matches."""
    return next((p for p in playbooks if p.matches(grade, category, source)), None)
