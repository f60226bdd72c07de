"""Sigma rules compiled into predicates over ECS events, and the alerts they raise."""
from detection_rules.alerts import Alert
from detection_rules.engine import (
    BUNDLED_RULES,
    CompiledCorrelation,
    CompiledRule,
    DetectionEngine,
    RuleError,
    RuleFileStatus,
    RuleSet,
    load_ruleset,
)
from detection_rules.field_mapping import PIPELINE_NAMES

__all__ = [
    "Alert",
    "BUNDLED_RULES",
    "CompiledCorrelation",
    "CompiledRule",
    "DetectionEngine",
    "PIPELINE_NAMES",
    "RuleError",
    "RuleFileStatus",
    "RuleSet",
    "load_ruleset",
]
