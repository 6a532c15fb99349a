"""Every per-ad score of an evaluated policy, and the policy's summary metrics (Table 1 and 3).

One `AdScorer` holds the scorers once for a whole evaluation: the reward components as training
builds them (length, format, correctness, relevance, risk, diversity), the CTCVR model, the market
simulator (ground truth) and the platform's independent review (`relate_ray.sim.review`).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean

import numpy as np

from relate_ray.data.schema import AdRequest
from relate_ray.evaluation.metrics import compliance_rate, distinct_n, diversity_unit, self_bleu, unit_score
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.registry import build_reward, component_options, reward_spec

STRUCTURAL = ("length", "format")
SEMANTIC = ("correctness", "relevance", "risk")


class AdScorer:
    def __init__(self, cfg, data, group_size: int) -> None:
        """group_size: ads per request in the evaluated set (the diversity scorer's document)."""
        from relate_ray.ctcvr.scorer import CTCVRScorer
        from relate_ray.ctcvr.train import model_for_run
        from relate_ray.sim.market import MarketSimulator

        self.components = {name: build_reward(name, **component_options(cfg, data, name))
                           for name in (*STRUCTURAL, *SEMANTIC)}
        # Eq. 12 as training sees it: documents of G ads (rollout.group_size), a training step's
        # prompts_per_step documents per batch, templates judged over the batch and the diversity
        # reward's window of past batches. With G samples per request a document is one request's
        # answers, exactly as in training; greedy, it is G consecutive requests' ads.
        diversity = {**component_options(cfg, data, "diversity"), "group_size": cfg.rollout.group_size}
        self.diversity_options = reward_spec("diversity").parse(diversity)
        self.diversity_batch = cfg.trainer.prompts_per_step * cfg.rollout.group_size
        self.ctcvr = CTCVRScorer(model_for_run(cfg, data.embedded_root))
        self.market = MarketSimulator(seed=cfg.data.seed)
        self.tokenizer = data.tokenizer

    def score(self, requests: Sequence[AdRequest], texts: Sequence[str]) -> list[dict]:
        """One row per ad: every score, for ad i answering requests[i]."""
        from relate_ray.rewards.compliance import check
        from relate_ray.rewards.tokens import token_char_spans

        token_ids = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        spans = [token_char_spans(self.tokenizer, ids) for ids in token_ids]
        batch = RewardBatch(list(requests), list(texts), token_ids, spans)
        scores = {name: component(batch).scores for name, component in self.components.items()}
        scores["diversity"] = diversity_as_trained(self.diversity_options, batch, self.diversity_batch)
        ads = batch.content_ads()
        ctr_pred, ctcvr_pred = self.ctcvr.predict(batch.requests, ads)
        market = self.market.score_ads(batch.requests, [(a.title, a.description) for a in batch.ads])
        structural = np.mean([unit_score(scores[n]) for n in STRUCTURAL], axis=0)
        semantic = np.mean([unit_score(scores[n]) for n in SEMANTIC], axis=0)
        rows = []
        for i, (request, text, ad) in enumerate(zip(batch.requests, batch.texts, batch.ads)):
            decision = review_as_shown(request, text)
            rows.append({
                "request_id": request.id, "lang": request.lang, "text": text, "title": ad.title,
                "description": ad.description, "format_ok": bool(ad.ok), "approved": decision.approved,
                "review_reasons": list(decision.reasons), "compliant_reward": check(text, request.lang).ok,
                **{name: float(values[i]) for name, values in scores.items()},
                "structural": float(structural[i]), "semantic": float(semantic[i]),
                "ctr_pred": float(ctr_pred[i]), "ctcvr_pred": float(ctcvr_pred[i]),
                "ctr_sim": market[i]["ctr"], "ctcvr_sim": market[i]["ctcvr"], "tokens": len(token_ids[i]),
            })
        return rows


def diversity_as_trained(options, batch: RewardBatch, step_ads: int) -> np.ndarray:
    """[N] eq. 4 of each ad as a training step would score it: the ads in order, `step_ads` at a
    time (a step's prompts x G), in documents of options.group_size ads, each batch judged with the
    batches before it in the diversity reward's window (its window_steps, min_doc_freq, min_docs).
    A fresh window per call: the evaluated set is judged on its own.

    With every ad its own document over the whole set at once, a phrase had to recur in half of
    200 ads to count, and nothing did (eq. 12 was 1.000 for every policy). Training judges
    documents of G answers, so a phrase in a fifth of the ads is in most documents: a policy that
    writes it for request after request is penalized, in training and now in eq. 12."""
    scorer = reward_spec("diversity").component(options)
    parts = [scorer(batch.select(list(range(start, min(start + step_ads, len(batch)))))).scores
             for start in range(0, len(batch), step_ads)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def review_as_shown(request: AdRequest, text: str):
    """The platform's review of an answer as it would be shown: its fields, or the whole text when
    it has neither (`RewardBatch.content_ads`), so an unparsable answer is not approved for saying
    nothing."""
    from relate_ray.sim.review import review

    ad = RewardBatch([request], [text]).content_ads()[0]
    return review(request, ad.title, ad.description)


def summarize(rows: Sequence[dict], max_penalty: float = 1.0) -> dict:
    """The policy's metrics over its scored ads (flat keys, as report.json holds them)."""
    texts = [f"{r['title']} {r['description']}".strip() or r["text"] for r in rows]
    lang = rows[0]["lang"] if rows else "en"
    return {
        "num_ads": len(rows),
        "num_requests": len({r["request_id"] for r in rows}),
        "format_ok": mean(float(r["format_ok"]) for r in rows),
        "compliance_rate": compliance_rate([r["approved"] for r in rows]),
        "compliance_rate_reward": compliance_rate([r["compliant_reward"] for r in rows]),
        "diversity": diversity_unit(np.array([r["diversity"] for r in rows]), max_penalty),
        "distinct_2": distinct_n(texts, 2, lang),
        "distinct_3": distinct_n(texts, 3, lang),
        "self_bleu": self_bleu(texts, lang),
        "structural_quality": mean(r["structural"] for r in rows),
        "semantic_quality": mean(r["semantic"] for r in rows),
        "ctcvr_pred": mean(r["ctcvr_pred"] for r in rows),
        "ctr_sim": mean(r["ctr_sim"] for r in rows),
        "ctcvr_sim": mean(r["ctcvr_sim"] for r in rows),
        "response_tokens": mean(r["tokens"] for r in rows),
    }


def per_request(rows: Sequence[dict], key: str, request_ids: Sequence[str]) -> np.ndarray:
    """[N] mean of `key` over each request's ads, in the order of `request_ids`."""
    values: dict[str, list[float]] = {}
    for r in rows:
        values.setdefault(r["request_id"], []).append(r[key])
    return np.array([mean(values[i]) for i in request_ids], dtype=np.float64)
