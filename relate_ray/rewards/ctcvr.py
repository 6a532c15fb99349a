"""The CTCVR reward (paper 3.3.3): the learned model's predicted CTCVR for each candidate ad.

Relative mode scores log(pCTCVR(ad) / pCTCVR(reference ad)) per request (the reference being the
request's `ref_title`/`ref_description`, or the bidword as a bare title when it has none); absolute mode
scores pCTCVR in percent. Group normalization removes per-request constants either way; the choice
sets the reward's scale next to the other components.
"""

from __future__ import annotations

import numpy as np

from relate_ray.data.adformat import ParsedAd
from relate_ray.rewards.base import RewardBatch, RewardOutput, register_reward


@register_reward("ctcvr")
class CTCVRReward:
    def __init__(self, model_dir: str, relative: bool = False, scale: float = 100.0) -> None:
        from relate_ray.ctcvr.scorer import CTCVRScorer

        self.scorer = CTCVRScorer(model_dir)
        self.relative, self.scale = relative, scale

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        from relate_ray.ctcvr.scorer import ctcvr_reward

        p_ctr, p_ctcvr = self.scorer.predict(batch.requests, batch.content_ads())
        baseline = None
        if self.relative:
            refs = [ParsedAd(r.ref_title or r.bidword, r.ref_description or "", ok=True) for r in batch.requests]
            baseline = self.scorer.predict(batch.requests, refs)[1]
        scores = ctcvr_reward(p_ctcvr, baseline, self.scale)
        return RewardOutput("ctcvr", scores, info={"p_ctr": float(np.mean(p_ctr)), "p_ctcvr": float(np.mean(p_ctcvr))})
