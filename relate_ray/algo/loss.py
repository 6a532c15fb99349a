"""The clipped GRPO objective with a KL penalty against the reference policy (eq. 6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


KL_KINDS = ("k1", "k2", "k3")


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(pi_theta || pi_ref) from sampled-token log-probs.

    Args:
        logp, ref_logp: [N, T] log-probs of the sampled tokens under pi_theta and pi_ref.
        kind: k1 = logp - ref; k2 = 0.5 (logp - ref)^2; k3 = exp(ref - logp) - (ref - logp) - 1
            (unbiased and non-negative; the GRPO paper's choice).
    Returns:
        [N, T] per-token KL estimates.
    """
    log_ratio = logp - ref_logp
    if kind == "k1":
        return log_ratio
    if kind == "k2":
        return 0.5 * log_ratio.square()
    if kind == "k3":
        neg = -log_ratio
        return torch.exp(neg) - neg - 1.0
    raise ValueError(f"unknown KL estimator {kind!r} (expected k1, k2 or k3)")


@dataclass(frozen=True)
class StepNormalizer:
    """What an aggregation divides by, counted over the whole optimizer step.

    A step's samples are spread over micro-batches (gradient accumulation) and ranks (data
    parallel). If each micro-batch divided by its own token or sequence count, a token's weight
    would depend on which micro-batch it landed in. Dividing every micro-batch's *sum* by the
    step's totals makes the accumulated gradient the gradient of the whole step's aggregate,
    whatever micro_batch_size and num_ranks are.

    tokens: real response tokens in the step (all ranks); sequences: responses in the step.
    """

    tokens: float
    sequences: float

    @classmethod
    def of(cls, mask: torch.Tensor) -> StepNormalizer:
        """The normalizer of a step that is this one [N, T] mask."""
        return cls(float(mask.sum()), float(mask.shape[0]))


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor, norm: StepNormalizer) -> torch.Tensor:
    return (per_token * mask).sum() / max(norm.tokens, 1.0)


def _seq_mean_token_mean(per_token: torch.Tensor, mask: torch.Tensor, norm: StepNormalizer) -> torch.Tensor:
    return ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).sum() / max(norm.sequences, 1.0)


def _seq_mean_token_sum(per_token: torch.Tensor, mask: torch.Tensor, norm: StepNormalizer) -> torch.Tensor:
    return (per_token * mask).sum() / max(norm.sequences, 1.0)


# Registry of loss aggregations: [N, T] per-token loss, mask and the step's normalizer -> this
# micro-batch's share of the step's scalar loss (shares add up to the step's loss).
AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, StepNormalizer], torch.Tensor]] = {
    "token-mean": _token_mean,                    # sum over the step's real tokens / their count (DAPO style)
    "seq-mean-token-mean": _seq_mean_token_mean,  # the original GRPO: mean per sequence, then over sequences
    "seq-mean-token-sum": _seq_mean_token_sum,    # eq. 6 as printed: 1/G sum_i sum_t
}


def truncated_is_weights(old_logp: torch.Tensor, rollout_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """Truncated importance sampling (verl's TIS, TRL's vllm_importance_sampling_correction).

    The rollout engine (vLLM kernels, maybe bf16) and the learner give the same tokens slightly
    different probabilities, so samples come from pi_rollout, not from pi_theta_old. Weighting each
    token's policy-gradient term by min(pi_old / pi_rollout, cap) corrects for that; the cap
    bounds the variance a rare large ratio would add.

    Args:
        old_logp, rollout_logp: [N, T] log-probs of the sampled tokens under pi_theta_old (learner)
            and under the rollout engine, both at the sampling temperature.
        cap: C > 0, the truncation.
    Returns:
        [N, T] detached weights in (0, cap].
    """
    if cap <= 0:
        raise ValueError(f"the importance-sampling cap must be positive, got {cap}")
    return torch.exp(old_logp.detach() - rollout_logp.detach()).clamp(max=cap)


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.04,
    kl_kind: str = "k3",
    agg: str = "token-mean",
    normalizer: StepNormalizer | None = None,
    is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 6: per token -w min(rho A, clip(rho, 1-eps, 1+eps_high) A) + beta KL, aggregated by `agg`.

    Args:
        logp: [N, T] log-probs of the sampled tokens under the current policy (gradients flow here only).
        old_logp: [N, T] under the policy that sampled them (pi_theta_old).
        ref_logp: [N, T] under the frozen reference policy pi_ref.
        advantages: [N, T] per-token advantages A[i,t] (eq. 9).
        mask: [N, T] 1 for real response tokens, 0 for padding.
        clip_eps, clip_eps_high: epsilon of the clip range [1 - clip_eps, 1 + clip_eps_high];
            clip_eps_high defaults to clip_eps.
        beta: KL coefficient.
        kl_kind: k1 | k2 | k3 (see `kl_penalty`).
        agg: a key of AGGREGATIONS.
        normalizer: the whole step's token and sequence counts when this batch is one micro-batch
            of a larger step (see StepNormalizer); None: this batch is the whole step.
        is_weights: [N, T] optional truncated importance weights w (see truncated_is_weights) on
            the policy-gradient term; None: w = 1.
    Returns:
        (scalar loss, stats) with stats 'clip_frac' (share of real tokens where clipping is active),
        'kl' (mean per-token KL) and 'ratio' (mean rho), all over real tokens.
    """
    if agg not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {agg!r} (expected one of {', '.join(AGGREGATIONS)})")
    high = clip_eps if clip_eps_high is None else clip_eps_high
    mask = mask.to(logp.dtype)
    old_logp, ref_logp, advantages = old_logp.detach(), ref_logp.detach(), advantages.detach()

    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * advantages
    policy_loss = -torch.minimum(unclipped, clipped)
    if is_weights is not None:
        policy_loss = policy_loss * is_weights.detach()
    kl = kl_penalty(logp, ref_logp, kl_kind)
    per_token = policy_loss + beta * kl
    loss = AGGREGATIONS[agg](per_token, mask, normalizer or StepNormalizer.of(mask))

    with torch.no_grad():
        stats = {
            "clip_frac": _masked_mean((clipped < unclipped).to(logp.dtype), mask),
            "kl": _masked_mean(kl, mask),
            "ratio": _masked_mean(ratio, mask),
        }
    return loss, stats


def sft_loss(
    logp: torch.Tensor,
    mask: torch.Tensor,
    agg: str = "token-mean",
    normalizer: StepNormalizer | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Supervised fine-tuning: the negative log-likelihood of the target tokens, aggregated by `agg`
    (token-mean: the usual mean NLL per target token). The SFT baseline trains with it on the same
    learner as GRPO.

    Args:
        logp: [N, T] log-probs of the target tokens under the policy (gradients flow here).
        mask: [N, T] 1 for target tokens, 0 for padding.
    Returns:
        (scalar loss, stats) with stats 'nll' (mean per-token NLL over real tokens).
    """
    if agg not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {agg!r} (expected one of {', '.join(AGGREGATIONS)})")
    mask = mask.to(logp.dtype)
    loss = AGGREGATIONS[agg](-logp, mask, normalizer or StepNormalizer.of(mask))
    with torch.no_grad():
        stats = {"nll": _masked_mean(-logp, mask)}
    return loss, stats


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    return float((values * mask).sum() / mask.sum().clamp(min=1.0))
