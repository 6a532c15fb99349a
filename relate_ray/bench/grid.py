"""The step-time grid of `python -m relate_ray.bench all`: one run's actors, steps of growing shape.

One `Controller` (the run's own actors: the compiled vLLM rollout engine, every reward worker of
the `relate` preset, the DeepSpeed learner, the weight sync) takes a warm-up step on the workload,
then one step per grid point, where G, prompts per step and max new tokens grow one at a time.
The learner takes each step as one micro-batch (learner.micro_batch_size=64), so one DeepSpeed
engine, whose accumulation count is fixed when it starts, serves every shape.

Each row splits the step by phase. `reward_share` is time/reward over time/step: with the groups
streamed to the reward workers as they finish (reward_workers.stream), what scoring adds after the
last group is sampled.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger("relate_ray.bench")
# (label, overrides on top of the workload), each point changing one thing.
GRID = (("base", {}), ("G=10", {"rollout.group_size": 10}), ("prompts=4", {"trainer.prompts_per_step": 4}),
        ("tokens=96", {"rollout.max_new_tokens": 96}))
PHASES = ("rollout", "reward", "learner", "sync")


def grid_overrides(workload: dict, dtype: str) -> list[str]:
    """The run's overrides for the workload (side_by_side's constants) with every reward of `relate`."""
    learner_dtype = "bfloat16" if dtype == "bfloat16" else "float32"
    return ["reward=relate", f"model.dtype={dtype}", f"learner.dtype={learner_dtype}",
            f"trainer.prompts_per_step={workload['prompts']}", f"rollout.group_size={workload['group_size']}",
            f"rollout.max_new_tokens={workload['max_new_tokens']}", f"rollout.temperature={workload['temperature']}",
            f"learner.lr={workload['lr']}", f"learner.beta={workload['beta']}", "learner.mini_batches=1",
            "learner.micro_batch_size=64", "trainer.eval_every=0", "trainer.checkpoint_every=0",
            "cluster.include_dashboard=false"]


def grid_section(workload: dict, dtype: str) -> dict:
    """{label: the step's seconds per phase, samples, samples/s, reward_share} for each GRID point."""
    import ray
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from relate_ray.config import register_configs
    from relate_ray.validation import validate_config
    from relate_ray.data.prompts import DEFAULT_CONF_DIR
    from relate_ray.trainer.controller import Controller

    register_configs()
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=grid_overrides(workload, dtype))
    validate_config(cfg)
    base = {key: OmegaConf.select(cfg, key) for _, changes in GRID for key in changes}
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="relate_bench_grid_") as tmp:
        controller = Controller(cfg, Path(tmp))
        try:
            controller.train_step(1)  # warm-up: first-call costs of every actor
            for step, (label, changes) in enumerate(GRID, start=2):
                for key, value in {**base, **changes}.items():
                    OmegaConf.update(cfg, key, value)
                log.info("bench grid: %s", label)
                metrics, _ = controller.train_step(step)
                seconds = metrics["time/step"]
                rows[label] = {"step_s": round(seconds, 2), **{p: round(metrics[f"time/{p}"], 2) for p in PHASES},
                               "samples": metrics["batch/samples"],
                               "samples_per_s": round(metrics["batch/samples"] / seconds, 3),
                               "reward_share": round(metrics["time/reward"] / seconds, 4)}
        finally:
            controller.actors.weights.close()
            ray.shutdown()
    return rows
