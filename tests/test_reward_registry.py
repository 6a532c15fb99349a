"""The reward registry: a component describes itself once (options, group, state, GPU, token
coefficient), and the config checks, the plan and credit assignment read that description.
Adding a component is one module in relate_ray/rewards plus its preset entry."""

import sys
import textwrap

import pytest
from hydra import compose, initialize_config_dir

import relate_ray.rewards as rewards_package
from relate_ray.config import ConfigError, register_configs
from relate_ray.validation import validate_config
from relate_ray.data.prompts import DEFAULT_CONF_DIR
from relate_ray.data.schema import AdRequest
from relate_ray.rewards import registry
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.presets import component_specs
from relate_ray.rewards.registry import OptionError, build_reward, known_rewards, reward_spec
from relate_ray.trainer.plan import build_plan

register_configs()

BREVITY = '''
"""A new component: shorter answers score higher."""
from dataclasses import dataclass

import numpy as np

from relate_ray.rewards.base import RewardOutput
from relate_ray.rewards.registry import check_option, register_reward


@dataclass(frozen=True)
class BrevityOptions:
    max_chars: int = 80

    def __post_init__(self):
        check_option(self.max_chars > 0, "max_chars", "must be positive", self.max_chars)


@register_reward("brevity", options=BrevityOptions, group="brevity")
class BrevityReward:
    def __init__(self, options=None):
        self.max_chars = (options or BrevityOptions()).max_chars

    def __call__(self, batch):
        return RewardOutput("brevity", np.array([1.0 - min(len(t) / self.max_chars, 1.0) for t in batch.texts]))
'''


@pytest.fixture
def brevity_module(tmp_path, monkeypatch):
    """A component file dropped into the rewards package (an extra package path, so the source tree is untouched)."""
    (tmp_path / "brevity.py").write_text(textwrap.dedent(BREVITY))
    monkeypatch.setattr(rewards_package, "__path__", [*rewards_package.__path__, str(tmp_path)])
    yield
    registry.REWARDS.pop("brevity", None)
    sys.modules.pop("relate_ray.rewards.brevity", None)


def config(*overrides):
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def preset_dir(tmp_path, options: str):
    """A search-path folder holding one preset, reward=brevity: Model 1 plus the new component."""
    (tmp_path / "conf" / "reward").mkdir(parents=True)
    (tmp_path / "conf" / "reward" / "brevity.yaml").write_text(
        "# @package reward\ndefaults:\n  - model1\nname: brevity\ncomponents:\n"
        f"  brevity: {{weight: 0.5, options: {options}}}\n")
    return f"hydra.searchpath=[file://{tmp_path / 'conf'}]"


def test_a_new_component_file_is_found_planned_checked_and_scores(brevity_module, good_row, tmp_path):
    request_en = AdRequest.from_dict(good_row)
    assert "brevity" in known_rewards()
    cfg = config(preset_dir(tmp_path / "good", "{max_chars: 40}"), "reward=brevity")
    validate_config(cfg)
    assert [a.name for a in build_plan(cfg).of("reward")] == ["reward-brevity-0", "reward-rules-0"]
    assert {s.name: s.weight for s in component_specs(cfg.reward)}["brevity"] == 0.5
    scores = build_reward("brevity", max_chars=40)(RewardBatch([request_en] * 2, ["x" * 10, "x" * 30])).scores
    assert scores.tolist() == pytest.approx([0.75, 0.25])
    bad = config(preset_dir(tmp_path / "bad", "{max_chars: 0}"), "reward=brevity")
    with pytest.raises(ConfigError, match=r"^reward.components.brevity.options.max_chars: must be positive, got 0$"):
        validate_config(bad)


@pytest.mark.parametrize("name, options, message", [
    ("length", {"en_unt": "words"}, "reward.components.length.options.en_unt: unknown option of length "
                                    "(known: en_unit, intervals)"),
    ("ctcvr", {"floor": "low"}, "reward.components.ctcvr.options.floor: must be float, got 'low'"),
    ("ctcvr", {"relative": 1}, "reward.components.ctcvr.options.relative: must be bool, got 1"),
    ("diversity", {"max_penalty": None, "n_min": 1}, "reward.components.diversity.options.n_min: must be in "
                                                     "[2, n_max=10], got 1"),
    ("format", {"strict": True}, "reward.components.format.options.strict: unknown option of format (known: none)"),
])
def test_options_are_typed_and_checked_with_one_line_naming_the_key(name, options, message):
    with pytest.raises(OptionError) as err:
        reward_spec(name).parse(options)
    assert str(err.value) == message


def test_every_builtin_component_declares_what_the_run_reads_from_it():
    specs = {name: reward_spec(name) for name in known_rewards()}
    assert set(specs) >= {"length", "format", "correctness", "relevance", "risk", "diversity", "ctcvr", "judge"}
    assert {n for n, s in specs.items() if s.token_coefficient} == {"risk", "diversity", "correctness"}
    assert {n for n, s in specs.items() if s.stateful} == {"diversity"}
    assert {n for n, s in specs.items() if s.uses_gpu} == {"judge"}
    for spec in specs.values():
        spec.parse({})  # the defaults themselves pass the checks


def test_the_run_supplies_options_the_preset_leaves_out_and_the_preset_wins():
    from relate_ray.rewards.registry import component_options

    cfg = config("reward=relate", "model.embedder=/models/emb", "+reward.components.diversity.options.group_size=3")
    assert component_options(cfg, None, "relevance")["embedder"] == "/models/emb"
    diversity = component_options(cfg, None, "diversity")
    assert diversity["delta_d"] == cfg.reward.delta_d and diversity["group_size"] == 3
    assert component_options(cfg, None, "judge")["model"] == cfg.reward_workers.judge_model
