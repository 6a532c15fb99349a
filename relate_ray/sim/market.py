"""The synthetic search-ad market: hidden ground-truth click and conversion rates for an ad.

The paper's click logs are private, so this simulator stands in for real searchers. It is never the
training reward: the learner only sees a CTCVR model trained on the impression logs this market
emits (`relate_ray.sim.history`), and evaluation uses `MarketSimulator.score_ads` in place of the
paper's online A/B test.

The model is two logistic regressions over `AdFeatures` (smooth, so small edits move rates a
little and large ones a lot):

* CTR rises with relevance to query and bidword, selling-point coverage, a call to action and
  readability, falls with a length far from the sweet spot, and rises with exaggerated claims
  (curiosity clicks).
* CVR rises with supported concrete facts and coverage, falls strongly with contradicted facts
  (the landing page says otherwise), a little with unsupported ones, and with exaggerated claims
  (clickers are disappointed).
* Each request has a base rate: a category effect plus a latent effect drawn deterministically
  from the request id (sha256, never Python's salted `hash()`), shifted by the simulator seed.

Fatigue is stateless: the caller passes how many times the same template (or normalised ad text)
was shown before, `exposures`, and CTR is multiplied by 1 / (1 + FATIGUE_K * log1p(exposures)).
Keeping the count outside lets the log writer count per template and lets evaluation ignore
fatigue entirely (`score_ads` uses exposures = 0, so it is deterministic).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from relate_ray.data.schema import AdRequest
from relate_ray.sim.features import AdFeatures, extract_features

FATIGUE_K = 0.06
MAX_CTR = 0.5
MAX_CVR = 0.8

# Intercepts calibrated so 100,000 logged impressions of `relate_ray.data.synth` requests come out at
# about 3 % CTR and 9 % CVR of clicks (good templates ~4 % / 20 %, bad ones ~1 % / 6 %).
CTR_INTERCEPT = -4.75
CVR_INTERCEPT = -3.25
LATENT_STD = 0.25  # per-request spread of base rates (logit), unobservable from the text

# Category effects on (CTR logit, CVR logit). Shopping and food ads get clicked and bought on
# impulse; real estate and cars are browsed, rarely bought. English keywords match whole words of
# the category name (so "skincare" is not "car"), Chinese ones match anywhere in it.
_CATEGORY_EFFECTS: tuple[tuple[tuple[str, ...], float, float], ...] = (
    (("travel", "hotel", "flight", "旅游", "酒店", "机票"), 0.10, -0.20),
    (("education", "course", "training", "教育", "培训", "课程"), 0.00, 0.10),
    (("finance", "loan", "bank", "credit", "金融", "贷款", "理财"), -0.20, 0.00),
    (("insurance", "保险"), -0.30, 0.20),
    (("health", "healthcare", "medical", "clinic", "dental", "医疗", "健康", "口腔"), 0.00, 0.00),
    (("retail", "shop", "ecommerce", "fashion", "apparel", "电商", "服饰", "零售"), 0.20, 0.20),
    (("electronic", "electronics", "tech", "phone", "数码", "电子", "手机"), 0.10, 0.00),
    (("auto", "car", "汽车"), -0.10, -0.30),
    (("estate", "property", "housing", "rental", "房产", "房地产"), -0.20, -0.40),
    (("legal", "law", "法律"), -0.30, 0.30),
    (("software", "saas", "app", "软件"), 0.00, 0.10),
    (("beauty", "cosmetic", "skincare", "美妆", "护肤"), 0.20, 0.10),
    (("home", "repair", "cleaning", "lawn", "家政", "装修", "维修"), 0.00, 0.30),
    (("food", "restaurant", "delivery", "餐饮", "外卖", "美食"), 0.30, 0.30),
    (("job", "career", "recruiting", "hiring", "招聘", "求职"), 0.10, 0.20),
)


def _unit_floats(key: str, n: int) -> list[float]:
    """n deterministic uniforms in (0, 1) from a string key (stable across runs and machines)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return [(int.from_bytes(digest[4 * i : 4 * i + 4], "little") + 0.5) / 2**32 for i in range(n)]


def _std_normal(u: float) -> float:
    """Inverse normal CDF via the logistic approximation; exactness does not matter here."""
    return math.log(u / (1.0 - u)) / 1.702


def category_effect(category: str) -> tuple[float, float]:
    """(CTR, CVR) logit shifts for a category; unknown categories get a stable hashed shift."""
    name = (category or "").lower()
    words = set(re.split(r"[^a-z]+", name))
    words |= {w[:-1] for w in words if w.endswith("s")}  # "cars", "loans"
    for keywords, ctr_shift, cvr_shift in _CATEGORY_EFFECTS:
        if any(k in words if k.isascii() else k in name for k in keywords):
            return ctr_shift, cvr_shift
    u1, u2 = _unit_floats(f"category:{name}", 2)
    return 0.6 * u1 - 0.3, 0.6 * u2 - 0.3


