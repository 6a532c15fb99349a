"""Historical ads and the impression logs the CTCVR reward model is trained on.

Before RELATE, ads were written from templates of varying quality; the market showed them and
logged clicks and conversions. This module writes such ads for any `AdRequest` from the
templates in `relate_ray.sim.templates` (good, mediocre, bad and risky, per language) and samples
impression logs from the hidden `MarketSimulator`, with template fatigue.

Logs are deterministic for a seed: the ad texts of a request depend only on (seed, request id),
and the impressions are drawn from one seeded numpy Generator.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relate_ray.data.schema import AdRequest
from relate_ray.sim.market import MarketSimulator, fatigue_multiplier
from relate_ray.sim.templates import TEMPLATES, Template, make_slots

log = logging.getLogger(__name__)

LOG_FIELDS = (
    "request_id", "query", "bidword", "category", "lang",
    "title", "description", "template_id", "click", "conversion",
)


@dataclass(frozen=True)
class HistoricalAd:
    """One ad written from a template for one request."""

    title: str
    description: str
    template_id: str
    tier: str


def templates_for(lang: str) -> tuple[Template, ...]:
    """The template set of a language (English for anything unknown)."""
    return TEMPLATES.get(lang, TEMPLATES["en"])


def historical_ads(request: AdRequest, rng: random.Random) -> list[HistoricalAd]:
    """One ad per template of the request's language; `rng` picks selling points and wording."""
    slots = make_slots(request, rng)
    ads = []
    for template in templates_for(request.lang):
        title, description = template.render(slots, rng)
        ads.append(HistoricalAd(title, description, template.template_id, template.tier))
    return ads


def _request_rng(seed: int, request_id: str) -> random.Random:
    """A per-request text rng, so an ad's wording does not depend on sampling order."""
    digest = hashlib.sha256(f"history:{seed}:{request_id}".encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _running_ads(request: AdRequest, seed: int, k: int) -> list[HistoricalAd]:
    """The k historical ads a request runs: a seeded choice, independent of sampling order."""
    rng = _request_rng(seed, request.id)
    candidates = historical_ads(request, rng)
    return rng.sample(candidates, min(k, len(candidates)))


def _prior_exposures(keys: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same key (vectorised cumcount)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    counts = np.empty(len(keys), dtype=np.int64)
    counts[order] = np.arange(len(keys)) - group_start
    return counts


def impression_logs(
    requests: Sequence[AdRequest],
    n_impressions: int,
    seed: int,
    market: MarketSimulator | None = None,
    ads_per_request: int = 4,
) -> list[dict[str, Any]]:
    """Sample `n_impressions` impression rows (fields `LOG_FIELDS`) from the market.

    Each request runs `ads_per_request` of its historical ads (a seeded per-request choice among the
    templates, as an advertiser runs a handful of ads per ad group: more impressions per ad, and far
    fewer distinct ad texts for the CTCVR model to embed). Each impression picks a request
    uniformly, then one of its running ads uniformly; the
    ad's CTR is reduced by fatigue, counted as the template's earlier showings in this log. Clicks
    are Bernoulli(CTR); a conversion is only possible after a click, Bernoulli(CVR).
    Rates are computed once per (request, ad) pair that gets sampled, then reused.
    """
    if not requests:
        raise ValueError("impression_logs needs at least one request")
    market = market or MarketSimulator(seed=seed)
    rng = np.random.default_rng(seed)
    req_idx = rng.integers(0, len(requests), size=n_impressions)
    n_templates = np.array([min(ads_per_request, len(templates_for(r.lang))) for r in requests])
    ad_idx = np.floor(rng.random(n_impressions) * n_templates[req_idx]).astype(np.int64)
    click_draw = rng.random(n_impressions)
    conv_draw = rng.random(n_impressions)

    req_list, ad_list = req_idx.tolist(), ad_idx.tolist()  # Python ints: fast dict keys
    ads = {i: _running_ads(requests[i], seed, ads_per_request) for i in set(req_list)}
    rates: dict[tuple[int, int], tuple[float, float]] = {}
    for pair in sorted(set(zip(req_list, ad_list))):
        ad = ads[pair[0]][pair[1]]
        rates[pair] = market.ctr_cvr(requests[pair[0]], ad.title, ad.description)

    shown = [ads[i][j] for i, j in zip(req_list, ad_list)]
    codes: dict[str, int] = {}
    template_codes = np.array([codes.setdefault(ad.template_id, len(codes)) for ad in shown])
    exposures = _prior_exposures(template_codes)
    pair_rates = np.array([rates[pair] for pair in zip(req_list, ad_list)]).reshape(-1, 2)
    ctr = pair_rates[:, 0] * fatigue_multiplier(exposures)
    clicks = click_draw < ctr
    conversions = clicks & (conv_draw < pair_rates[:, 1])

    rows = []
    for i, ad, click, conversion in zip(req_list, shown, clicks.tolist(), conversions.tolist()):
        request = requests[i]
        rows.append({
            "request_id": request.id, "query": request.query, "bidword": request.bidword,
            "category": request.category, "lang": request.lang,
            "title": ad.title, "description": ad.description, "template_id": ad.template_id,
            "click": int(click), "conversion": int(conversion),
        })
    log.info(
        "impression log: %d impressions, %d pairs, CTR %.4f, CVR of clicks %.4f",
        n_impressions, len(rates), clicks.mean() if n_impressions else 0.0,
        conversions.sum() / max(1, clicks.sum()),
    )
    return rows


def write_impression_logs(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL (UTF-8, Chinese kept readable, atomic); returns the number of rows written."""
    from relate_ray.data.writers import write_jsonl

    return write_jsonl(path, rows)
