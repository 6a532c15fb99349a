"""What a run needs before its first step: data, models, the CTCVR model, and the named actors."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import ray

from relate_ray.assets import resolve_model
from relate_ray.data.embedded import ensure_embedded_data
from relate_ray.data.loading import load_requests
from relate_ray.data.schema import AdRequest
from relate_ray.rewards.registry import component_options
from relate_ray.trainer.cluster import PlacementError, actor_options, reserve_placement_groups, start_ray
from relate_ray.trainer.plan import RunPlan, build_plan, format_plan
from relate_ray.trainer.recovery import Restarts
from relate_ray.trainer.reward_pool import RewardGroup, RewardPool
from relate_ray.trainer.rollout_fleet import RolloutFleet
from relate_ray.trainer.weight_sync import WeightSync

log = logging.getLogger(__name__)


@dataclass
class RunData:
    train: list[AdRequest]
    valid: list[AdRequest]
    policy_path: Path
    tokenizer: object
    embedded_root: Path | None = None


@dataclass
class Actors:
    rollout: RolloutFleet
    learners: list
    rewards: RewardPool
    weights: WeightSync
    restarts: Restarts
    reward_workers: dict = field(default_factory=dict)
    plan: RunPlan | None = None
    placement_groups: dict = field(default_factory=dict)


def _load(path: Path, cfg, role: str) -> list[AdRequest]:
    requests, report = load_requests(path, cfg.data.on_bad_row)
    if report.bad:
        log.warning("%s data %s: skipped %d bad rows of %d (see python -m relate_ray.data validate %s)",
                    role, path, report.bad, report.rows, path)
    return requests


def load_run_data(cfg) -> RunData:
    from transformers import AutoTokenizer

    embedded = None
    if "embedded" in (cfg.data.train, cfg.data.valid):
        embedded = ensure_embedded_data(cfg.data.lang, cfg.data.n_requests, cfg.data.n_impressions, cfg.data.seed,
                                        cfg.cache_dir or None)
    train = _load(embedded.train if cfg.data.train == "embedded" else Path(cfg.data.train), cfg, "train")
    valid = _load(embedded.valid if cfg.data.valid == "embedded" else Path(cfg.data.valid), cfg, "valid")
    policy = resolve_model(cfg.model.policy, cfg.cache_dir or None)
    return RunData(train, valid, policy, AutoTokenizer.from_pretrained(policy),
                   embedded.root if embedded else None)


def learner_config(cfg, tokenizer) -> dict:
    lc = cfg.learner
    samples = cfg.trainer.prompts_per_step * cfg.rollout.group_size
    return {"seed": cfg.seed, "dtype": learner_dtype(cfg), "reference_dtype": lc.reference_dtype, "lr": lc.lr,
            "weight_decay": lc.weight_decay,
            "micro_batch_size": lc.micro_batch_size, "samples_per_rank": samples // lc.num_ranks,
            "grad_clip": lc.grad_clip, "clip_eps": lc.clip_eps, "clip_eps_high": lc.clip_eps_high,
            "beta": lc.beta, "kl_kind": lc.kl_kind, "loss_agg": lc.loss_agg,
            "recompute_old_logprobs": lc.recompute_old_logprobs, "share_prompt_prefix": lc.share_prompt_prefix,
            "gradient_checkpointing": lc.gradient_checkpointing, "fused_adam": lc.fused_adam,
            "freeze_embeddings": lc.freeze_embeddings, "return_freed_memory": lc.return_freed_memory,
            "onednn_linear": lc.onednn_linear, "math_attention": lc.math_attention,
            "ppo_epochs": lc.ppo_epochs, "mini_batches": lc.mini_batches,
            "tis_cap": lc.tis_cap,
            # grpo (eq. 6) | sft (the NLL of the targets; relate_ray.sft sets it)
            "objective": "grpo",
            "pad_id": pad_id(tokenizer)}


def learner_dtype(cfg) -> str:
    """learner.dtype, with `auto` meaning the engines' model.dtype (itself possibly `auto`, which each
    learner rank resolves on its own node with relate_ray.dtypes.resolve_dtype)."""
    return cfg.model.dtype if cfg.learner.dtype == "auto" else cfg.learner.dtype


def pad_id(tokenizer) -> int:
    """The token id that fills padding (the tokenizer's pad token, else its end-of-sequence token)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _wait_started(calls: dict, timeout_s: float) -> list:
    """Results of one start-up call per actor ({name: ref}), in order; a PlacementError naming the
    actors whose call has not returned after `timeout_s` (they are still pending placement, or stuck)."""
    _, waiting = ray.wait(list(calls.values()), num_returns=len(calls), timeout=timeout_s)
    if waiting:
        late = [name for name, ref in calls.items() if ref in waiting]
        raise PlacementError(f"cluster: {', '.join(late)} not started after cluster.start_timeout_s={timeout_s:g} s "
                             f"(the Ray dashboard shows why: a resource no node has, or a node that is full)")
    return ray.get(list(calls.values()))


def build_actors(cfg, data: RunData, run_id: str) -> Actors:
    """Start exactly the actors of the run's plan (relate_ray.trainer.plan), and wait until each is up."""
    from relate_ray.workers.learner import LearnerWorker
    from relate_ray.workers.reward_worker import RewardWorker
    from relate_ray.workers.rollout_worker import RolloutWorker

    plan = build_plan(cfg)
    log.info("%s", format_plan(cfg, plan))
    start_ray(cfg, plan)
    groups = reserve_placement_groups(plan, cfg.cluster.start_timeout_s)
    cores = os.cpu_count() or 1
    rc = cfg.rollout
    # Rollout and reward workers come back after a crash; a call in flight then fails (at most
    # once) and its caller redoes it on the new process (relate_ray.trainer.recovery).
    restartable = {"max_restarts": cfg.fault.max_restarts, "max_task_retries": 0}
    rollout = {a.name: RolloutWorker.options(**actor_options(a, groups), **restartable).remote(
        str(data.policy_path), cfg.model.dtype, cfg.seed + a.index, rc.max_model_len, rc.kv_cache_gib,
        rc.gpu_memory_utilization, rc.threads or max(1, cores // rc.num_workers), rc.compile,
        rc.return_freed_memory, rc.direct_reload)
        for a in plan.of("rollout")}
    lcfg = learner_config(cfg, data.tokenizer)
    threads = cfg.learner.threads or max(1, cores // cfg.learner.num_ranks)
    learners = {a.name: LearnerWorker.options(**actor_options(a, groups)).remote(
        a.index, cfg.learner.num_ranks, None, 0, str(data.policy_path), lcfg, threads) for a in plan.of("learner")}
    # Every actor is created before the driver waits on any: the reward workers start while the
    # learner imports, instead of after its endpoint answers (measured: 5 actors ready in 50 s before).
    reward_groups, handles = [], {}
    for group, members in plan.reward_groups().items():
        components = {name: component_options(cfg, data, name) for name in members[0].components}
        workers = [RewardWorker.options(**actor_options(a, groups), **restartable).remote(components, cores)
                   for a in members]
        reward_groups.append(RewardGroup(group, workers, stateful=members[0].stateful,
                                         names=[a.name for a in members]))
        handles[group] = workers
    # The group meets at rank 0's own node (a driver-side 127.0.0.1 fails once ranks span nodes);
    # setup blocks until every rank has joined, so all are asked at once.
    rank0 = plan.of("learner")[0].name
    master = _wait_started({rank0: learners[rank0].endpoint.remote()}, cfg.cluster.start_timeout_s)[0]
    setups = {name: w.setup.remote(*master) for name, w in learners.items()}
    # Fail early and clearly if an actor cannot start (bad model folder, out of memory...).
    named = {**rollout, **learners, **{name: w for g in reward_groups for name, w in zip(g.names, g.workers)}}
    _wait_started(setups, cfg.cluster.start_timeout_s)
    infos = dict(zip(named, _wait_started({name: actor.ready.remote() for name, actor in named.items()},
                                          cfg.cluster.start_timeout_s)))
    # Which process is which actor, and on which node (for py-spy, top or a kill), as the dashboard shows.
    log.info("actor pids: %s", ", ".join(f"{name}={info['pid']}@{info['node'][:12]}" for name, info in infos.items()))
    restarts = Restarts(cfg.fault.max_restarts, cfg.fault.restart_timeout_s)
    pool = RewardPool(reward_groups, cfg.reward_workers.timeout_s, cfg.reward_workers.retries,
                      cfg.reward_workers.on_failure, restarts)
    weights = WeightSync(cfg.sync.backend, learners[rank0], list(rollout.values()), run_id,
                         _sync_dtype(cfg, [infos[name]["dtype"] for name in rollout]), cfg.sync.bucket_mb,
                         cfg.sync.timeout_s, rounding=cfg.sync.rounding)
    return Actors(RolloutFleet(list(rollout.values()), list(rollout), weights, restarts), list(learners.values()),
                  pool, weights, restarts, handles, plan, groups)


def _sync_dtype(cfg, engine_dtypes: list[str]) -> str:
    """The engines' dtype as each resolved it on its own node (not this driver's CPU flags)."""
    if cfg.sync.dtype != "auto":
        return cfg.sync.dtype
    if len(set(engine_dtypes)) > 1:
        raise PlacementError(f"sync.dtype=auto: the rollout engines resolved model.dtype={cfg.model.dtype} to "
                             f"{', '.join(sorted(set(engine_dtypes)))} on different nodes; set model.dtype explicitly")
    return engine_dtypes[0]
