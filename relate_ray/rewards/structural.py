"""Structural quality (paper 3.3.1): the length and format rewards."""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import NoOptions, check_option, register_reward

from relate_ray.data.adformat import LENGTH_LIMITS


def interval_score(length: int, low: int, high: int) -> float:
    """1 inside [low, high]; outside, falls linearly with the distance, reaching -1 at one
    interval-width away (and staying there)."""
    if low <= length <= high:
        return 1.0
    distance = low - length if length < low else length - high
    return max(-1.0, 1.0 - 2.0 * distance / max(high - low, 1))


@dataclass(frozen=True)
class LengthOptions:
    # chars | words: the unit of English lengths (Chinese is always counted in characters).
    en_unit: str = "chars"
    # Target intervals per key (zh, en, en_words) replacing the product's limits (a run supplies
    # its config's ad.length_limits; built directly: adformat.LENGTH_LIMITS):
    # {zh: {title: [10, 25], description: [25, 70]}}.
    intervals: dict | None = None

    def __post_init__(self) -> None:
        check_option(self.en_unit in ("chars", "words"), "en_unit", "must be chars or words", self.en_unit)
        for key, fields in (self.intervals or {}).items():
            check_option(key in LENGTH_LIMITS, f"intervals.{key}", f"must be one of "
                         f"{', '.join(LENGTH_LIMITS)}", key)
            for name, bounds in fields.items():
                check_option(name in ("title", "description") and len(bounds) == 2 and bounds[0] <= bounds[1],
                             f"intervals.{key}.{name}", "must be title or description: [low, high]", bounds)


def length_limits(cfg, lang: str) -> dict[str, tuple[int, int]]:
    """A run's character limits for one language: {"title": (low, high), "description": ...}."""
    from relate_ray.config import plain

    limits = plain(cfg.ad.length_limits)
    key = lang if lang in limits else "en"
    return {name: tuple(bounds) for name, bounds in limits[key].items()}


def _length_run_options(cfg, data) -> dict:
    from relate_ray.config import plain

    return {"intervals": plain(cfg.ad.length_limits)}


@register_reward("length", options=LengthOptions, run_options=_length_run_options)
class LengthReward:
    """Mean over title and description of `interval_score`; a missing field scores -1."""

    def __init__(self, options: LengthOptions | None = None) -> None:
        options = options or LengthOptions()
        self.en_unit = options.en_unit
        self.intervals = {key: {**fields, **((options.intervals or {}).get(key) or {})}
                          for key, fields in LENGTH_LIMITS.items()}

    def _length(self, text: str, lang: str) -> int:
        return len(text.split()) if lang == "en" and self.en_unit == "words" else len(text)

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        scores = np.zeros(len(batch), dtype=np.float32)
        for i, (request, ad) in enumerate(zip(batch.requests, batch.ads)):
            key = "en_words" if request.lang == "en" and self.en_unit == "words" else request.lang
            parts = []
            for field_name, value in (("title", ad.title), ("description", ad.description)):
                low, high = self.intervals[key][field_name]
                parts.append(interval_score(self._length(value, request.lang), low, high) if value else -1.0)
            scores[i] = float(np.mean(parts))
        return RewardOutput("length", scores)


@register_reward("format")
class FormatReward:
    """1 for an exact two-line answer; 0 when both fields parse but something else is wrong
    (chatter, markdown, a repeated field, or the answer was cut by the token budget); -1 when a
    field is missing or empty.

    A cut answer ends mid-phrase, often mid-number ("Resume packages from $2" for $209, "rated 4."),
    which the platform's review reads as a contradiction. In the first pipeline run RL from SFT
    ended 142 and 118 of 200 held-out ads at the budget (two seeds; SFT 71), and 7 of 9 and 14 of 21
    of its rejected ads were such cut ones."""

    def __init__(self, options: NoOptions | None = None) -> None:
        pass

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        scores = np.zeros(len(batch), dtype=np.float32)
        truncated = batch.truncated if len(batch.truncated) == len(batch) else [False] * len(batch)
        for i, ad in enumerate(batch.ads):
            if ad.ok and not truncated[i]:
                scores[i] = 1.0
            elif any(p.startswith(("missing", "empty")) for p in ad.problems):
                scores[i] = -1.0
        info = {"truncated": float(np.mean(truncated))} if len(batch) else {}
        return RewardOutput("format", scores, info=info)
