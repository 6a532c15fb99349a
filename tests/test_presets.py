"""The Table 2 presets compose through Hydra into the component specs credit assignment uses."""

import pytest
from hydra import compose, initialize_config_dir

from relate_ray.config import register_configs
from relate_ray.data.prompts import DEFAULT_CONF_DIR
from relate_ray.rewards.presets import component_specs

register_configs()


def preset(name):
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"reward={name}"])
    return cfg.reward, {s.name: s for s in component_specs(cfg.reward)}


def test_each_model_adds_one_reward_family():
    names = {m: set(preset(m)[1]) for m in ("model1", "model2", "model3", "model4", "relate")}
    assert names["model1"] == {"length", "format"}
    assert names["model2"] - names["model1"] == {"ctcvr"}
    assert names["model3"] - names["model2"] == {"diversity"}
    assert names["model4"] - names["model3"] == {"judge", "relevance", "correctness", "risk"}
    assert names["relate"] == names["model4"]


def test_models_are_sentence_level_and_relate_moves_diversity_and_risk_to_tokens():
    _, model4 = preset("model4")
    cfg, relate = preset("relate")
    assert all(s.granularity == "sentence" for s in model4.values())
    assert {n for n, s in relate.items() if s.granularity == "token"} == {"diversity", "risk"}
    assert relate["risk"].token_coef == cfg.lambda1 and relate["diversity"].token_coef == cfg.lambda2
    assert relate["risk"].weight == model4["risk"].weight


def test_token_granularity_needs_a_token_form():
    cfg, _ = preset("model1")
    cfg.components.length.granularity = "token"
    with pytest.raises(ValueError, match="reward.components.length.granularity"):
        component_specs(cfg)


def test_reward_aggregation_is_validated():
    from relate_ray.config import ConfigError, validate_config

    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        for good in ("sum_then_normalize", "normalize_then_sum"):
            validate_config(compose(config_name="config", overrides=[f"reward.aggregation={good}"]))
        cfg = compose(config_name="config", overrides=["reward.aggregation=normalise_then_sum"])
    assert cfg.reward.aggregation == "normalise_then_sum"  # Hydra takes any string; validate_config must not
    with pytest.raises(ConfigError, match=r"^reward\.aggregation: must be one of sum_then_normalize, normalize_then_sum"):
        validate_config(cfg)
