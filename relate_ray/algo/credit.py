"""Granularity-aware credit assignment (paper 3.4): reward components -> per-token advantages.

A reward preset (conf/reward/*.yaml, Table 2) says which components are on, each one's weight and
granularity. Sentence-level components are summed into r_i and group-normalized (eq. 8); token-level
components contribute r_token[i,t] = -sum_k coef_k * flag_k[i,t] (eq. 5, coef = lambda1 for risk,
lambda2 for diversity), weighted by alpha (eq. 7) and added per token (eq. 9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from relate_ray.algo.advantages import combine_advantages, group_advantages

GRANULARITIES = ("sentence", "token")


@dataclass(frozen=True)
class ComponentSpec:
    """One reward component in a preset.

    weight: its weight in the sentence-level sum r_i (sentence granularity).
    granularity: 'sentence' (part of r_i) or 'token' (flags become r_token with `token_coef`).
    token_coef: lambda for token granularity (lambda1 risk, lambda2 diversity).
    """

    name: str
    weight: float = 1.0
    granularity: str = "sentence"
    token_coef: float = 0.0

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"reward component {self.name!r}: granularity must be sentence or token, "
                             f"got {self.granularity!r}")


@dataclass
class Credit:
    """advantages [N, T]; sentence_rewards [N] (r_i); token_rewards [N, T] (r_token, 0 on padding)."""

    advantages: torch.Tensor
    sentence_rewards: torch.Tensor
    token_rewards: torch.Tensor
    sentence_advantages: torch.Tensor

    @property
    def total_rewards(self) -> torch.Tensor:
        """[N] r_i plus each sample's summed token rewards: the scalar a run reports as reward/total."""
        return self.sentence_rewards + self.token_rewards.sum(dim=1)


def assign_credit(
    scores: Mapping[str, torch.Tensor],
    token_flags: Mapping[str, torch.Tensor],
    mask: torch.Tensor,
    components: Sequence[ComponentSpec],
    group_size: int,
    alpha: float,
    eps: float = 1e-6,
) -> Credit:
    """Turn reward-worker outputs into advantages for a preset.

    Args:
        scores: name -> [N] sentence-level scores (every sentence-granularity component needs one).
        token_flags: name -> [N, T] 0/1 flags (every token-granularity component needs one).
        mask: [N, T] 1 on real response tokens.
        components: the preset's components.
        group_size: G (samples ordered group after group).
        alpha: weight of token-level credit (eq. 7).
    """
    n, t = mask.shape
    mask = mask.to(torch.float32)
    sentence = torch.zeros(n, dtype=torch.float32)
    token = torch.zeros(n, t, dtype=torch.float32)
    for spec in components:
        if spec.granularity == "sentence":
            if spec.name not in scores:
                raise KeyError(f"no sentence-level scores for reward component {spec.name!r}")
            sentence = sentence + spec.weight * scores[spec.name].to(torch.float32)
        else:
            if spec.name not in token_flags:
                raise KeyError(f"no token-level flags for reward component {spec.name!r}")
            token = token - spec.token_coef * token_flags[spec.name].to(torch.float32)
    token = token * mask
    sentence_adv = group_advantages(sentence, group_size, eps)
    advantages = combine_advantages(sentence_adv, token, mask, alpha)
    return Credit(advantages, sentence, token, sentence_adv)
