"""The scoring policy of an exercise: a YAML file (drills/policies/default.yaml holds the public defaults), parsed once."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUNDLED_POLICIES = Path(__file__).resolve().parent / "policies"
DEFAULT_POLICY = BUNDLED_POLICIES / "default.yaml"

RED_TYPES = ("路径", "边界突破", "靶标权限", "重要数据", "其他系统权限")
BLUE_DIMENSIONS = ("监测发现", "分析研判", "应急处置", "通报预警", "协同联动", "追踪溯源")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedTypeRule(_Spec):
    cap: float = Field(ge=0, description="most points of this type one team takes from one defender")
    default_points: float = Field(ge=0, description="points of one accepted result when the referee gives none")


class RedRules(_Spec):
    cap_per_team_per_defender: float = Field(ge=0)
    types: dict[str, RedTypeRule]
    repeat_factors: list[float] = Field(min_length=1)
    repeat_counted_per: Literal["team", "team_and_defender"] = "team"
    key_unit_multiplier: float = Field(gt=0)
    out_of_scope_multiplier: float = Field(ge=0)
    out_of_scope_max_results: int = Field(ge=0)
    breach_types: list[str] = []

    @model_validator(mode="after")
    def _known_types(self) -> RedRules:
        unknown = [name for name in [*self.types, *self.breach_types] if name not in RED_TYPES]
        if unknown:
            raise ValueError(f"unknown result type(s) {unknown}; expected some of {list(RED_TYPES)}")
        if any(not 0 <= factor <= 1 for factor in self.repeat_factors):
            raise ValueError("repeat_factors must each lie in [0, 1]")
        return self


class BlueRules(_Spec):
    dimensions: dict[str, float]
    report_factor: float = Field(gt=0, le=1)
    base_cap_fraction: float = Field(ge=0, le=1)
    bonus_cap: float = Field(gt=0)
    max_reports: int = Field(ge=1)

    @model_validator(mode="after")
    def _six_dimensions(self) -> BlueRules:
        if set(self.dimensions) != set(BLUE_DIMENSIONS):
            raise ValueError(f"dimensions must be exactly {list(BLUE_DIMENSIONS)}, got {list(self.dimensions)}")
        if abs(sum(self.dimensions.values()) - 100) > 1e-9:
            raise ValueError(f"dimension weights must add up to 100, they add up to {sum(self.dimensions.values())}")
        return self


class ProtectionRules(_Spec):
    bonus_weight: float = Field(ge=0)
    undeducted_ratio: float = Field(ge=0, le=1)
    scale: float = Field(gt=0)


class ScoringPolicy(_Spec):
    name: str
    title: str
    red: RedRules
    blue: BlueRules
    protection: ProtectionRules

    def type_rule(self, result_type: str) -> RedTypeRule:
        """The cap and default points of ``result_type``; a type the policy leaves out scores nothing."""
        return self.red.types.get(result_type, RedTypeRule(cap=0, default_points=0))


class ScoringPolicyError(ValueError):
    """A policy file cannot be used; the message names the file and the field."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def load_policy(path: Path = DEFAULT_POLICY) -> ScoringPolicy:
    """Parse and validate one policy file."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScoringPolicyError(Path(path), f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScoringPolicyError(Path(path), f"not valid YAML: {exc}") from exc
    try:
        return ScoringPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(top)'}: {err['msg']}" for err in exc.errors())
        raise ScoringPolicyError(Path(path), problems) from exc
