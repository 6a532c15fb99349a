"""The CTCVR reward (paper 3.3.3): the learned model's predicted CTCVR for each candidate ad.

Relative mode scores log(pCTCVR(ad) / pCTCVR(reference ad)) per request (the reference being the
request's `ref_title`/`ref_description`, or the bidword as a bare title when it has none); absolute mode
scores pCTCVR in percent. Group normalization removes per-request constants either way; the choice
sets the reward's scale next to the other components.

An answer without both a title and a description cannot be served. `malformed` says what it earns:
- `floor` (the default): nothing, as in the market, where it is never shown. Its pCTCVR is 0, which
  is 0 % in absolute mode and the log-lift `floor` in relative mode (every lift is clipped below at
  `floor`, so no servable ad scores under an unservable one).
- `content`: its whole text is scored as if it were an ad. The CTCVR model was trained on served
  ads only and rates the untrained policy's long unformatted answers above short formatted ads
  (held-out pCTCVR 0.49 % against 0.29 %), so this reward fell while the policy learned the format
  (default run, bf16: eval/ctcvr_reward 0.84 at step 0, 0.33 at step 5) and pulled against it.
- `reference`: what the request's reference ad would earn (log-lift 0), the ad that runs instead.
  An unservable answer then loses nothing against an average servable one; on the default run it
  learned the format more slowly (held-out format_ok 0.38 at step 15 against 0.75 with `content`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relate_ray.data.adformat import ParsedAd
from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import EMBEDDER_GROUP, check_option, register_reward

MALFORMED = ("floor", "content", "reference")


@dataclass(frozen=True)
class CTCVROptions:
    # The trained CTCVR model's folder; empty: the run's (reward_workers.ctcvr_model, or the one
    # trained once on the embedded impression logs).
    model_dir: str = ""
    # Score the log-lift over the request's reference ad (true, as the presets train) or pCTCVR in
    # percent (false). The default is the presets' so a component added by reward.monitor_all logs
    # the same reward/ctcvr that model2 and up train on.
    relative: bool = True
    # Percent scale of absolute mode.
    scale: float = 100.0
    # What an unservable answer earns: floor | content | reference (see the module docstring).
    malformed: str = "floor"
    # The lowest log-lift (relative mode with malformed=floor).
    floor: float = -2.0

    def __post_init__(self) -> None:
        check_option(self.malformed in MALFORMED, "malformed", f"must be one of {', '.join(MALFORMED)}",
                     self.malformed)
        check_option(self.scale > 0, "scale", "must be positive", self.scale)


def _run_options(cfg, data) -> dict:
    from relate_ray.ctcvr.train import model_for_run

    return {"model_dir": model_for_run(cfg, data.embedded_root)}


@register_reward("ctcvr", options=CTCVROptions, group=EMBEDDER_GROUP, run_options=_run_options)
class CTCVRReward:
    def __init__(self, options: CTCVROptions) -> None:
        from relate_ray.ctcvr.scorer import CTCVRScorer

        if not options.model_dir:
            raise ValueError("ctcvr: options.model_dir is empty (build the component through the run, or name "
                             "a folder written by python -m relate_ray.ctcvr.train)")
        self.scorer = CTCVRScorer(options.model_dir)
        self.relative, self.scale, self.malformed = options.relative, options.scale, options.malformed
        self.floor = float(options.floor) if options.malformed == "floor" else None

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        from relate_ray.ctcvr.scorer import ctcvr_reward

        p_ctr, p_ctcvr = self.scorer.predict(batch.requests, batch.content_ads())
        servable = np.array([bool(ad.title and ad.description) for ad in batch.ads])
        baseline = None
        if self.relative or (self.malformed == "reference" and not servable.all()):
            refs = [ParsedAd(r.ref_title or r.bidword, r.ref_description or "", ok=True) for r in batch.requests]
            baseline = self.scorer.predict(batch.requests, refs)[1]
        content_lift = None
        if self.relative and servable.any():
            # The content's own say, apart from whether the ad could be served at all.
            content_lift = float(ctcvr_reward(p_ctcvr, baseline)[servable].mean())
        if self.malformed == "reference" and baseline is not None:
            # An unservable answer converts as the ad that would run instead: the reference.
            p_ctcvr = np.where(servable, p_ctcvr, baseline)
        elif self.malformed == "floor":
            p_ctr, p_ctcvr = np.where(servable, p_ctr, 0.0), np.where(servable, p_ctcvr, 0.0)
        scores = ctcvr_reward(p_ctcvr, baseline if self.relative else None, self.scale, self.floor)
        info = {"p_ctr": float(np.mean(p_ctr)), "p_ctcvr": float(np.mean(p_ctcvr)), "servable": float(servable.mean())}
        if content_lift is not None:
            info["servable_lift"] = content_lift
        return RewardOutput("ctcvr", scores, info=info)
