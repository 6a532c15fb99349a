"""The run's plan from the config and the reward registry (pure, milliseconds): which actors, with
what resources, in which placement-group bundles, and the checks that refuse a plan at start-up."""

import pytest
from hydra import compose, initialize_config_dir

from relate_ray.config import ConfigError, register_configs
from relate_ray.validation import validate_config
from relate_ray.data.prompts import DEFAULT_CONF_DIR
from relate_ray.trainer.plan import build_plan, format_plan

register_configs()


def config(*overrides):
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_reward_groups_come_from_the_registry_and_a_stateful_group_has_one_member():
    plan = build_plan(config("reward=relate", "reward_workers.pool_size=2", "cluster.gpus_per_judge=0.25"))
    groups = plan.reward_groups()
    assert {g: [a.name for a in members] for g, members in groups.items()} == {
        "diversity": ["reward-diversity"], "embedding": ["reward-embedding-0", "reward-embedding-1"],
        "judge": ["reward-judge-0", "reward-judge-1"], "rules": ["reward-rules-0", "reward-rules-1"]}
    assert set(groups["rules"][0].components) == {"length", "format", "correctness", "risk"}
    # Both users of the sentence embedder in one worker, so it holds one copy of the embedder.
    assert set(groups["embedding"][0].components) == {"ctcvr", "relevance"}
    # Only the component that runs a model on a GPU asks for one.
    assert {a.group: a.gpus for a in plan.of("reward")} == {"embedding": 0, "diversity": 0, "judge": 0.25, "rules": 0}


def test_each_role_gets_its_own_placement_group_with_one_bundle_per_actor():
    plan = build_plan(config("rollout.num_workers=2", "learner.num_ranks=2", "cluster.rollout_placement=spread",
                             "+cluster.learner_resources.big=1"))
    by_name = {p.name: p for p in plan.placements}
    assert by_name["rollout"].strategy == "SPREAD" and by_name["learner"].strategy == "PACK"
    assert by_name["learner"].bundles == ({"CPU": 1, "big": 1}, {"CPU": 1, "big": 1})
    assert [(a.placement, a.bundle) for a in plan.of("learner")] == [("learner", 0), ("learner", 1)]
    assert all(a.placement is None for a in plan.of("reward"))
    assert [a.env["RANK"] for a in plan.of("learner")] == ["0", "1"]
    assert {a.env["LOCAL_RANK"] for a in plan.of("learner")} == {"0"}
    none = build_plan(config("cluster.rollout_placement=none", "cluster.learner_placement=none"))
    assert none.placements == () and all(a.placement is None for a in none.actors)


def test_colocation_gives_each_learner_rank_a_whole_gpu_shared_with_its_rollout_worker_and_judge():
    cfg = config("+experiment=paper", "dry_run=true")
    validate_config(cfg)
    plan = build_plan(cfg)
    (group,) = [p for p in plan.placements if p.name == "colocated"]
    assert len(group.bundles) == 8 and all(b["GPU"] == 1 for b in group.bundles)
    for rank in range(8):
        sharing = sorted(a.name for a in plan.actors if a.placement == "colocated" and a.bundle == rank)
        assert sharing == sorted([f"learner-rank{rank}", f"rollout-{rank}", f"reward-judge-{rank}"])
    assert "pg=colocated[3]" in format_plan(cfg, plan)


@pytest.mark.parametrize("overrides, message", [
    (["+experiment=paper", "cluster.colocate=false"], "cluster.gpus_per_learner_rank: a fraction of a GPU"),
    (["+experiment=paper", "cluster.gpus_per_judge=0.5"], "cluster.colocate: the actors sharing a GPU ask more "
                                                           "than 1 (bundle 0: rollout-0 0.375 + learner-rank0 0.5 + "
                                                           "reward-judge-0 0.5 = 1.375; and 7 more bundles)"),
    (["cluster.learner_placement=diagonal"], "cluster.learner_placement: must be none or one of"),
])
def test_a_plan_that_would_put_two_ranks_on_one_gpu_or_overfill_a_gpu_is_refused(overrides, message):
    cfg = config(*overrides, "dry_run=true")
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
