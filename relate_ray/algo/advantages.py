"""Advantages: group-normalized sentence advantages (eq. 8) plus token-level credit (eq. 7, 9)."""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 8: A_i = (r_i - mean(r_group)) / (std(r_group) + eps).

    Args:
        rewards: [B*G] sentence-level rewards, ordered group after group (the G candidates of
            prompt 0, then those of prompt 1, ...).
        group_size: G.
        eps: added to the (Bessel-corrected) standard deviation.
    Returns:
        [B*G] advantages. A group whose rewards are all equal gets 0 for every member.
    """
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B*G], got shape {tuple(rewards.shape)}")
    if group_size < 1 or rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.reshape(-1, group_size).to(torch.float32)
    mean = grouped.mean(dim=1, keepdim=True)
    if group_size == 1:
        return torch.zeros_like(rewards, dtype=torch.float32)
    std = grouped.std(dim=1, keepdim=True)  # unbiased (Bessel), torch's default
    adv = (grouped - mean) / (std + eps)
    # No spread means no signal; exact zeros avoid amplifying float noise by 1/eps.
    adv = torch.where(std > 0, adv, torch.zeros_like(adv))
    return adv.reshape(-1)


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
