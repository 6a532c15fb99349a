"""How far the rollout engine's sampling distribution is from the learner's (the rollout/learner mismatch).

The engine (vLLM kernels, bf16 or fp32) and the learner (DeepSpeed, its own dtype) give the same
sampled tokens slightly different log-probs, so GRPO's "on-policy" samples really come from
pi_rollout. Both sides here are at the sampling temperature (the engine returns processed
log-probs, see relate_ray.rollout.vllm_engine), so they describe the same distribution.
"""

from __future__ import annotations

import torch

from relate_ray.algo.loss import kl_penalty


def mismatch_kl(learner_logp: torch.Tensor, rollout_logp: torch.Tensor) -> torch.Tensor:
    """[N, T] per-token k3 estimate of KL(pi_rollout || pi_learner) on tokens sampled from pi_rollout.

    k3 = r - log r - 1 with r = pi_learner / pi_rollout: unbiased, non-negative, low variance.
    Args: learner_logp, rollout_logp: [N, T] log-probs of the sampled tokens.
    """
    return kl_penalty(rollout_logp, learner_logp, "k3")  # the KL term's estimator, the other way round


class MismatchStats:
    """Accumulates mismatch/* metrics over a step's micro-batches (real tokens only)."""

    def __init__(self) -> None:
        self.kl_sum = self.abs_sum = self.tokens = 0.0
        self.max_ratio = self.max_abs_log_ratio = 0.0

    def add(self, learner_logp: torch.Tensor, rollout_logp: torch.Tensor, mask: torch.Tensor) -> None:
        """learner_logp, rollout_logp, mask: [N, T]."""
        with torch.no_grad():
            real = mask > 0
            if not real.any():
                return
            log_ratio = (learner_logp - rollout_logp)[real]
            self.kl_sum += float(mismatch_kl(learner_logp, rollout_logp)[real].sum())
            self.abs_sum += float(log_ratio.abs().sum())
            self.tokens += float(real.sum())
            self.max_ratio = max(self.max_ratio, float(torch.exp(log_ratio).max()))
            self.max_abs_log_ratio = max(self.max_abs_log_ratio, float(log_ratio.abs().max()))

    def result(self) -> dict[str, float]:
        """mismatch/kl and mismatch/abs_log_ratio (token means), mismatch/max_ratio (largest
        pi_learner / pi_rollout) and mismatch/max_abs_log_ratio; empty if nothing was added."""
        if not self.tokens:
            return {}
        return {"mismatch/kl": self.kl_sum / self.tokens, "mismatch/abs_log_ratio": self.abs_sum / self.tokens,
                "mismatch/max_ratio": self.max_ratio, "mismatch/max_abs_log_ratio": self.max_abs_log_ratio}
