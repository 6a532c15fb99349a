"""The clipped GRPO objective with a KL penalty against the reference policy (eq. 6)."""

from __future__ import annotations

from collections.abc import Callable

import torch


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


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


def _seq_mean_token_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()


def _seq_mean_token_sum(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (per_token * mask).sum(dim=1).mean()


# Registry of loss aggregations: [N, T] per-token loss and mask -> scalar.
AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "token-mean": _token_mean,                    # sum over real tokens / their count (DAPO style)
    "seq-mean-token-mean": _seq_mean_token_mean,  # the original GRPO: mean per sequence, then over sequences
    "seq-mean-token-sum": _seq_mean_token_sum,    # eq. 6 as printed: 1/G sum_i sum_t
}


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
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 6: per token -min(rho A, clip(rho, 1-eps, 1+eps_high) A) + beta KL, aggregated by `agg`.

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
    kl = kl_penalty(logp, ref_logp, kl_kind)
    per_token = policy_loss + beta * kl
    loss = AGGREGATIONS[agg](per_token, mask)

    with torch.no_grad():
        stats = {
            "clip_frac": _token_mean((clipped < unclipped).to(logp.dtype), mask).item(),
            "kl": _token_mean(kl, mask).item(),
            "ratio": _token_mean(ratio, mask).item(),
        }
    return loss, stats
