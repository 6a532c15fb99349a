"""Semantic quality (paper 3.3.1): correctness (facts against the request) and relevance."""

from __future__ import annotations

import re

import numpy as np

from relate_ray.rewards.base import RewardBatch, RewardOutput, register_reward
from relate_ray.rewards.facts import judge_facts


@register_reward("correctness")
class CorrectnessReward:
    """(supported - unsupported - 2 * contradicted) / facts, in [-1, 1]; an ad without facts scores 0.

    Sources are the request's selling points and landing page: the only facts the advertiser gave.
    """

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


@register_reward("relevance")
class RelevanceReward:
    """w_sim * mean cosine(ad, query), cosine(ad, bidword) + w_cov * bidword coverage.

    The embedder is a sentence-transformers model (default: the bundled all-MiniLM-L6-v2; paper:
    Qwen3-Embedding-0.6B), loaded once per scorer.
    """

    def __init__(self, embedder: str = "all-minilm-l6-v2", sim_weight: float = 0.7,
                 coverage_weight: float = 0.3, batch_size: int = 64, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        from relate_ray.assets import resolve_model

        self.model = SentenceTransformer(str(resolve_model(embedder)), device=device)
        self.sim_weight, self.coverage_weight, self.batch_size = sim_weight, coverage_weight, batch_size

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
