"""Reward presets (conf/reward/*.yaml, the paper's Table 2) as typed configs and component specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relate_ray.algo.credit import ComponentSpec
from relate_ray.rewards.registry import reward_spec
from relate_ray.rewards.token_level import DEFAULT_DELTA_D


@dataclass
class ComponentConfig:
    # Weight of this component in the sentence-level reward sum r_i.
    weight: float = 1.0
    # sentence | token (token: only components registered with a token_coefficient: risk, diversity).
    granularity: str = "sentence"
    # The component's options (its registered options dataclass, e.g. LengthOptions: {en_unit: words}).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardConfig:
    # Preset name (model1 .. model4, relate).
    name: str = "relate"
    # Active components by registered reward name.
    components: dict[str, ComponentConfig] = field(default_factory=dict)
    # alpha (eq. 7): weight of token-level credit against the sentence-level advantage.
    alpha: float = 1.0
    # lambda1 (eq. 5): penalty per token inside a risk-control (blacklist) violation.
    lambda1: float = 0.5
    # lambda2 (eq. 5): penalty per token inside a high-frequency n-gram. Smaller than lambda1: a
    # template flags many tokens at once, and each flagged token's advantage moves by alpha * lambda2.
    lambda2: float = 0.1
    # delta_d (eq. 4): sentence-level diversity penalty per maximal high-frequency span (one template
    # occurrence, however long; see relate_ray.rewards.ngram.count_and_flag), capped at 1 in total
    # (DiversityReward.max_penalty), so the score lies in [-1, 0] like the other rewards. 0.25: one
    # template costs a quarter of that range, about what a 4-token template cost under nested n-gram
    # counting at 0.05 (6 sub-grams); 0.05 per span would be drowned by rewards spanning [-1, 1].
    delta_d: float = DEFAULT_DELTA_D
    # How the sentence-level components become one advantage per sample:
    # sum_then_normalize: the paper's eq. 8 on the weighted sum r_i = sum_k w_k x_ik, one group
    #   normalization. A component with a small within-group spread (100 * pCTCVR moves by a few
    #   hundredths inside a group) barely moves the advantage next to ones spanning [-1, 1].
    # normalize_then_sum: GDPO (Liu et al. 2026, arXiv 2601.05242; TRL's
    #   multi_objective_aggregation="normalize_then_sum"): each component normalized within its
    #   group, the weighted sum, then scaled by its batch-wide std. Every varying component gets the
    #   same within-group say before the weights apply. reward/total still reports r_i.
    aggregation: str = "sum_then_normalize"
    # Compute and log every registered component, training only on the preset's: the others join
    # with weight 0 (reward/<name> is logged, not in reward/total), so Figure 3's curves exist for
    # every preset. Costs their scoring (the judge engine too).
    monitor_all: bool = False


def add_monitored_components(cfg) -> list[str]:
    """With reward.monitor_all, add every registered component the preset lacks at weight 0
    (sentence level, default options); returns the names added."""
    from omegaconf import open_dict

    from relate_ray.rewards.registry import known_rewards

    if not cfg.reward.monitor_all:
        return []
    added = [name for name in known_rewards() if name not in cfg.reward.components]
    with open_dict(cfg):
        for name in added:
            cfg.reward.components[name] = ComponentConfig(weight=0.0)
    return added


def component_specs(cfg) -> list[ComponentSpec]:
    """The preset's components as specs for `relate_ray.algo.credit.assign_credit`."""
    specs = []
    for name, component in cfg.components.items():
        coefficient = reward_spec(name).token_coefficient
        if component.granularity == "token" and coefficient is None:
            raise ValueError(f"reward.components.{name}.granularity: {name} has no token-level form")
        coef = getattr(cfg, coefficient) if coefficient else 0.0
        specs.append(ComponentSpec(name, component.weight, component.granularity, coef))
    return specs
