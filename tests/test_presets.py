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


def test_models_are_sentence_level_and_relate_moves_diversity_risk_and_correctness_to_tokens():
    _, model4 = preset("model4")
    cfg, relate = preset("relate")
    assert all(s.granularity == "sentence" for s in model4.values())
    assert {n for n, s in relate.items() if s.granularity == "token"} == {"diversity", "risk", "correctness"}
    assert relate["risk"].token_coef == cfg.lambda1 and relate["diversity"].token_coef == cfg.lambda2
    assert relate["correctness"].token_coef == cfg.lambda1
    assert relate["risk"].weight == model4["risk"].weight


def test_token_granularity_needs_a_token_form():
    cfg, _ = preset("model1")
    cfg.components.length.granularity = "token"
    with pytest.raises(ValueError, match="reward.components.length.granularity"):
        component_specs(cfg)


def test_reward_aggregation_is_validated():
    from relate_ray.config import ConfigError
    from relate_ray.validation import validate_config

    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        for good in ("sum_then_normalize", "normalize_then_sum"):
            validate_config(compose(config_name="config", overrides=[f"reward.aggregation={good}"]))
        cfg = compose(config_name="config", overrides=["reward.aggregation=normalise_then_sum"])
    assert cfg.reward.aggregation == "normalise_then_sum"  # Hydra takes any string; validate_config must not
    with pytest.raises(ConfigError, match=r"^reward\.aggregation: must be one of sum_then_normalize, normalize_then_sum"):
        validate_config(cfg)


def test_monitor_all_logs_every_component_but_trains_on_the_presets_only():
    import torch

    from relate_ray.algo.credit import assign_credit
    from relate_ray.rewards.presets import add_monitored_components

    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["reward=model1", "reward.monitor_all=true"])
    added = add_monitored_components(cfg)
    assert set(added) == {"ctcvr", "diversity", "judge", "relevance", "correctness", "risk"}
    specs = component_specs(cfg.reward)
    assert {s.name: s.weight for s in specs if s.name in added} == dict.fromkeys(added, 0.0)
    # The monitored ctcvr is the one model2 trains on (relative log-lift), so the curves compare.
    _, model2 = preset("model2")
    assert cfg.reward.components.ctcvr.options == {} and model2["ctcvr"].granularity == "sentence"
    from relate_ray.rewards.ctcvr import CTCVROptions

    assert CTCVROptions().relative is True
    n = 4
    scores = {s.name: torch.randn(n) for s in specs}
    credit = assign_credit(scores, {}, torch.ones(n, 3), specs, group_size=2, alpha=1.0)
    assert torch.allclose(credit.sentence_rewards, 0.5 * scores["length"] + 0.5 * scores["format"])
