"""An exercise's scoreboard from the case store: accepted red results and scored blue reports through the policy."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from drills.models import BlueReport, Exercise, RedResult, ResultStatus
from drills.scoring import AcceptedResult, BlueReportFacts, Scoreboard, score_exercise
from drills.scoring_policy import BUNDLED_POLICIES, ScoringPolicy, ScoringPolicyError, load_policy
from soc_core.clock import as_utc


def policy_named(name: str, directories: tuple[Path, ...] = (BUNDLED_POLICIES,)) -> ScoringPolicy:
    """The policy whose ``name`` is ``name`` among the policy files (a later directory overrides an earlier one)."""
    found: ScoringPolicy | None = None
    for directory in directories:
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            policy = load_policy(path)
            if policy.name == name:
                found = policy
    if found is None:
        raise ScoringPolicyError(directories[-1], f"no scoring policy named {name!r}")
    return found


def exercise_board(session: Session, exercise: Exercise, policy: ScoringPolicy | None = None) -> Scoreboard:
    """Scores keyed by ids as strings: results ``"<id>"``, teams by name, defenders by unit id."""
    policy = policy or policy_named(exercise.scoring_policy)
    results = session.scalars(select(RedResult).where(RedResult.exercise_id == exercise.id,
                                                      RedResult.status == ResultStatus.ACCEPTED.value)).all()
    reports = session.scalars(select(BlueReport).where(BlueReport.exercise_id == exercise.id,
                                                       BlueReport.status == ResultStatus.ACCEPTED.value)).all()
    accepted = [AcceptedResult(str(r.id), r.team, str(r.defender_unit_id), r.asset_address or r.asset, r.vulnerability,
                               r.type, as_utc(r.submitted_at), r.points, r.in_scope) for r in results]
    blue = [BlueReportFacts(str(b.id), str(b.unit_id), str(b.red_result_id), dict(b.dimension_scores), as_utc(b.submitted_at),
                            b.bonus) for b in reports]
    return score_exercise(policy, accepted, blue, [str(u) for u in exercise.blue_unit_ids],
                          frozenset(str(u) for u in exercise.key_unit_ids))
