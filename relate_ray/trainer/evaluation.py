"""Periodic evaluation on held-out requests: greedy ads scored by the market simulator (never the
training reward) and by the paper's offline metrics (format; compliance rate, eq. 11, from the
platform's own review, with the training checker's rate beside it). `python -m relate_ray.evaluate`
is the full offline comparison against a baseline."""

from __future__ import annotations

from statistics import mean

import ray

from relate_ray.data.adformat import parse_ad
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.compliance import check
from relate_ray.rewards.registry import reward_spec
from relate_ray.sim.market import MarketSimulator
from relate_ray.evaluation.metrics import compliance_rate
from relate_ray.evaluation.scoring import review_as_shown


def evaluate(cfg, actors, data, tokenized_prompt, version: int) -> tuple[dict, list[dict]]:
    """eval/* metrics over the first eval_prompts held-out requests, and each greedy ad as a row."""
    requests = data.valid[: cfg.trainer.eval_prompts]
    prompts = [tokenized_prompt(r) for r in requests]
    # Greedy on the first engine, through the fleet so a worker that died is restarted and caught up.
    fleet = actors.rollout
    shares = [prompts] + [[] for _ in range(len(fleet) - 1)]
    groups = fleet.generate(shares, 1, 0.0, 1.0, cfg.rollout.max_new_tokens, [None] * len(fleet), version)[0]
    ads = [parse_ad(group[0]["text"]) for group in groups]
    scores = MarketSimulator(seed=cfg.data.seed).score_ads(requests, [(a.title, a.description) for a in ads])
    predicted = _ctcvr_model_view(actors, requests, [g[0]["text"] for g in groups])
    rows = [{"request_id": r.id, "text": g[0]["text"], "format_problems": list(a.problems),
             "sim_ctcvr": s["ctcvr"]} for r, g, a, s in zip(requests, groups, ads, scores)]
    return {
        "eval/sim_ctcvr": mean(s["ctcvr"] for s in scores),
        "eval/sim_ctr": mean(s["ctr"] for s in scores),
        "eval/format_ok": mean(float(a.ok) for a in ads),
        "eval/compliance_rate": compliance_rate([review_as_shown(r, g[0]["text"]).approved for g, r in zip(groups, requests)]),
        "eval/compliance_rate_reward": compliance_rate([check(g[0]["text"], r.lang).ok for g, r in zip(groups, requests)]),
        "eval/response_length": mean(len(g[0]["token_ids"]) for g in groups),
        **predicted,
    }, rows


def _ctcvr_model_view(actors, requests, texts) -> dict:
    """eval/ctcvr_pred: the CTCVR reward model's mean pCTCVR of the greedy ads, and eval/ctcvr_reward
    its reward as trained on. Held-out requests fixed across evaluations, unlike a step's sampled
    ones, so the trend is not the noise of which requests a step drew. Empty without a CTCVR reward."""
    workers = actors.reward_workers.get(reward_spec("ctcvr").group)
    if not workers:
        return {}
    out = ray.get(workers[0].score.remote(RewardBatch(list(requests), list(texts)), only=("ctcvr",))).get("ctcvr")
    if out is None:  # the group runs, but without the CTCVR reward (a preset with relevance only)
        return {}
    extra = {"eval/ctcvr_servable_lift": out.info["servable_lift"]} if "servable_lift" in out.info else {}
    return {"eval/ctcvr_pred": out.info["p_ctcvr"], "eval/ctcvr_reward": float(out.scores.mean()), **extra}
