"""Drill scoring (DOMAIN.md §6): the public default policy, hand-computed boards, and the caps as properties."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from drills import (
    BLUE_DIMENSIONS, RED_TYPES, AcceptedResult, BlueReportFacts, ScoringPolicyError, load_policy, protection_value,
    score_exercise, score_red,
)

POLICY = load_policy()
T0 = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)


def result(n: int, vulnerability: str, asset: str, type: str = "边界突破", team: str = "红1", defender: str = "一中",
           points: float | None = None, in_scope: bool = True) -> AcceptedResult:
    return AcceptedResult(f"r{n}", team, defender, asset, vulnerability, type, T0 + timedelta(minutes=n), points, in_scope)


def full_marks() -> dict[str, float]:
    return dict(POLICY.blue.dimensions)


def test_default_policy_has_the_public_caps() -> None:
    assert POLICY.red.cap_per_team_per_defender == 37000
    assert {name: rule.cap for name, rule in POLICY.red.types.items()} == {
        "路径": 3000, "边界突破": 8000, "靶标权限": 10000, "重要数据": 8000, "其他系统权限": 8000}
    assert POLICY.red.repeat_factors == [1.0, 0.7, 0.4]
    assert set(POLICY.blue.dimensions) == set(BLUE_DIMENSIONS)


def test_same_vulnerability_scores_100_70_40_then_nothing() -> None:
    scored, teams = score_red(POLICY, [result(n, "CVE-2026-0001", f"host{n}", points=2000) for n in range(1, 5)])
    assert [r.points for r in scored] == [2000, 1400, 800, 0]
    assert teams[0].points == 4200
    assert scored[1].note == "同一漏洞第2次提交 ×0.7"


def test_key_unit_multiplies_the_capped_total_by_1_4() -> None:
    results = [result(n, f"V{n}", f"host{n}", type="靶标权限", points=5000) for n in range(1, 4)]
    scored, teams = score_red(POLICY, results, key_units=frozenset({"一中"}))
    # 5000 + 5000 fill the 10000 cap of 靶标权限; the third takes nothing; ×1.4 after the cap
    assert [r.points for r in scored] == [7000, 7000, 0]
    assert teams[0].by_type == {"靶标权限": 10000}
    assert teams[0].points == 14000


def test_a_breached_asset_is_withdrawn_for_every_team() -> None:
    results = [result(1, "V1", "教务系统", type="靶标权限", points=5000),
               result(2, "V2", "教务系统", type="重要数据", team="红2", points=2000),
               result(3, "V3", "门户网站", type="重要数据", team="红2", points=2000)]
    scored, _ = score_red(POLICY, results)
    assert [r.points for r in scored] == [5000, 0, 2000]
    assert scored[0].breaches_asset and scored[1].note == "资产已被击穿，不再计分"


def test_out_of_scope_assets_score_80_percent_at_most_three_times() -> None:
    results = [result(n, f"V{n}", f"外部{n}", type="其他系统权限", points=1000, in_scope=False) for n in range(1, 5)]
    scored, _ = score_red(POLICY, results)
    assert [r.points for r in scored] == [800, 800, 800, 0]


def test_the_default_points_of_a_type_apply_when_the_referee_gives_none() -> None:
    scored, _ = score_red(POLICY, [result(1, "V1", "h", type="路径")])
    assert scored[0].points == POLICY.red.types["路径"].default_points


def test_hand_computed_board_with_blue_reports() -> None:
    results = [result(1, "V1", "a1", points=2000), result(2, "V1", "a2", points=2000), result(3, "V1", "a3", points=2000)]
    partial = {"监测发现": 25, "分析研判": 15}
    reports = [BlueReportFacts("b1", "一中", "r1", full_marks(), T0 + timedelta(hours=1), bonus=500),
               BlueReportFacts("b2", "一中", "r2", partial, T0 + timedelta(hours=2), bonus=1000),
               BlueReportFacts("b3", "一中", "r2", partial, T0 + timedelta(hours=3), bonus=1000),  # same result again
               BlueReportFacts("b4", "一中", "r-unknown", full_marks(), T0 + timedelta(hours=4))]
    board = score_exercise(POLICY, results, reports, defenders=["一中", "二中"])
    # 扣分 2000 + 1400 + 800 = 4200; 基础得分 2000×100%×0.8 + 1400×40%×0.8 = 1600 + 448 = 2048; 附加分 1500
    one = board.defender("一中")
    assert (one.deduction, one.base, one.bonus) == (4200, 2048, 1500)
    assert one.protection == round((2048 / 4200 + 1500 / 3000 * 0.2) * 10000, 2) == 5876.19
    assert [r.counted for r in board.reports] == [True, True, False, False]
    assert board.reports[2].note == "该攻击成果已有报告"
    # a unit nobody took points from: (0.8 + 0/3000×0.2)×10000
    assert board.defender("二中").protection == 8000
    assert board.team_totals == {"红1": 4200}


def test_base_score_is_capped_at_80_percent_of_the_deduction_and_bonus_at_3000() -> None:
    results = [result(1, "V1", "a1", points=1000)]
    reports = [BlueReportFacts("b1", "一中", "r1", full_marks(), T0, bonus=5000)]
    one = score_exercise(POLICY, results, reports, defenders=["一中"]).defender("一中")
    assert (one.base, one.bonus) == (800, 3000)
    assert one.protection == 10000  # (800/1000 + 3000/3000×0.2)×10000


def test_only_the_first_50_reports_of_a_unit_count() -> None:
    results = [result(n, f"V{n}", f"h{n}", type="路径", points=10) for n in range(1, 53)]
    reports = [BlueReportFacts(f"b{n}", "一中", f"r{n}", full_marks(), T0 + timedelta(hours=n)) for n in range(1, 53)]
    board = score_exercise(POLICY, results, reports, defenders=["一中"])
    assert sum(r.counted for r in board.reports) == 50
    assert board.reports[-1].note == "超过50份报告上限"


def test_protection_value_without_deduction_uses_0_8() -> None:
    assert protection_value(POLICY, 0, 0, 600) == 8400


def test_a_bad_policy_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    raw = yaml.safe_load(Path("drills/policies/default.yaml").read_text(encoding="utf-8"))
    raw["blue"]["dimensions"]["监测发现"] = 30
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScoringPolicyError) as error:
        load_policy(path)
    assert str(path) in str(error.value) and "blue" in str(error.value) and "add up to 100" in str(error.value)


def test_an_edited_policy_changes_the_score(tmp_path: Path) -> None:
    raw = yaml.safe_load(Path("drills/policies/default.yaml").read_text(encoding="utf-8"))
    raw["red"]["repeat_factors"] = [1.0, 0.5]
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    scored, _ = score_red(load_policy(path), [result(n, "V", f"h{n}", points=1000) for n in range(1, 4)])
    assert [r.points for r in scored] == [1000, 500, 0]


results_strategy = st.lists(
    st.builds(
        lambda n, team, defender, asset, vuln, type_, points, in_scope: result(
            n, vuln, asset, type=type_, team=team, defender=defender, points=points, in_scope=in_scope),
        st.integers(0, 10_000), st.sampled_from(["红1", "红2"]), st.sampled_from(["一中", "二中"]),
        st.sampled_from([f"a{i}" for i in range(6)]), st.sampled_from(["V1", "V2", "V3"]), st.sampled_from(RED_TYPES),
        st.floats(0, 20_000, allow_nan=False), st.booleans(),
    ),
    max_size=40, unique_by=lambda r: r.id,
)


@settings(max_examples=150, deadline=None)
@given(results_strategy, st.booleans())
def test_caps_hold_for_any_results(results: list[AcceptedResult], key: bool) -> None:
    key_units = frozenset({"一中"}) if key else frozenset()
    scored, teams = score_red(POLICY, results, key_units)
    for team in teams:
        factor = 1.4 if team.defender in key_units else 1.0
        for type_, points in team.by_type.items():
            assert points <= POLICY.red.types[type_].cap + 1e-6
        assert team.points <= 37000 * factor + 0.01
        assert team.points == pytest.approx(sum(r.points for r in scored
                                                if (r.team, r.defender) == (team.team, team.defender)), abs=0.05)
    for facts, r in zip(sorted(results, key=lambda x: (x.submitted_at, x.id)), scored):
        assert 0 <= r.points <= (facts.points or 0) * r.key_factor + 0.01
    for team in ("红1", "红2"):
        for defender in ("一中", "二中"):
            out = [r for r in scored if (r.team, r.defender) == (team, defender) and r.scope_factor not in (0.0, 1.0)]
            assert len(out) <= POLICY.red.out_of_scope_max_results
    for vulnerability_team in {(f.team, f.vulnerability) for f in results}:
        uses = [r for f, r in zip(sorted(results, key=lambda x: (x.submitted_at, x.id)), scored)
                if (f.team, f.vulnerability) == vulnerability_team and r.repeat_factor > 0]
        assert len(uses) <= 3


@settings(max_examples=100, deadline=None)
@given(results_strategy, st.lists(st.tuples(st.integers(0, 60), st.floats(0, 100), st.floats(0, 4000)), max_size=60))
def test_blue_caps_and_protection_bounds_hold(results: list[AcceptedResult], raw_reports: list[tuple[int, float, float]]
                                              ) -> None:
    reports = [BlueReportFacts(f"b{i}", "一中", f"r{n}", {name: percent * w / 100 for name, w in POLICY.blue.dimensions.items()},
                               T0 + timedelta(seconds=i), bonus)
               for i, (n, percent, bonus) in enumerate(raw_reports)]
    board = score_exercise(POLICY, results, reports, defenders=["一中", "二中"])
    for defender in board.defenders:
        assert defender.base <= 0.8 * defender.deduction + 0.01
        assert defender.bonus <= 3000
        assert 0 <= defender.protection <= 10000 + 0.01
    assert sum(r.counted for r in board.reports) <= 50
