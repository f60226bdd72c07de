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
from detection_rules.tuning import DryRun, RuleSwitches, dry_run, parse_pasted_events
from detection_rules.indicators import Indicator, IndicatorSet
from detection_rules.yara_scan import BUNDLED_YARA, YaraHit, YaraScanner

__all__ = [
    "Alert",
    "BUNDLED_RULES",
    "BUNDLED_YARA",
    "CompiledCorrelation",
    "CompiledRule",
    "DetectionEngine",
    "DryRun",
    "RuleSwitches",
    "dry_run",
    "parse_pasted_events",
    "Indicator",
    "IndicatorSet",
    "PIPELINE_NAMES",
    "RuleError",
    "RuleFileStatus",
    "RuleSet",
    "load_ruleset",
    "YaraHit",
    "YaraScanner",
]
