"""Reward presets (conf/reward/*.yaml, the paper's Table 2) as typed configs and component specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relate_ray.algo.credit import ComponentSpec

# Which token-level coefficient of eq. 5 each token-capable component uses.
TOKEN_COEFFICIENT = {"risk": "lambda1", "diversity": "lambda2"}


@dataclass
class ComponentConfig:
    # Weight of this component in the sentence-level reward sum r_i.
    weight: float = 1.0
    # sentence | token (token: only components with a token form, see TOKEN_COEFFICIENT).
    granularity: str = "sentence"
    # Extra constructor options of the reward component (e.g. {en_unit: words} for length).
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
    # delta_d (eq. 4): sentence-level diversity penalty per high-frequency n-gram occurrence.
    delta_d: float = 0.05


def component_specs(cfg) -> list[ComponentSpec]:
    """The preset's components as specs for `relate_ray.algo.credit.assign_credit`."""
    specs = []
    for name, component in cfg.components.items():
        if component.granularity == "token" and name not in TOKEN_COEFFICIENT:
            raise ValueError(f"reward.components.{name}.granularity: only "
                             f"{', '.join(TOKEN_COEFFICIENT)} have a token-level form")
        coef = getattr(cfg, TOKEN_COEFFICIENT[name]) if name in TOKEN_COEFFICIENT else 0.0
        specs.append(ComponentSpec(name, component.weight, component.granularity, coef))
    return specs
