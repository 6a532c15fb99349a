"""The reward registry: every component describes itself once, where it is defined.

`@register_reward(name, options=..., group=..., ...)` on a component class says everything the rest
of the system needs to know about it: its typed options (a dataclass, checked at start-up with one
line naming the key), the reward worker group that hosts it, whether it keeps state between steps
(its group then runs as one member that sees whole batches), whether it runs a model on a GPU, which
token-level coefficient of eq. 5 it uses when trained at token granularity, and which of its options
the run fills in (the embedder, the CTCVR model folder...). The resource plan, the config checks,
the credit assignment and the reward workers all read that one `RewardSpec`.

Adding a component is one module in this package (found by `known_rewards`, which imports every
module here) and its entry in a preset under conf/reward/.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from relate_ray.rewards.base import RewardBatch, RewardOutput

RewardFn = Callable[[RewardBatch], RewardOutput]

# The group of the components that embed text with the run's sentence embedder (the CTCVR reward,
# the relevance reward): one worker holds them all, and with them one copy of the embedder
# (`relate_ray.ctcvr.features.load_embedder` shares it): 1.2 GB saved a worker with EmbeddingGemma.
EMBEDDER_GROUP = "embedding"


class OptionError(ValueError):
    """One option of a component is wrong: `option` names it, the message says why."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


def check_option(ok: bool, option: str, message: str, value: object) -> None:
    """For an options dataclass's __post_init__: raise OptionError unless `ok`."""
    if not ok:
        raise OptionError(option, f"{message}, got {value!r}")


@dataclass(frozen=True)
class NoOptions:
    """A component without options."""


@dataclass(frozen=True)
class RewardSpec:
    name: str
    component: type
    # The component's typed options (a dataclass); the constructor takes one instance.
    options: type = NoOptions
    # The reward worker group that hosts it (components of one group share its actors).
    group: str = "rules"
    # Keeps state between steps (commit/state_dict): its group runs as one member, whole batches.
    stateful: bool = False
    # Runs a model on a GPU when the cluster has them: its group's members ask cluster.gpus_per_judge.
    uses_gpu: bool = False
    # The RewardConfig field holding its eq. 5 coefficient (lambda1, lambda2), or None when it has
    # no token-level form.
    token_coefficient: str | None = None
    # (cfg, run_data) -> options the run supplies; the preset's own options take precedence.
    run_options: Callable[[Any, Any], dict] | None = None

    def parse(self, given: Mapping, where: str = "") -> Any:
        """The options dataclass from a mapping (a preset's `options`). Unknown keys, wrong types
        and out-of-range values raise OptionError naming `where`.<key>."""
        where = where or f"reward.components.{self.name}.options"
        known = {f.name: f for f in dataclasses.fields(self.options)}
        hints = typing.get_type_hints(self.options)
        for key, value in given.items():
            if key not in known:
                raise OptionError(f"{where}.{key}", f"unknown option of {self.name} (known: "
                                  f"{', '.join(known) or 'none'})")
            if not _is_instance(value, hints[key]):
                raise OptionError(f"{where}.{key}", f"must be {_type_name(hints[key])}, got {value!r}")
        try:
            return self.options(**dict(given))
        except OptionError as err:
            raise OptionError(f"{where}.{err.option}", err.message) from None


REWARDS: dict[str, RewardSpec] = {}


def register_reward(name: str, *, options: type = NoOptions, group: str = "rules", stateful: bool = False,
                    uses_gpu: bool = False, token_coefficient: str | None = None,
                    run_options: Callable[[Any, Any], dict] | None = None):
    """Class decorator: register a reward component and what it needs (see RewardSpec)."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"reward {name!r}: options must be a dataclass, got {options!r}")

    def wrap(cls):
        if name in REWARDS and REWARDS[name].component.__qualname__ != cls.__qualname__:
            raise ValueError(f"reward {name!r} registered twice")
        REWARDS[name] = RewardSpec(name, cls, options, group, stateful, uses_gpu, token_coefficient, run_options)
        cls.name = name
        return cls

    return wrap


def _import_package_modules() -> None:
    """Import every module of relate_ray.rewards, so each component registers itself (heavy
    imports stay inside the constructors, so this is cheap)."""
    package = importlib.import_module("relate_ray.rewards")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.ispkg:
            importlib.import_module(f"relate_ray.rewards.{module.name}")


def known_rewards() -> list[str]:
    """Names of every registered reward component."""
    _import_package_modules()
    return sorted(REWARDS)


def reward_spec(name: str) -> RewardSpec:
    """The spec of a registered component; an unknown name raises KeyError listing the known ones."""
    if name not in REWARDS and name not in known_rewards():
        raise KeyError(f"unknown reward {name!r} (known: {', '.join(sorted(REWARDS))})")
    return REWARDS[name]


def component_options(cfg, data, name: str) -> dict:
    """A component's options for a run: what its registration says the run supplies (the embedder,
    the CTCVR model folder...), under the preset's own options when the preset has the component
    (evaluation and reward.monitor_all score components a preset lacks)."""
    from omegaconf import OmegaConf

    spec = reward_spec(name)
    supplied = spec.run_options(cfg, data) if spec.run_options else {}
    component = cfg.reward.components.get(name) if name in cfg.reward.components else None
    given = OmegaConf.to_container(component.options, resolve=True) if component is not None and \
        OmegaConf.is_config(component.options) else dict(getattr(component, "options", None) or {})
    return {**supplied, **given}


def build_reward(name: str, **options) -> RewardFn:
    """Construct a registered component from plain options (checked as at start-up)."""
    spec = reward_spec(name)
    return spec.component(spec.parse(options))


def _is_instance(value: object, hint: object) -> bool:
    """A small runtime check of config values against an options field's annotation."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    base = origin or hint
    if base in (dict, Mapping):
        return isinstance(value, Mapping)
    if base in (list, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, base) if isinstance(base, type) else True


def _type_name(hint: object) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(typing.get_origin(hint) or hint, "__name__", str(hint))
