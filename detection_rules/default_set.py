"""The detection set a deployment runs: built once from the settings, used by ``edusoc run`` and ``edusoc detect``.

One function so that ``edusoc detect --events F`` with no rule flags finds exactly what the
collector would: the Sigma pack, the YARA pack, the indicator lists and the OWASP CRS.
Everything that could not be loaded is kept as a problem line (file and reason) and the rest
still loads: a missing CRS directory leaves the CRS out with the reason, never the service down.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from detection_rules.crs import CrsEngine, CrsError
from detection_rules.engine import DetectionEngine, RuleSet, RuleSwitchesLike, load_ruleset
from detection_rules.indicators import IndicatorSet
from detection_rules.yara_scan import YaraScanner
from soc_core.config import CrsSettings, DetectionSettings


@dataclass
class DetectionSet:
    ruleset: RuleSet
    yara: YaraScanner | None  # default_detection always builds one (uploads are scanned with it too)
    indicators: IndicatorSet | None
    crs: CrsEngine | None
    problems: list[str] = field(default_factory=list)  # "<what> left out: <where>: <why>", one per problem

    def engine(self, switches: RuleSwitchesLike | None = None) -> DetectionEngine:
        return DetectionEngine(self.ruleset, yara=self.yara, indicators=self.indicators, crs=self.crs, switches=switches)

    def describe(self) -> str:
        parts = [f"{len(self.ruleset.rules)} Sigma rules"]
        if self.yara is not None:
            parts.append(f"{self.yara.rule_count} YARA rules")
        if self.indicators is not None:
            parts.append(f"{len(self.indicators)} indicators")
        if self.crs is not None:
            parts.append(f"{self.crs.version} ({self.crs.rule_count} rules + {self.crs.supplement_rule_count} edusoc, "
                         f"paranoia level {self.crs.paranoia_level}, threshold {self.crs.anomaly_threshold})")
        return ", ".join(parts)


def load_crs(settings: CrsSettings) -> tuple[CrsEngine | None, str | None]:
    """The CRS engine of ``settings``, or None and why not (switched off, or the rules cannot be loaded)."""
    if not settings.enabled:
        return None, None
    try:
        engine = CrsEngine(Path(settings.rules_dir), paranoia_level=settings.paranoia_level,
                           anomaly_threshold=settings.anomaly_threshold, skip_static=settings.skip_static,
                           max_body_bytes=settings.max_body_bytes, supplement=settings.supplement)
    except (CrsError, ImportError) as error:
        return None, f"OWASP CRS left out: {error}"
    return engine, None


def default_detection(settings: DetectionSettings) -> DetectionSet:
    """Sigma, YARA, indicators and the CRS as ``settings`` name them."""
    problems: list[str] = []
    ruleset = load_ruleset([Path(p) for p in settings.sigma_paths], placeholders=settings.placeholders)
    problems += [f"rule rejected: {error}" for error in ruleset.errors]
    yara = YaraScanner([Path(p) for p in settings.yara_paths], timeout_seconds=settings.yara_timeout_seconds,
                       max_bytes=settings.yara_max_bytes)
    problems += [f"YARA file left out: {error}" for error in yara.errors]
    indicators = IndicatorSet()
    for path in settings.indicator_paths:
        indicators.load_file(Path(path))
    problems += [f"indicator skipped: {problem}" for problem in indicators.problems]
    crs, crs_problem = load_crs(settings.crs)
    if crs_problem:
        problems.append(crs_problem)
    return DetectionSet(ruleset, yara, indicators if len(indicators) else None, crs, problems)
