"""The synthetic search-ad market: hidden click/conversion ground truth, historical ads, logs.

Never a training reward: the learner sees only a CTCVR model trained on `impression_logs`;
`MarketSimulator.score_ads` stands in for the paper's online A/B test at evaluation.
"""

from relate_ray.sim.features import AdFeatures, extract_features
from relate_ray.sim.history import (
    LOG_FIELDS,
    HistoricalAd,
    historical_ads,
    impression_logs,
    write_impression_logs,
)
from relate_ray.sim.market import MarketSimulator, fatigue_multiplier
from relate_ray.sim.templates import TEMPLATE_TIERS, TEMPLATES, TIERS

__all__ = [
    "AdFeatures",
    "HistoricalAd",
    "LOG_FIELDS",
    "MarketSimulator",
    "TEMPLATES",
    "TEMPLATE_TIERS",
    "TIERS",
    "extract_features",
    "fatigue_multiplier",
    "historical_ads",
    "impression_logs",
    "write_impression_logs",
]
