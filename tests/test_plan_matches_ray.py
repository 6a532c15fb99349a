"""The actors a run builds are the ones its dry run prints (slow: real Ray, vLLM and DeepSpeed).

`python -m relate_ray.launch ... dry_run=true` prints the plan; `build_actors` is then run with the
same overrides and Ray's own actor table (the state API behind the dashboard) is read back: the same
names, classes and resources, each planned actor in its placement group's planned bundle, no other."""

import os
import re
import uuid

import pytest
from hydra import compose, initialize_config_dir

from relate_ray.config import register_configs
from relate_ray.data.prompts import DEFAULT_CONF_DIR
from relate_ray.dtypes import reference_dtype
from test_training_e2e import TINY, launch

pytestmark = pytest.mark.slow
register_configs()
CLASS_OF = {"rollout": "RolloutWorker", "learner": "LearnerWorker", "reward": "RewardWorker"}


def dry_run_lines(overrides, run_dir) -> dict[str, str]:
    # Hydra makes a run folder even for a dry run: in pytest's temporary folder, not the repository.
    result = launch(*overrides, "dry_run=true", f"hydra.run.dir={run_dir}", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"  (rollout|learner|reward)-", line)]
    return {row[0]: " ".join(row[1:]) for row in rows}


def ray_resources(required: dict) -> tuple[dict, str | None, int | None]:
    """Ray's required_resources of one actor as (resources, placement group id, bundle index):
    inside a group Ray renames CPU to CPU_group_<bundle>_<group id>."""
    plain, group, bundle = {}, None, None
    for key, amount in required.items():
        indexed = re.fullmatch(r"(\w+?)_group_(\d+)_([0-9a-f]+)", key)
        if indexed and not key.startswith("bundle_group"):
            plain[indexed[1]], bundle, group = amount, int(indexed[2]), indexed[3]
        elif "_group_" not in key:
            plain[key] = amount
    return plain, group, bundle


def test_the_built_actors_are_the_dry_run_plan(tiny_policy_dir, tmp_path):
    import ray
    from ray.util.state import list_actors

    from relate_ray.trainer.setup import build_actors, load_run_data

    overrides = [f"model.policy={tiny_policy_dir}", *TINY, "cluster.include_dashboard=true", "reward=model2",
                 "reward_workers.pool_size=2", "model.dtype=float32"]
    printed = dry_run_lines(overrides, tmp_path / "run")
    assert set(printed) == {"rollout-0", "learner-rank0", "reward-rules-0", "reward-rules-1",
                            "reward-embedding-0", "reward-embedding-1"}
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    try:
        actors = build_actors(cfg, load_run_data(cfg), run_id=f"plan-{uuid.uuid4().hex[:8]}")
        groups = {pg.id.hex(): name for name, pg in actors.placement_groups.items()}
        # This run's cluster by its address: the suite runs tests side by side, each with its own Ray.
        seen = {a.name: a for a in list_actors(address=ray.get_runtime_context().gcs_address, detail=True,
                                               filters=[("ray_namespace", "=", "relate_ray")])}
        assert set(seen) == set(printed)
        for spec in actors.plan.actors:
            state = seen[spec.name]
            resources, group, bundle = ray_resources(state.required_resources)
            assert state.class_name == CLASS_OF[spec.kind] and state.state == "ALIVE"
            assert resources == {"CPU": spec.cpus, **spec.resources}
            assert (groups.get(group), bundle) == ((spec.placement, spec.bundle) if spec.placement else (None, None))
            # What the dry run printed for this actor is what Ray holds.
            assert f"cpu={spec.cpus:g}" in printed[spec.name]
            assert all(f"{k}={v:g}" in printed[spec.name] for k, v in spec.resources.items())
        assert {a.name for a in actors.plan.actors if a.placement} == {"rollout-0", "learner-rank0"}
        # The engine asked one CPU, so Ray started it with OMP_NUM_THREADS=1; the run sets its
        # threads before vLLM loads (rollout.threads 0: every core, with one rollout worker).
        rollout = ray.get(actors.rollout.workers[0].ready.remote())
        assert rollout["threads"] == os.cpu_count()
        # Both keep a freed frame-stack chunk (relate_ray/workers/frame_stack.py): the streaming
        # rollout's decode loop otherwise mapped and unmapped 180 chunks an engine step.
        assert rollout["frame_chunks_cached"]
        learners = ray.get([rank.ready.remote() for rank in actors.learners])
        assert all(info["frame_chunks_cached"] for info in learners)
        # The frozen reference was loaded in learner.reference_dtype's choice for this machine (auto:
        # bf16 where native, so here on an AVX-512 BF16 or AMX machine, the training dtype elsewhere).
        assert all(info["reference_dtype"] == reference_dtype("auto", "float32") for info in learners)
        actors.weights.close()
    finally:
        ray.shutdown()
