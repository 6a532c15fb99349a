"""Semantic quality (paper 3.3.1): correctness (facts against the request) and relevance."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import EMBEDDER_GROUP, check_option, register_reward
from relate_ray.rewards.tokens import spans_to_token_flags


@dataclass(frozen=True)
class CorrectnessOptions:
    # Bad facts that take the score to -1: an unsupported number counts 1, a contradicted one 2.
    cap: int = 2

    def __post_init__(self) -> None:
        check_option(self.cap >= 1, "cap", "must be at least 1", self.cap)


def correctness_score(supported: int, unsupported: int, contradicted: int, cap: int = 2) -> float:
    """One answer's correctness in [-1, 1] from its facts' verdicts.

    Any number the sources do not support costs, however many supported ones surround it:
    -(unsupported + 2 * contradicted) / cap, down to -1. An answer whose every number is supported
    scores 1, one without numbers 0. (Averaging supported against bad facts let an invented rating
    pass beside a true price: 92 % of RELATE's ads scored >= 0 while the platform rejected their
    numbers.)"""
    bad = unsupported + 2 * contradicted
    if bad:
        return -min(bad, cap) / cap
    return 1.0 if supported else 0.0


@register_reward("correctness", options=CorrectnessOptions, token_coefficient="lambda1")
class CorrectnessReward:
    """Facts against the request: `correctness_score` per answer; flags the tokens of every number
    the sources do not support (its token-level form, eq. 5 with lambda1: a false claim is a
    risk-control violation whose span is known).

    Sources are the request's selling points and landing page: the only facts the advertiser gave.
    """

    def __init__(self, options: CorrectnessOptions | None = None) -> None:
        self.cap = (options or CorrectnessOptions()).cap

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        from relate_ray.rewards.facts import check_facts

        scores = np.zeros(len(batch), dtype=np.float32)
        flags = [] if len(batch.token_spans) == len(batch) else None
        counts = {"supported": 0, "unsupported": 0, "contradicted": 0}
        for i, (request, text) in enumerate(zip(batch.requests, batch.texts)):
            source = " ".join([*request.selling_points, request.landing_page or ""])
            verdicts = check_facts(text, source)
            kinds = [kind for _, kind in verdicts]
            for kind in counts:
                counts[kind] += kinds.count(kind)
            scores[i] = correctness_score(kinds.count("supported"), kinds.count("unsupported"),
                                          kinds.count("contradicted"), self.cap)
            if flags is not None:
                bad = [fact.span for fact, kind in verdicts if kind != "supported"]
                flags.append(spans_to_token_flags(batch.token_spans[i], bad))
        info = {"contradicted_facts": float(counts["contradicted"]), "unsupported_facts": float(counts["unsupported"]),
                "pass_rate": float(np.mean(scores >= 0)) if len(batch) else 0.0}
        return RewardOutput("correctness", scores, flags, info=info)


def _terms(text: str, lang: str) -> set[str]:
    """Words for English, character bigrams for Chinese (no spaces to split on)."""
    text = text.lower()
    if lang == "zh":
        chars = [c for c in text if not c.isspace()]
        return {a + b for a, b in zip(chars, chars[1:])} or set(chars)
    return set(re.findall(r"[a-z0-9]+", text))


def bidword_coverage(ad_text: str, bidword: str, lang: str) -> float:
    """Share of the bidword's terms that the ad contains."""
    wanted = _terms(bidword, lang)
    return len(wanted & _terms(ad_text, lang)) / len(wanted) if wanted else 0.0


@dataclass(frozen=True)
class RelevanceOptions:
    # The sentence-transformers embedder (a bundled name or a folder); empty: model.embedder.
    embedder: str = ""
    # Its dtype (float32 | bfloat16 | auto); the run passes model.embedder_dtype.
    embedder_dtype: str = "float32"
    sim_weight: float = 0.7
    coverage_weight: float = 0.3
    batch_size: int = 64
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_option(self.batch_size >= 1, "batch_size", "must be at least 1", self.batch_size)


def _relevance_run_options(cfg, data) -> dict:
    return {"embedder": cfg.model.embedder, "embedder_dtype": cfg.model.embedder_dtype}


@register_reward("relevance", options=RelevanceOptions, group=EMBEDDER_GROUP, run_options=_relevance_run_options)
class RelevanceReward:
    """w_sim * mean cosine(ad, query), cosine(ad, bidword) + w_cov * bidword coverage.

    The embedder is a sentence-transformers model (default: the bundled all-MiniLM-L6-v2; paper:
    Qwen3-Embedding-0.6B), the run's model.embedder: in the CTCVR reward's worker group, so the two
    share one copy of it.
    """

    def __init__(self, options: RelevanceOptions | None = None) -> None:
        from relate_ray.assets import DEFAULT_EMBEDDER, resolve_model
        from relate_ray.ctcvr.features import load_embedder

        options = options or RelevanceOptions()
        self.model = load_embedder(str(resolve_model(options.embedder or DEFAULT_EMBEDDER)), options.device,
                                   options.embedder_dtype)
        self.sim_weight, self.coverage_weight = options.sim_weight, options.coverage_weight
        self.batch_size = options.batch_size

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        ads = [ad.text or text for ad, text in zip(batch.ads, batch.texts)]
        # Queries and bidwords repeat G times in a batch: embed each distinct string once.
        keys = sorted({s for r in batch.requests for s in (r.query, r.bidword)})
        key_vectors = dict(zip(keys, self._embed(keys)))
        ad_vectors = self._embed(ads)
        scores = np.zeros(len(batch), dtype=np.float32)
        for i, (request, vector) in enumerate(zip(batch.requests, ad_vectors)):
            similarity = 0.5 * (vector @ key_vectors[request.query] + vector @ key_vectors[request.bidword])
            coverage = bidword_coverage(ads[i], request.bidword, request.lang)
            scores[i] = self.sim_weight * float(similarity) + self.coverage_weight * coverage
        return RewardOutput("relevance", scores)
