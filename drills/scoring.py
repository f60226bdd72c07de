"""Scoring an exercise: accepted red results and judged blue reports → points, 扣分, 基础得分, 附加分 and 防护值.

Pure: a function of the policy and the facts, no database. Order of the rules for one team against one defender
(each result taken in submission order):
1. a result on an asset already 击穿 (by any team, see ``breach_types``) scores nothing;
2. out-of-scope results beyond ``out_of_scope_max_results`` score nothing, the others ×``out_of_scope_multiplier``;
3. the n-th use of the same vulnerability ×``repeat_factors[n-1]`` (nothing past the list);
4. what is left fills the type's cap, then the team-per-defender cap;
5. the team's capped total against a 重点 unit ×``key_unit_multiplier``.
A blue report earns ``its red result's deduction × dimension score % × report_factor``; the unit's base score is capped
at ``base_cap_fraction`` of its deduction, the bonus at ``bonus_cap``, only the first ``max_reports`` reports count.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from drills.scoring_policy import ScoringPolicy


@dataclass(frozen=True)
class AcceptedResult:
    """A red result the referees accepted (认定), as scoring sees it."""

    id: str
    team: str
    defender: str  # the defending unit
    asset: str
    vulnerability: str
    type: str  # one of drills.scoring_policy.RED_TYPES
    submitted_at: datetime
    points: float | None = None  # the referee's points; None: the policy's default for the type
    in_scope: bool = True  # the asset is one of the exercise's targets (靶标) or within its scope units


@dataclass(frozen=True)
class ScoredResult:
    id: str
    team: str
    defender: str
    base_points: float
    repeat_factor: float  # 1.0, 0.7, 0.4, then 0
    scope_factor: float  # 1.0 in scope, 0.8 out of scope, 0 past the out-of-scope limit
    key_factor: float  # 1.4 when the defender is a 重点 unit
    points: float  # what this result took from the defender after every rule and cap
    breaches_asset: bool
    note: str = ""  # why it scores less than its base, in the referees' words


@dataclass(frozen=True)
class TeamScore:
    """One attacking team against one defending unit."""

    team: str
    defender: str
    by_type: Mapping[str, float]  # capped, before the key-unit multiplier
    points: float  # after the caps and the key-unit multiplier


@dataclass(frozen=True)
class BlueReportFacts:
    """A blue report the referees scored."""

    id: str
    unit: str
    red_result_id: str
    dimension_scores: Mapping[str, float]  # points per dimension, each 0 .. its weight (the weights add up to 100)
    submitted_at: datetime
    bonus: float = 0.0  # 附加分 the referees gave this report


@dataclass(frozen=True)
class ScoredReport:
    id: str
    unit: str
    red_result_id: str
    event_deduction: float
    dimension_percent: float
    points: float  # before the unit's base cap
    bonus: float
    counted: bool
    note: str = ""


@dataclass(frozen=True)
class DefenderScore:
    unit: str
    deduction: float  # 扣分: what all teams took from the unit
    base: float  # 基础得分, capped at base_cap_fraction × deduction
    bonus: float  # 附加分, capped at bonus_cap
    protection: float  # 防护值


@dataclass(frozen=True)
class Scoreboard:
    results: tuple[ScoredResult, ...]
    teams: tuple[TeamScore, ...]
    reports: tuple[ScoredReport, ...]
    defenders: tuple[DefenderScore, ...]
    team_totals: Mapping[str, float] = field(default_factory=dict)

    def result(self, result_id: str) -> ScoredResult:
        return next(r for r in self.results if r.id == result_id)

    def defender(self, unit: str) -> DefenderScore:
        return next(d for d in self.defenders if d.unit == unit)


def score_red(policy: ScoringPolicy, results: Iterable[AcceptedResult], key_units: frozenset[str] = frozenset()
              ) -> tuple[list[ScoredResult], list[TeamScore]]:
    """Points of every accepted result and of every (team, defender) pair."""
    red = policy.red
    ordered = sorted(results, key=lambda r: (r.submitted_at, r.id))
    breached: set[tuple[str, str]] = set()  # (defender, asset)
    vulnerability_uses: dict[tuple[str, ...], int] = defaultdict(int)
    out_of_scope_used: dict[tuple[str, str], int] = defaultdict(int)
    type_room: dict[tuple[str, str, str], float] = {}
    total_room: dict[tuple[str, str], float] = {}
    by_type: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    scored: list[ScoredResult] = []
    for result in ordered:
        pair = (result.team, result.defender)
        rule = policy.type_rule(result.type)
        base = rule.default_points if result.points is None else result.points
        key_factor = red.key_unit_multiplier if result.defender in key_units else 1.0
        notes: list[str] = []
        if (result.defender, result.asset) in breached:
            scored.append(ScoredResult(result.id, result.team, result.defender, base, 0.0, 0.0, key_factor, 0.0, False,
                                       "资产已被击穿，不再计分"))
            continue
        scope_factor = 1.0
        if not result.in_scope:
            out_of_scope_used[pair] += 1
            if out_of_scope_used[pair] > red.out_of_scope_max_results:
                scope_factor = 0.0
                notes.append(f"范围外成果超过{red.out_of_scope_max_results}项，不计分")
            else:
                scope_factor = red.out_of_scope_multiplier
                notes.append(f"范围外资产 ×{red.out_of_scope_multiplier:g}")
        repeat_key = (result.team, result.vulnerability) if red.repeat_counted_per == "team" else \
            (result.team, result.defender, result.vulnerability)
        repeat_factor = 0.0
        if scope_factor > 0:
            vulnerability_uses[repeat_key] += 1
            use = vulnerability_uses[repeat_key]
            repeat_factor = red.repeat_factors[use - 1] if use <= len(red.repeat_factors) else 0.0
            if use > 1:
                notes.append(f"同一漏洞第{use}次提交 ×{repeat_factor:g}")
        wanted = base * scope_factor * repeat_factor
        type_left = type_room.setdefault((*pair, result.type), rule.cap)
        total_left = total_room.setdefault(pair, red.cap_per_team_per_defender)
        taken = max(0.0, min(wanted, type_left, total_left))
        if taken < wanted:
            notes.append("已达该类成果上限" if type_left <= total_left else "已达单队对单位总分上限")
        type_room[(*pair, result.type)] = type_left - taken
        total_room[pair] = total_left - taken
        by_type[pair][result.type] += taken
        breaches = result.type in red.breach_types and scope_factor > 0
        if breaches:
            breached.add((result.defender, result.asset))
        scored.append(ScoredResult(result.id, result.team, result.defender, base, repeat_factor, scope_factor, key_factor,
                                   _points(taken * key_factor), breaches, "；".join(notes)))
    teams = [TeamScore(team, defender, dict(types),
                       _points(sum(types.values()) * (red.key_unit_multiplier if defender in key_units else 1.0)))
             for (team, defender), types in sorted(by_type.items())]
    return scored, teams


def score_blue(policy: ScoringPolicy, reports: Iterable[BlueReportFacts], red_results: Iterable[ScoredResult]
               ) -> list[ScoredReport]:
    """Points of every blue report; a report counts when it is among its unit's first ``max_reports`` and its red result
    is an accepted one against the same unit that no earlier report of the unit already covered."""
    blue = policy.blue
    deduction_of = {r.id: r for r in red_results}
    seen_results: set[tuple[str, str]] = set()
    counted_per_unit: dict[str, int] = defaultdict(int)
    scored: list[ScoredReport] = []
    for report in sorted(reports, key=lambda r: (r.submitted_at, r.id)):
        percent = sum(min(max(report.dimension_scores.get(name, 0.0), 0.0), weight)
                      for name, weight in blue.dimensions.items())
        red = deduction_of.get(report.red_result_id)
        note = ""
        if red is None or red.defender != report.unit:
            note = "未关联本单位已认定的攻击成果"
        elif (report.unit, report.red_result_id) in seen_results:
            note = "该攻击成果已有报告"
        elif counted_per_unit[report.unit] >= blue.max_reports:
            note = f"超过{blue.max_reports}份报告上限"
        if note:
            scored.append(ScoredReport(report.id, report.unit, report.red_result_id, red.points if red else 0.0,
                                       percent, 0.0, 0.0, False, note))
            continue
        assert red is not None
        seen_results.add((report.unit, report.red_result_id))
        counted_per_unit[report.unit] += 1
        points = red.points * percent / 100 * blue.report_factor
        scored.append(ScoredReport(report.id, report.unit, report.red_result_id, red.points, percent, _points(points),
                                   max(report.bonus, 0.0), True))
    return scored


def protection_value(policy: ScoringPolicy, base: float, deduction: float, bonus: float) -> float:
    """防护值 = (基础得分/扣分 + 附加分/3000×0.2)×10000 when deducted, else (0.8 + 附加分/3000×0.2)×10000."""
    rules = policy.protection
    bonus_part = min(bonus, policy.blue.bonus_cap) / policy.blue.bonus_cap * rules.bonus_weight
    ratio = base / deduction if deduction > 0 else rules.undeducted_ratio
    return _points((ratio + bonus_part) * rules.scale)


def score_exercise(policy: ScoringPolicy, results: Iterable[AcceptedResult], reports: Iterable[BlueReportFacts],
                   defenders: Iterable[str], key_units: frozenset[str] = frozenset()) -> Scoreboard:
    """The whole board: every result, every team, every report and every defending unit's 防护值."""
    scored_results, teams = score_red(policy, results, key_units)
    scored_reports = score_blue(policy, reports, scored_results)
    deduction: dict[str, float] = defaultdict(float)
    for team in teams:
        deduction[team.defender] += team.points
    board_defenders = []
    for unit in sorted(set(defenders) | set(deduction)):
        counted = [r for r in scored_reports if r.unit == unit and r.counted]
        base = min(sum(r.points for r in counted), policy.blue.base_cap_fraction * deduction[unit])
        bonus = min(sum(r.bonus for r in counted), policy.blue.bonus_cap)
        board_defenders.append(DefenderScore(unit, _points(deduction[unit]), _points(base), _points(bonus),
                                             protection_value(policy, base, deduction[unit], bonus)))
    totals: dict[str, float] = defaultdict(float)
    for team in teams:
        totals[team.team] += team.points
    return Scoreboard(tuple(scored_results), tuple(teams), tuple(scored_reports), tuple(board_defenders),
                      {name: _points(value) for name, value in sorted(totals.items())})


def _points(value: float) -> float:
    """Points to the hundredth (the boards show two decimals; float noise must not make 0.7 × 1000 show as 699.99)."""
    return round(value + 0.0, 2)
