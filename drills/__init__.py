"""Red-blue exercises (攻防演练): scoring policy and scoring, scenario replay and detection coverage."""
from drills.scoring import (
    AcceptedResult, BlueReportFacts, DefenderScore, Scoreboard, ScoredReport, ScoredResult, TeamScore, protection_value,
    score_blue, score_exercise, score_red,
)
from drills.scoring_policy import (
    BLUE_DIMENSIONS, DEFAULT_POLICY, RED_TYPES, ScoringPolicy, ScoringPolicyError, load_policy,
)

__all__ = [
    "AcceptedResult", "BlueReportFacts", "DefenderScore", "Scoreboard", "ScoredReport", "ScoredResult", "TeamScore",
    "protection_value", "score_blue", "score_exercise", "score_red",
    "BLUE_DIMENSIONS", "DEFAULT_POLICY", "RED_TYPES", "ScoringPolicy", "ScoringPolicyError", "load_policy",
]
