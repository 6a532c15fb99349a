"""What a run needs before its first step: data, models, the CTCVR model, and the named actors."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import ray

from relate_ray.assets import cache_dir, resolve_model
from relate_ray.config import ConfigError
from relate_ray.data.embedded import ensure_embedded_data
from relate_ray.data.loading import load_requests
from relate_ray.data.schema import AdRequest
from relate_ray.trainer.cluster import GROUP_OF, PlacementError, resource_plan, start_ray
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
        embedded = ensure_embedded_data(cfg.data.lang, cfg.data.n_requests, cfg.data.n_impressions, cfg.seed,
                                        cfg.cache_dir or None)
    train = _load(embedded.train if cfg.data.train == "embedded" else Path(cfg.data.train), cfg, "train")
    valid = _load(embedded.valid if cfg.data.valid == "embedded" else Path(cfg.data.valid), cfg, "valid")
    policy = resolve_model(cfg.model.policy, cfg.cache_dir or None)
    return RunData(train, valid, policy, AutoTokenizer.from_pretrained(policy),
                   embedded.root if embedded else None)


def ctcvr_model_dir(cfg, data: RunData) -> str:
    """The CTCVR model the reward uses: the configured folder, or the embedded one (trained once)."""
    if cfg.reward_workers.ctcvr_model:
        return cfg.reward_workers.ctcvr_model
    if data.embedded_root is None:
        raise ConfigError("reward_workers.ctcvr_model: required when data.train is your own file "
                          "(train one with python -m relate_ray.ctcvr.train --logs YOUR_LOGS)")
    from filelock import FileLock

    from relate_ray.ctcvr.train import train

    folder = cache_dir(cfg.cache_dir or None) / "ctcvr" / data.embedded_root.name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not (folder / "ctcvr.json").exists():
            log.info("training the CTCVR reward model on the embedded impression logs (once)")
            train(data.embedded_root / "impressions.jsonl", folder, cfg.model.embedder)
    return str(folder)


def reward_options(cfg, data: RunData, name: str) -> dict:
    options = dict(cfg.reward.components[name].options or {})
    if name == "relevance":
        options.setdefault("embedder", cfg.model.embedder)
    elif name == "diversity":
        options.setdefault("delta_d", cfg.reward.delta_d)
        options.setdefault("group_size", cfg.rollout.group_size)
    elif name == "ctcvr":
        options.setdefault("model_dir", ctcvr_model_dir(cfg, data))
    elif name == "judge":
        options.setdefault("model", cfg.reward_workers.judge_model)
        options.setdefault("cache_dir", cfg.cache_dir or None)
        options.setdefault("kv_cache_gib", cfg.rollout.kv_cache_gib)
        options.setdefault("gpu_memory_utilization", cfg.reward_workers.judge_gpu_memory_utilization)
    return options


def learner_config(cfg, tokenizer) -> dict:
    lc = cfg.learner
    samples = cfg.trainer.prompts_per_step * cfg.rollout.group_size
    return {"seed": cfg.seed, "dtype": lc.dtype, "lr": lc.lr, "weight_decay": lc.weight_decay,
            "micro_batch_size": lc.micro_batch_size, "samples_per_rank": samples // lc.num_ranks,
            "grad_clip": lc.grad_clip, "clip_eps": lc.clip_eps, "clip_eps_high": lc.clip_eps_high,
            "beta": lc.beta, "kl_kind": lc.kl_kind, "loss_agg": lc.loss_agg,
            "recompute_old_logprobs": lc.recompute_old_logprobs, "share_prompt_prefix": lc.share_prompt_prefix,
            "gradient_checkpointing": lc.gradient_checkpointing, "fused_adam": lc.fused_adam,
            "temperature": cfg.rollout.temperature, "ppo_epochs": lc.ppo_epochs, "mini_batches": lc.mini_batches,
            "tis_cap": lc.tis_cap,
            "pad_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}


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
    from relate_ray.workers.learner import LearnerWorker
    from relate_ray.workers.reward_worker import RewardWorker
    from relate_ray.workers.rollout_worker import RolloutWorker

    plan = {actor.name: actor for actor in resource_plan(cfg)}
    start_ray(cfg, list(plan.values()))
    cores = os.cpu_count() or 1
    rc = cfg.rollout
    # Rollout and reward workers come back after a crash; a call in flight then fails (at most
    # once) and its caller redoes it on the new process (relate_ray.trainer.recovery).
    restartable = {"max_restarts": cfg.fault.max_restarts, "max_task_retries": 0}
    rollout_names = [f"rollout-{i}" for i in range(rc.num_workers)]
    rollout = [RolloutWorker.options(**plan[name].options(), **restartable).remote(
        str(data.policy_path), cfg.model.dtype, cfg.seed + i, rc.max_model_len, rc.kv_cache_gib,
        rc.gpu_memory_utilization) for i, name in enumerate(rollout_names)]
    ranks = cfg.learner.num_ranks
    lcfg = learner_config(cfg, data.tokenizer)
    threads = cfg.learner.threads or max(1, cores // ranks)
    learners = [LearnerWorker.options(**plan[f"learner-rank{r}"].options()).remote(
        r, ranks, None, 0, str(data.policy_path), lcfg, threads) for r in range(ranks)]
    # The group meets at rank 0's own node (a driver-side 127.0.0.1 fails once ranks span nodes);
    # setup blocks until every rank has joined, so all are asked at once.
    master = _wait_started({"learner-rank0": learners[0].endpoint.remote()}, cfg.cluster.start_timeout_s)[0]
    setups = {f"learner-rank{r}": w.setup.remote(*master) for r, w in enumerate(learners)}
    components_by_group: dict[str, dict] = {}
    for name in cfg.reward.components:
        components_by_group.setdefault(GROUP_OF.get(name, "rules"), {})[name] = reward_options(cfg, data, name)
    groups, handles = [], {}
    for group, components in sorted(components_by_group.items()):
        size = 1 if group == "diversity" else cfg.reward_workers.pool_size
        names = [f"reward-{group}" + ("" if group == "diversity" else f"-{i}") for i in range(size)]
        workers = [RewardWorker.options(**plan[name].options(), **restartable).remote(components, cores)
                   for name in names]
        groups.append(RewardGroup(group, workers, splittable=group != "diversity", names=names))
        handles[group] = workers
    # Fail early and clearly if an actor cannot start (bad model folder, out of memory...).
    named = {**dict(zip(rollout_names, rollout)), **{f"learner-rank{r}": w for r, w in enumerate(learners)},
             **{name: w for group in groups for name, w in zip(group.names, group.workers)}}
    _wait_started(setups, cfg.cluster.start_timeout_s)
    infos = _wait_started({name: actor.ready.remote() for name, actor in named.items()}, cfg.cluster.start_timeout_s)
    # Which process is which actor, and on which node (for py-spy, top or a kill), as the dashboard shows.
    log.info("actor pids: %s", ", ".join(f"{name}={info['pid']}@{info['node'][:12]}" for name, info in zip(named, infos)))
    restarts = Restarts(cfg.fault.max_restarts, cfg.fault.restart_timeout_s)
    pool = RewardPool(groups, cfg.reward_workers.timeout_s, cfg.reward_workers.retries, cfg.reward_workers.on_failure,
                      restarts)
    # The engines' dtype as each resolved it on its own node (not this driver's CPU flags).
    engine_dtypes = {info["dtype"] for name, info in zip(named, infos) if name in rollout_names}
    if cfg.sync.dtype == "auto" and len(engine_dtypes) > 1:
        raise PlacementError(f"sync.dtype=auto: the rollout engines resolved model.dtype={cfg.model.dtype} to "
                             f"{', '.join(sorted(engine_dtypes))} on different nodes; set model.dtype explicitly")
    sync_dtype = engine_dtypes.pop() if cfg.sync.dtype == "auto" else cfg.sync.dtype
    weights = WeightSync(cfg.sync.backend, learners[0], rollout, run_id, sync_dtype, cfg.sync.bucket_mb,
                         cfg.sync.timeout_s, rounding=cfg.sync.rounding)
    return Actors(RolloutFleet(rollout, rollout_names, weights, restarts), learners, pool, weights, restarts, handles)