def fatigue_multiplier(exposures: int | np.ndarray) -> float | np.ndarray:
    """CTR multiplier after `exposures` earlier showings of the same template: 1 at first sight.

    Works on one count or on a numpy array of counts (the log writer's vectorised path).
    """
    if isinstance(exposures, np.ndarray):
        return 1.0 / (1.0 + FATIGUE_K * np.log1p(np.maximum(exposures, 0)))
    return 1.0 / (1.0 + FATIGUE_K * math.log1p(max(0, exposures)))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def ctr_logit(f: AdFeatures) -> float:
    """The ad's own contribution to the CTR logit (the request's base rate is added separately)."""
    length_dev = min(f.title_len_dev + f.desc_len_dev, 1.5)
    return (
        1.0 * f.query_relevance
        + 0.4 * f.bidword_relevance
        + 0.7 * f.coverage
        + 0.2 * f.has_cta
        + 0.1 * min(f.n_supported, 2)  # concrete numbers catch the eye
        - 0.8 * length_dev
        - 0.8 * (1.0 - f.readability)
        + 0.3 * min(f.n_exaggerations, 3)  # curiosity clicks on bold claims
    )


def cvr_logit(f: AdFeatures) -> float:
    """The ad's own contribution to the CVR logit: does the landing page keep the ad's promise?"""
    return (
        0.4 * min(f.n_supported, 3)
        - 1.0 * min(f.n_contradicted, 2)  # the price on the page is not the one in the ad
        - 0.15 * min(f.n_unsupported, 3)
        + 0.7 * f.coverage
        + 0.4 * f.query_relevance  # clicks that match the search intent convert
        - 0.45 * min(f.n_exaggerations, 3)  # disappointed clickers
        - 0.5 * (1.0 - f.readability)
    )


class MarketSimulator:
    """Hidden ground truth of the ad market. Deterministic: same seed, same rates."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        # Request base rates are looked up for every ad of a request; caching keeps logs fast.
        self._base = lru_cache(maxsize=65536)(self._compute_base)

    def _compute_base(self, request_id: str, category: str) -> tuple[float, float]:
        u_ctr, u_cvr = _unit_floats(f"market:{self.seed}:request:{request_id}", 2)
        cat_ctr, cat_cvr = category_effect(category)
        return (
            CTR_INTERCEPT + cat_ctr + LATENT_STD * _std_normal(u_ctr),
            CVR_INTERCEPT + cat_cvr + LATENT_STD * _std_normal(u_cvr),
        )

    def base_logits(self, request: AdRequest) -> tuple[float, float]:
        """The request's (CTR, CVR) base logits: category effect plus its latent effect."""
        return self._base(request.id, request.category)

    def features(self, request: AdRequest, title: str, description: str) -> AdFeatures:
        return extract_features(request, title, description)

    def rates_from_features(
        self, request: AdRequest, f: AdFeatures, exposures: int = 0
    ) -> tuple[float, float]:
        """(CTR, CVR) for already extracted features; CTR is reduced by fatigue."""
        base_ctr, base_cvr = self.base_logits(request)
        ctr = _sigmoid(base_ctr + ctr_logit(f)) * fatigue_multiplier(exposures)
        cvr = _sigmoid(base_cvr + cvr_logit(f))
        return min(ctr, MAX_CTR), min(cvr, MAX_CVR)

    def ctr_cvr(
        self, request: AdRequest, title: str, description: str, exposures: int = 0
    ) -> tuple[float, float]:
        """Hidden (CTR, CVR-of-clicks) of one ad for one request.

        `exposures` is how many times the same template was shown before (fatigue lowers CTR only:
        a jaded searcher clicks less, but one who does click is as likely to buy).
        """
        return self.rates_from_features(request, self.features(request, title, description), exposures)

    def score_ads(
        self, requests: Sequence[AdRequest], ads: Sequence[tuple[str, str]]
    ) -> list[dict[str, float]]:
        """Evaluation scores, one per (request, (title, description)) pair: ctr, cvr, ctcvr.

        No randomness and no fatigue, so the same ads always score the same.
        """
        if len(requests) != len(ads):
            raise ValueError(f"{len(requests)} requests but {len(ads)} ads; pass one request per ad")
        scores = []
        for request, (title, description) in zip(requests, ads):
            ctr, cvr = self.ctr_cvr(request, title, description)
            scores.append({"ctr": ctr, "cvr": cvr, "ctcvr": ctr * cvr})
        return scores
