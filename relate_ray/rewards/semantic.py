"""Semantic quality (paper 3.3.1): correctness (facts against the request) and relevance."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import NoOptions, check_option, register_reward
from relate_ray.rewards.facts import judge_facts


@register_reward("correctness")
class CorrectnessReward:
    """(supported - unsupported - 2 * contradicted) / facts, in [-1, 1]; an ad without facts scores 0.

    Sources are the request's selling points and landing page: the only facts the advertiser gave.
    """

    def __init__(self, options: NoOptions | None = None) -> None:
        pass

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        scores = np.zeros(len(batch), dtype=np.float32)
        contradicted_total = 0
        for i, (request, ad) in enumerate(zip(batch.requests, batch.ads)):
            source = " ".join([*request.selling_points, request.landing_page or ""])
            supported, unsupported, contradicted = judge_facts(ad.text, source)
            n = supported + unsupported + contradicted
            contradicted_total += contradicted
            if n:
                scores[i] = float(np.clip((supported - unsupported - 2 * contradicted) / n, -1.0, 1.0))
        return RewardOutput("correctness", scores, info={"contradicted_facts": float(contradicted_total)})


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
    sim_weight: float = 0.7
    coverage_weight: float = 0.3
    batch_size: int = 64
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_option(self.batch_size >= 1, "batch_size", "must be at least 1", self.batch_size)


@register_reward("relevance", options=RelevanceOptions, run_options=lambda cfg, data: {"embedder": cfg.model.embedder})
class RelevanceReward:
    """w_sim * mean cosine(ad, query), cosine(ad, bidword) + w_cov * bidword coverage.

    The embedder is a sentence-transformers model (default: the bundled all-MiniLM-L6-v2; paper:
    Qwen3-Embedding-0.6B), loaded once per scorer.
    """

    def __init__(self, options: RelevanceOptions | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        from relate_ray.assets import DEFAULT_EMBEDDER, resolve_model

        options = options or RelevanceOptions()
        self.model = SentenceTransformer(str(resolve_model(options.embedder or DEFAULT_EMBEDDER)),
                                         device=options.device)
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
