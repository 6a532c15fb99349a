"""Fact extraction for the correctness reward: numbers with their units, normalized for comparison.

"$1,299", "1299 dollars", "4.8/5" and "¥50" / "50元" become (value, unit) pairs, so a claim in an ad
can be checked against the selling points and landing page: the same value is supported, the same
unit with a different value is a contradiction, a value found nowhere is unsupported (invented).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Units a number may carry, each mapped to one canonical name (checked longest first).
_UNITS = {
    "%": "percent", "percent": "percent", "％": "percent",
    "$": "usd", "usd": "usd", "dollars": "usd", "dollar": "usd",
    "€": "eur", "eur": "eur", "£": "gbp", "¥": "cny", "元": "cny", "块": "cny", "rmb": "cny",
    "days": "day", "day": "day", "天": "day", "日": "day",
    "hours": "hour", "hour": "hour", "hrs": "hour", "h": "hour", "小时": "hour",
    "minutes": "minute", "minute": "minute", "min": "minute", "mins": "minute", "分钟": "minute",
    "weeks": "week", "week": "week", "周": "week", "星期": "week",
    "months": "month", "month": "month", "个月": "month", "月": "month",
    "years": "year", "year": "year", "yrs": "year", "年": "year",
    "kg": "kg", "公斤": "kg", "千克": "kg", "km": "km", "公里": "km",
    "reviews": "review", "customers": "customer", "students": "student", "stores": "store",
    "万": "10k", "折": "discount_tenths",
    # A rating: "4.8/5" is one fact (4.8 on a scale of 5), not 4.8 and a 5 that any "/5" supports.
    "/5": "rating", "/ 5": "rating", "/10": "rating10", "stars": "rating", "star": "rating", "分": "rating",
}
_CURRENCY_PREFIX = {"$": "usd", "€": "eur", "£": "gbp", "¥": "cny", "￥": "cny"}
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True) if u not in "$€£¥")
_NUMBER = re.compile(
    r"(?P<cur>[$€£¥￥])?\s?(?P<num>\d+(?:[.,]\d+)*)\s?(?P<unit>" + _UNIT_ALT + r")?(?![A-Za-z])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Fact:
    value: float
    unit: str | None
    span: tuple[int, int]


def _to_float(text: str) -> float | None:
    cleaned = text.replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def extract_facts(text: str) -> list[Fact]:
    """Every number in `text` with its unit (currency prefix or unit word), in order."""
    facts = []
    for match in _NUMBER.finditer(text):
        value = _to_float(match.group("num"))
        if value is None:
            continue
        unit = _CURRENCY_PREFIX.get(match.group("cur") or "") or _UNITS.get((match.group("unit") or "").lower())
        facts.append(Fact(value, unit, match.span()))
    return facts


VERDICTS = ("supported", "unsupported", "contradicted")


def check_facts(ad_text: str, source_text: str) -> list[tuple[Fact, str]]:
    """Each fact of the ad with its verdict against the source text: supported (the same value with
    the same unit, or a bare number the source holds), contradicted (a unit the source states with
    another value: a wrong price or rating) or unsupported (a value the source never gives)."""
    source = extract_facts(source_text)
    values = {f.value for f in source}
    by_unit: dict[str, set[float]] = {}
    for fact in source:
        if fact.unit:
            by_unit.setdefault(fact.unit, set()).add(fact.value)
    verdicts = []
    for fact in extract_facts(ad_text):
        if fact.value in (by_unit.get(fact.unit, set()) if fact.unit else values):
            verdicts.append((fact, "supported"))
        elif fact.unit and fact.unit in by_unit:
            verdicts.append((fact, "contradicted"))
        else:
            verdicts.append((fact, "unsupported"))
    return verdicts


def judge_facts(ad_text: str, source_text: str) -> tuple[int, int, int]:
    """(supported, unsupported, contradicted) counts of the ad's facts against the source text."""
    kinds = [kind for _, kind in check_facts(ad_text, source_text)]
    return tuple(kinds.count(k) for k in VERDICTS)  # type: ignore[return-value]
