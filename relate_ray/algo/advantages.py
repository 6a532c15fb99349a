"""Advantages: group-normalized sentence advantages (eq. 8) plus token-level credit (eq. 7, 9).

Two ways to turn K sentence-level reward components into one advantage (`reward.aggregation`):
sum-then-normalize (eq. 8 on the weighted sum r_i, the paper's) and normalize-then-sum (GDPO,
arXiv 2601.05242: each component normalized within its group, then summed, then batch-scaled),
which keeps a component with a small within-group spread (100 * pCTCVR) from being drowned by
components that span [-1, 1] (length, format, judge).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _grouped(values: torch.Tensor, group_size: int, what: str = "rewards") -> torch.Tensor:
    """[B*G] -> [B, G] float32, after checking the values split into groups of G."""
    if values.dim() != 1:
        raise ValueError(f"{what} must be 1-D [B*G], got shape {tuple(values.shape)}")
    if group_size < 1 or values.numel() % group_size:
        raise ValueError(f"{values.numel()} {what} do not split into groups of {group_size}")
    return values.reshape(-1, group_size).to(torch.float32)


def group_std(values: torch.Tensor, group_size: int) -> torch.Tensor:
    """Within-group standard deviation, Bessel-corrected as in `group_advantages`.

    Args:
        values: [B*G] one score per sample, ordered group after group.
        group_size: G.
    Returns:
        [B] std of each group's G values; 0 for G == 1 (one sample has no spread; Bessel's
        correction would give NaN).
    """
    grouped = _grouped(values, group_size, "values")
    if group_size == 1:
        return torch.zeros(grouped.shape[0], dtype=torch.float32)
    return grouped.std(dim=1)  # unbiased (Bessel), torch's default


def zero_std_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Groups that teach nothing: all G rewards equal, so every member's group advantage is 0.

    Compares values exactly rather than testing std == 0, so the answer does not hang on how
    the std's float rounding comes out for G equal values. DAPO's dynamic sampling drops or
    resamples these groups.

    Args:
        rewards: [B*G] the signal the group advantage is normalized from, ordered group after group.
        group_size: G.
    Returns:
        [B] bool, True where the group's rewards are all equal.
    """
    grouped = _grouped(rewards, group_size)
    return (grouped == grouped[:, :1]).all(dim=1)


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 8: A_i = (r_i - mean(r_group)) / (std(r_group) + eps).

    Args:
        rewards: [B*G] sentence-level rewards, ordered group after group (the G candidates of
            prompt 0, then those of prompt 1, ...).
        group_size: G.
        eps: added to the (Bessel-corrected) standard deviation.
    Returns:
        [B*G] advantages. A group whose rewards are all equal gets exactly 0 for every member.
    """
    grouped = _grouped(rewards, group_size)
    if group_size == 1:
        return torch.zeros_like(rewards, dtype=torch.float32)
    mean = grouped.mean(dim=1, keepdim=True)
    std = group_std(rewards, group_size).unsqueeze(1)
    adv = (grouped - mean) / (std + eps)
    # No spread means no signal; exact zeros avoid amplifying float noise (of the mean) by 1/eps.
    spread = (~zero_std_groups(rewards, group_size)).unsqueeze(1) & (std > 0)
    adv = torch.where(spread, adv, torch.zeros_like(adv))
    return adv.reshape(-1)


def weighted_group_normalized_sum(
    scores: torch.Tensor, weights: Sequence[float] | torch.Tensor, group_size: int, eps: float = 1e-6
) -> torch.Tensor:
    """GDPO's decoupled step: s_i = sum_k w_k * (x_ik - mean_group(x_k)) / (std_group(x_k) + eps).

    Each component is normalized within its own group by `group_advantages` (eq. 8 applied per
    component), so every component that varies in a group has unit within-group spread before the
    weights apply, whatever its raw scale. A component constant within a group contributes exactly
    0 there (no NaN, no 1/eps blow-up).

    Args:
        scores: [K, B*G] raw scores of K sentence-level components, samples ordered group after group.
        weights: [K] the components' weights w_k.
        group_size: G.
        eps: added to each component's within-group std.
    Returns:
        [B*G] s_i. Every group's s has mean 0 (up to float rounding).
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be 2-D [K, B*G], got shape {tuple(scores.shape)}")
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.shape != (scores.shape[0],):
        raise ValueError(f"weights must be [K] = [{scores.shape[0]}], got shape {tuple(weights.shape)}")
    total = torch.zeros(scores.shape[1], dtype=torch.float32)
    for k in range(scores.shape[0]):
        total = total + weights[k] * group_advantages(scores[k], group_size, eps)
    return total


