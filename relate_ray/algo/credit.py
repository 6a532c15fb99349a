"""Granularity-aware credit assignment (paper 3.4): reward components -> per-token advantages.

A reward preset (conf/reward/*.yaml, Table 2) says which components are on, each one's weight and
granularity. Sentence-level components become one sentence advantage per sample by
`reward.aggregation`: summed into r_i and group-normalized (eq. 8, "sum_then_normalize"), or each
group-normalized, summed and batch-scaled (GDPO, "normalize_then_sum"). Token-level components
contribute r_token[i,t] = -sum_k coef_k * flag_k[i,t] (eq. 5, coef = lambda1 for risk, lambda2 for
diversity), weighted by alpha (eq. 7) and added per token (eq. 9), under either aggregation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from relate_ray.algo.advantages import (
    combine_advantages,
    group_advantages,
    group_std,
    scale_by_batch_std,
    weighted_group_normalized_sum,
    zero_std_groups,
)

GRANULARITIES = ("sentence", "token")
# How sentence-level components become one advantage (`reward.aggregation`, see RewardConfig).
REWARD_AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")


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
    """What credit assignment hands the learner and the logs.

    advantages: [N, T] per-token advantages (eq. 9), 0 on padding.
    sentence_rewards: [N] r_i = sum_k w_k * x_ik, the weighted raw sum of the sentence-level
        components under either aggregation (what reward/total reports).
    token_rewards: [N, T] r_token (eq. 5), 0 on padding.
    sentence_advantages: [N] the sentence-level advantage (eq. 8, or GDPO's).
    component_group_std: sentence-level component name -> mean over the B groups of the
        component's within-group std (Bessel) of its raw, unweighted scores: how much each
        component can tell a group's samples apart, in the component's own units.
    zero_std_mask: [B] bool, groups whose sentence advantage is 0 because the signal it is
        normalized from has no spread: r_i under sum_then_normalize (all r_i equal), the weighted
        sum of per-component group-normalized scores under normalize_then_sum (every component
        constant in the group, or components that cancel exactly).
    """

    advantages: torch.Tensor
    sentence_rewards: torch.Tensor
    token_rewards: torch.Tensor
    sentence_advantages: torch.Tensor
    component_group_std: dict[str, float]
    zero_std_mask: torch.Tensor

    @property
    def total_rewards(self) -> torch.Tensor:
        """[N] r_i plus each sample's summed token rewards: the scalar a run reports as reward/total."""
        return self.sentence_rewards + self.token_rewards.sum(dim=1)

    @property
    def zero_std_frac(self) -> float:
        """Share of groups that teach nothing at sentence level (logged as advantage/zero_std_frac)."""
        return float(self.zero_std_mask.to(torch.float32).mean()) if self.zero_std_mask.numel() else 0.0


def token_rewards(flags: Sequence[tuple[float, torch.Tensor]], mask: torch.Tensor) -> torch.Tensor:
    """Eq. 5: r_token[i,t] = -lambda1 * I(T_t in V_black) - lambda2 * I(T_t in G_high), generalized
    to any token-level component: -sum_k coef_k * flag_k[i,t], 0 on padding.

    flags: (coef_k, [N, T] 0/1 flags) per token-level component (lambda1 risk and correctness,
        lambda2 diversity).
    mask: [N, T] 1 on real response tokens. Returns [N, T] float32.
    """
    token = torch.zeros(mask.shape, dtype=torch.float32)
    for coef, flag in flags:
        token = token - coef * flag.to(torch.float32)
    return token * mask.to(torch.float32)


def assign_credit(
    scores: Mapping[str, torch.Tensor],
    token_flags: Mapping[str, torch.Tensor],
    mask: torch.Tensor,
    components: Sequence[ComponentSpec],
    group_size: int,
    alpha: float,
    eps: float = 1e-6,
    aggregation: str = "sum_then_normalize",
) -> Credit:
    """Turn reward-worker outputs into advantages for a preset.

    Args:
        scores: name -> [N] sentence-level scores (every sentence-granularity component needs one).
        token_flags: name -> [N, T] 0/1 flags (every token-granularity component needs one).
        mask: [N, T] 1 on real response tokens.
        components: the preset's components.
        group_size: G (samples ordered group after group).
        alpha: weight of token-level credit (eq. 7).
        eps: added to every std the advantages divide by.
        aggregation: "sum_then_normalize" (eq. 8 on r_i) or "normalize_then_sum" (GDPO; see
            `relate_ray.algo.advantages.normalize_then_sum`). Token-level credit is the same in both.
    """
    if aggregation not in REWARD_AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(REWARD_AGGREGATIONS)}, got {aggregation!r}")
    n = mask.shape[0]
    mask = mask.to(torch.float32)
    names, weights, raw, flags = [], [], [], []
    for spec in components:
        if spec.granularity == "sentence":
            if spec.name not in scores:
                raise KeyError(f"no sentence-level scores for reward component {spec.name!r}")
            names.append(spec.name)
            weights.append(spec.weight)
            raw.append(scores[spec.name].to(torch.float32))
        else:
            if spec.name not in token_flags:
                raise KeyError(f"no token-level flags for reward component {spec.name!r}")
            flags.append((spec.token_coef, token_flags[spec.name]))
    token = token_rewards(flags, mask)
    sentence = torch.zeros(n, dtype=torch.float32)
    for weight, values in zip(weights, raw):
        sentence = sentence + weight * values
    if aggregation == "sum_then_normalize":
        signal = sentence
        sentence_adv = group_advantages(sentence, group_size, eps)
    else:
        # normalize_then_sum's two steps, kept apart: the zero-std mask needs the pre-scaling signal.
        stacked = torch.stack(raw) if raw else torch.zeros(0, n)
        signal = weighted_group_normalized_sum(stacked, weights, group_size, eps)
        sentence_adv = scale_by_batch_std(signal, eps)
    advantages = combine_advantages(sentence_adv, token, mask, alpha)
    spread = {name: float(group_std(values, group_size).mean()) for name, values in zip(names, raw)}
    return Credit(advantages, sentence, token, sentence_adv, spread, zero_std_groups(signal, group_size))
