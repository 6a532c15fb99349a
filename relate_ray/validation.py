"""Range, choice and consistency checks of a composed run config, beyond Hydra's type checks.

Apart from the schema (relate_ray/config.py) because the checks need the owners of the allowed
values: the loss aggregations and KL estimators (algo), the sync roundings, the reward registry,
the placement strategies and loggers (trainer). Each failure is one ConfigError naming the key.
"""

from __future__ import annotations

from relate_ray.algo.credit import REWARD_AGGREGATIONS
from relate_ray.algo.loss import AGGREGATIONS, KL_KINDS
from relate_ray.config import ConfigError, check_setting, plain
from relate_ray.sync.rounding import ROUNDINGS


def validate_config(cfg) -> None:
    """Range and choice checks Hydra's type checks cannot express. Raises ConfigError."""
    check_setting(cfg.model.dtype in ("auto", "bfloat16", "float16", "float32"), "model.dtype",
           "must be auto, bfloat16, float16 or float32", cfg.model.dtype)
    check_setting(0.5 <= cfg.cluster.memory_kill_threshold <= 1.0, "cluster.memory_kill_threshold",
                  "must be in [0.5, 1]", cfg.cluster.memory_kill_threshold)
    check_setting(cfg.model.embedder_dtype in ("auto", "bfloat16", "float32"), "model.embedder_dtype",
                  "must be auto, bfloat16 or float32", cfg.model.embedder_dtype)
    for key, fields in cfg.ad.length_limits.items():
        check_setting(key in ("en", "zh", "en_words"), f"ad.length_limits.{key}", "must be en, zh or en_words", key)
        for name, bounds in fields.items():
            check_setting(name in ("title", "description") and len(bounds) == 2 and 0 <= bounds[0] <= bounds[1],
                   f"ad.length_limits.{key}.{name}", "must be title or description: [low, high], 0 <= low <= high",
                   list(bounds))
    check_setting(cfg.data.lang in ("en", "zh"), "data.lang", "must be en or zh", cfg.data.lang)
    check_setting(cfg.data.n_requests >= 10, "data.n_requests", "must be at least 10", cfg.data.n_requests)
    check_setting(cfg.data.n_impressions >= 1, "data.n_impressions", "must be positive", cfg.data.n_impressions)
    check_setting(cfg.data.on_bad_row in ("skip", "stop"), "data.on_bad_row", "must be skip or stop", cfg.data.on_bad_row)
    check_setting(cfg.rollout.group_size >= 2, "rollout.group_size", "G must be at least 2 for group advantages",
           cfg.rollout.group_size)
    check_setting(cfg.rollout.temperature > 0, "rollout.temperature", "must be positive", cfg.rollout.temperature)
    check_setting(0 < cfg.rollout.top_p <= 1, "rollout.top_p", "must be in (0, 1]", cfg.rollout.top_p)
    check_setting(cfg.rollout.max_new_tokens >= 1, "rollout.max_new_tokens", "must be positive", cfg.rollout.max_new_tokens)
    check_setting(cfg.rollout.kv_cache_gib >= 1, "rollout.kv_cache_gib", "must be at least 1", cfg.rollout.kv_cache_gib)
    check_setting(0 < cfg.rollout.gpu_memory_utilization <= 1, "rollout.gpu_memory_utilization",
           "must be in (0, 1]", cfg.rollout.gpu_memory_utilization)
    check_setting(cfg.rollout.num_workers >= 1, "rollout.num_workers", "must be at least 1", cfg.rollout.num_workers)
    check_setting(cfg.trainer.steps >= 1, "trainer.steps", "must be at least 1", cfg.trainer.steps)
    check_setting(cfg.trainer.prompts_per_step >= 1, "trainer.prompts_per_step", "must be at least 1",
           cfg.trainer.prompts_per_step)
    from relate_ray.trainer.metrics import LOGGERS

    for name in cfg.trainer.loggers:
        check_setting(name in LOGGERS, "trainer.loggers", f"each must be one of {', '.join(LOGGERS)}", list(cfg.trainer.loggers))
    check_setting(cfg.trainer.wandb_mode in ("offline", "online", "disabled"), "trainer.wandb_mode",
           "must be offline, online or disabled", cfg.trainer.wandb_mode)
    check_setting(cfg.trainer.oversample >= 1, "trainer.oversample", "must be >= 1", cfg.trainer.oversample)
    check_setting(cfg.trainer.eval_every >= 0, "trainer.eval_every", "must be >= 0", cfg.trainer.eval_every)
    check_setting(cfg.trainer.checkpoint_every >= 0, "trainer.checkpoint_every", "must be >= 0", cfg.trainer.checkpoint_every)
    check_setting(cfg.trainer.keep_checkpoints >= 0, "trainer.keep_checkpoints", "must be >= 0 (0 keeps all)",
           cfg.trainer.keep_checkpoints)
    check_setting(cfg.trainer.keep_resume_states >= 0, "trainer.keep_resume_states", "must be >= 0 (0 keeps all)",
           cfg.trainer.keep_resume_states)
    check_setting(cfg.learner.num_ranks >= 1, "learner.num_ranks", "must be at least 1", cfg.learner.num_ranks)
    samples = cfg.trainer.prompts_per_step * cfg.rollout.group_size
    check_setting(samples % cfg.learner.num_ranks == 0, "learner.num_ranks",
           f"must divide the step's {samples} samples (trainer.prompts_per_step x rollout.group_size)",
           cfg.learner.num_ranks)
    check_setting(cfg.learner.ppo_epochs >= 1, "learner.ppo_epochs", "must be at least 1", cfg.learner.ppo_epochs)
    check_setting(cfg.learner.mini_batches >= 1, "learner.mini_batches", "must be at least 1", cfg.learner.mini_batches)
    check_setting(samples % (cfg.learner.num_ranks * cfg.learner.mini_batches) == 0, "learner.mini_batches",
           f"mini_batches x learner.num_ranks must divide the step's {samples} samples", cfg.learner.mini_batches)
    check_setting(cfg.learner.tis_cap >= 0, "learner.tis_cap", "must be >= 0 (0: off)", cfg.learner.tis_cap)
    check_setting(cfg.learner.lr > 0, "learner.lr", "must be positive", cfg.learner.lr)
    check_setting(cfg.learner.grad_clip >= 0, "learner.grad_clip", "must be >= 0 (0: no clipping)", cfg.learner.grad_clip)
    check_setting(cfg.learner.micro_batch_size >= 1, "learner.micro_batch_size", "must be at least 1",
           cfg.learner.micro_batch_size)
    check_setting(cfg.learner.dtype in ("auto", "float32", "bfloat16"), "learner.dtype", "must be auto, float32 or bfloat16",
                  cfg.learner.dtype)
    check_setting(cfg.learner.reference_dtype in ("auto", "float32", "bfloat16"), "learner.reference_dtype",
                  "must be auto, float32 or bfloat16", cfg.learner.reference_dtype)
    check_setting(0 < cfg.learner.clip_eps < 1, "learner.clip_eps", "must be in (0, 1)", cfg.learner.clip_eps)
    check_setting(cfg.learner.beta >= 0, "learner.beta", "must be >= 0", cfg.learner.beta)
    check_setting(cfg.learner.kl_kind in KL_KINDS, "learner.kl_kind", f"must be one of {', '.join(KL_KINDS)}",
                  cfg.learner.kl_kind)
    check_setting(cfg.learner.loss_agg in AGGREGATIONS, "learner.loss_agg", f"must be one of {', '.join(AGGREGATIONS)}",
           cfg.learner.loss_agg)
    check_setting(cfg.rollout.threads >= 0, "rollout.threads", "must be >= 0 (0: cores / rollout.num_workers)",
           cfg.rollout.threads)
    check_setting(cfg.reward_workers.pool_size >= 1, "reward_workers.pool_size", "must be at least 1", cfg.reward_workers.pool_size)
    check_setting(cfg.reward_workers.timeout_s > 0, "reward_workers.timeout_s", "must be positive", cfg.reward_workers.timeout_s)
    check_setting(cfg.reward_workers.retries >= 0, "reward_workers.retries", "must be >= 0", cfg.reward_workers.retries)
    from relate_ray.trainer.reward_pool import ON_FAILURE

    check_setting(cfg.reward_workers.on_failure in ON_FAILURE, "reward_workers.on_failure",
                  f"must be {' or '.join(ON_FAILURE)}", cfg.reward_workers.on_failure)
    check_setting(0 < cfg.reward_workers.judge_gpu_memory_utilization <= 1, "reward_workers.judge_gpu_memory_utilization",
           "must be in (0, 1]", cfg.reward_workers.judge_gpu_memory_utilization)
    check_setting(cfg.cluster.start_timeout_s > 0, "cluster.start_timeout_s", "must be positive", cfg.cluster.start_timeout_s)
    check_setting(cfg.fault.max_restarts >= 0, "fault.max_restarts", "must be >= 0", cfg.fault.max_restarts)
    check_setting(cfg.fault.restart_timeout_s > 0, "fault.restart_timeout_s", "must be positive", cfg.fault.restart_timeout_s)
    from relate_ray.trainer.plan import STRATEGIES

    for key in ("learner_placement", "rollout_placement"):
        value = getattr(cfg.cluster, key)
        check_setting(value == "none" or value in STRATEGIES, f"cluster.{key}", f"must be none or one of "
               f"{', '.join(STRATEGIES)}", value)
    fraction = 0 < cfg.cluster.gpus_per_learner_rank < 1
    check_setting(cfg.learner.num_ranks == 1 or not fraction or cfg.cluster.colocate, "cluster.gpus_per_learner_rank",
           "a fraction of a GPU with learner.num_ranks > 1 lets two ranks share one device, which NCCL "
           "refuses; set cluster.colocate=true (one GPU per rank, shared with rollout workers) or ask whole GPUs",
           cfg.cluster.gpus_per_learner_rank)
    if cfg.cluster.colocate:
        from relate_ray.trainer.plan import build_plan, colocated_gpu_overflow

        overflow = colocated_gpu_overflow(build_plan(cfg))
        more = f"; and {len(overflow) - 1} more bundles" if len(overflow) > 1 else ""
        check_setting(not overflow, "cluster.colocate", "the actors sharing a GPU ask more than 1 ("
               + "; ".join(overflow[:1]) + more + "): lower cluster.gpus_per_*", cfg.cluster.colocate)
    check_setting(cfg.sync.backend in ("shm", "gloo", "nccl"), "sync.backend", "must be shm, gloo or nccl", cfg.sync.backend)
    check_setting(cfg.sync.backend != "nccl" or cfg.dry_run or (cfg.cluster.gpus_per_rollout_worker > 0
                                                         and cfg.cluster.gpus_per_learner_rank > 0),
           "sync.backend", "nccl needs GPU rollout workers and learner ranks (cluster.gpus_per_rollout_worker, "
           "cluster.gpus_per_learner_rank); on CPU use shm or gloo", cfg.sync.backend)
    check_setting(cfg.sync.rounding in ROUNDINGS, "sync.rounding", f"must be one of {', '.join(ROUNDINGS)}",
           cfg.sync.rounding)
    check_setting(cfg.sync.bucket_mb >= 1, "sync.bucket_mb", "must be at least 1", cfg.sync.bucket_mb)
    check_setting(cfg.sync.timeout_s > 0, "sync.timeout_s", "must be positive", cfg.sync.timeout_s)
    check_setting(cfg.reward.aggregation in REWARD_AGGREGATIONS, "reward.aggregation",
           f"must be one of {', '.join(REWARD_AGGREGATIONS)}", cfg.reward.aggregation)
    check_setting(len(cfg.reward.components) > 0, "reward.components", "needs at least one component", dict(cfg.reward.components))
    from relate_ray.rewards.registry import OptionError, known_rewards, reward_spec

    for name, component in cfg.reward.components.items():
        check_setting(name in known_rewards(), f"reward.components.{name}", f"unknown reward (known: {', '.join(known_rewards())})",
               name)
        spec = reward_spec(name)
        check_setting(component.granularity in ("sentence", "token"), f"reward.components.{name}.granularity",
               "must be sentence or token", component.granularity)
        check_setting(component.granularity == "sentence" or spec.token_coefficient is not None,
               f"reward.components.{name}.granularity", f"{name} has no token-level form (token: "
               f"{', '.join(n for n in known_rewards() if reward_spec(n).token_coefficient)})", component.granularity)
        try:
            spec.parse(plain(component.options))
        except OptionError as err:
            raise ConfigError(str(err)) from None