def scale_by_batch_std(values: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GDPO's batch-wise step for already group-centered values: v_i / (std_batch(v) + eps).

    std_batch is the Bessel-corrected std over all B*G values of the step. No mean is subtracted:
    the input is centered within every group (so its batch mean is 0 by construction), and
    subtracting a float-rounded ~1e-8 mean would leave groups without signal with a residual
    non-zero advantage instead of exact zeros.

    Args:
        values: [N] group-centered values (N = B*G).
        eps: added to the batch std.
    Returns:
        [N] values with batch std ~1; all zeros when the batch has no spread (or N < 2).
    """
    if values.dim() != 1:
        raise ValueError(f"values must be 1-D [N], got shape {tuple(values.shape)}")
    values = values.to(torch.float32)
    if values.numel() < 2:
        return torch.zeros_like(values)
    std = values.std()
    if not std > 0:
        return torch.zeros_like(values)
    return values / (std + eps)


def normalize_then_sum(
    scores: torch.Tensor, weights: Sequence[float] | torch.Tensor, group_size: int, eps: float = 1e-6
) -> torch.Tensor:
    """GDPO (arXiv 2601.05242; TRL's multi_objective_aggregation="normalize_then_sum") advantages.

    A_i = s_i / (std_batch(s) + eps),  s_i = sum_k w_k * (x_ik - mean_group(x_k)) / (std_group(x_k) + eps)

    As GDPO defines it: each reward normalized per group, the (weighted) sum, then one batch-wise
    normalization so the advantage's scale does not grow with the number of components. GDPO's
    batch step also subtracts the batch mean of s, which is 0 here by construction (see
    `scale_by_batch_std`). The batch step is a single positive constant per step, so within a
    group the ordering and relative sizes of s are kept; across groups, a group where more
    components disagree gets larger advantages than one where a single component varies (eq. 8
    instead gives every group with any spread unit std).

    With one component (K = 1, w > 0) this is eq. 8's advantages times one batch-wide constant
    1 / std_batch: same signs and ordering as sum-then-normalize, not the same values.

    Args:
        scores: [K, B*G] raw scores of K sentence-level components, samples ordered group after group.
        weights: [K] the components' weights.
        group_size: G.
        eps: added to each within-group std and to the batch std.
    Returns:
        [B*G] sentence-level advantages; exactly 0 in a group where every component is constant.
    """
    return scale_by_batch_std(weighted_group_normalized_sum(scores, weights, group_size, eps), eps)


def combine_advantages(
    sentence_adv: torch.Tensor, token_rewards: torch.Tensor, mask: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Eq. 7 and 9: A[i,t] = A_sentence[i] + alpha * r_token[i,t] on real tokens, 0 on padding.

    Args:
        sentence_adv: [N] sentence-level advantages (eq. 8).
        token_rewards: [N, T] token-level rewards r_token (eq. 5; 0 where no penalty applies).
        mask: [N, T] 1 for real response tokens, 0 for padding.
        alpha: weight of token-level credit against the sentence-level advantage.
    Returns:
        [N, T] per-token advantages.
    """
    if token_rewards.shape != mask.shape or sentence_adv.shape[0] != mask.shape[0]:
        raise ValueError(
            f"shapes disagree: sentence_adv {tuple(sentence_adv.shape)}, token_rewards "
            f"{tuple(token_rewards.shape)}, mask {tuple(mask.shape)}"
        )
    adv = sentence_adv.unsqueeze(1).to(token_rewards.dtype) + alpha * token_rewards
    return adv * mask.to(adv.dtype)
