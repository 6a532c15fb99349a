"""Typed configs of the evaluation jobs (`conf/evaluate.yaml`, `conf/sft.yaml`): the run's own
schema (model, data, reward presets...) plus each job's keys, checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from relate_ray.config import ConfigError, RelateConfig, check_setting


@dataclass
class EvalConfig:
    # Held-out requests evaluated: the first num_requests of the split (all if fewer).
    num_requests: int = 200
    # embedded split (test | valid; training evaluates on valid) or a request file/folder.
    requests: str = "test"
    # Ads per request: 1 is greedy decoding; more are sampled at `temperature`.
    samples_per_request: int = 1
    temperature: float = 0.9
    # Paired bootstrap of delta_ctcvr_sim: resamples and the interval's level.
    bootstrap_samples: int = 2000
    ci_level: float = 0.95
    # Good/Same/Bad: the judge's model ('' = reward_workers.judge_model; a folder, or the opt-in
    # qwen2.5-coder-1.5b-instruct once `make judge` downloaded it) and the margin around 0.5 of
    # P(policy better) inside which a pair is "same"; gsb=false skips the judge.
    gsb: bool = True
    judge_model: str = ""
    # Pairs judged: the first N evaluated requests' (0: all). The 1.5B judge takes about 1.75 s a
    # comparison on 2 CPU cores, two a pair: 200 pairs add about 12 minutes.
    gsb_pairs: int = 0
    same_margin: float = 0.1
    # Post-process the baseline's ads (null: only an sft: baseline, as the paper's Qwen-SFT).
    baseline_postprocess: Optional[bool] = None


@dataclass
class EvaluateJobConfig(RelateConfig):
    # The evaluated policy: a Hugging Face folder (a run's checkpoints/step_N); '' = model.policy.
    checkpoint: str = ""
    # nlg (the base model, prompted) | sft:PATH (an SFT checkpoint, post-processed) | PATH.
    baseline: str = "nlg"
    # Apply inference-time post-processing (relate_ray.evaluation.postprocess) to the policy's ads.
    postprocess: bool = False
    # Output folder for report.json, report.md and eval_ads.jsonl.
    out: str = "eval_out"
    eval: EvalConfig = field(default_factory=EvalConfig)


def check_model_folder(path: str, key: str) -> Path:
    """A Hugging Face model folder the user named, or ConfigError naming the key."""
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{key}: {path!r} is not a Hugging Face model folder (no config.json); pass a "
                          "run's checkpoints/step_N folder or an sft output folder")
    return folder


def validate_eval(cfg) -> None:
    e = cfg.eval
    check_setting(e.num_requests >= 1, "eval.num_requests", "must be at least 1", e.num_requests)
    check_setting(e.samples_per_request >= 1, "eval.samples_per_request", "must be at least 1", e.samples_per_request)
    check_setting(e.temperature > 0, "eval.temperature", "must be positive", e.temperature)
    check_setting(e.bootstrap_samples >= 100, "eval.bootstrap_samples", "must be at least 100", e.bootstrap_samples)
    check_setting(0 < e.ci_level < 1, "eval.ci_level", "must be in (0, 1)", e.ci_level)
    check_setting(0 <= e.same_margin < 0.5, "eval.same_margin", "must be in [0, 0.5)", e.same_margin)
    check_setting(e.gsb_pairs >= 0, "eval.gsb_pairs", "must be >= 0 (0: every request)", e.gsb_pairs)
    check_setting(bool(cfg.out), "out", "must name an output folder", cfg.out)
    if cfg.checkpoint:
        check_model_folder(cfg.checkpoint, "checkpoint")
    if cfg.baseline != "nlg":
        check_model_folder(cfg.baseline.removeprefix("sft:"), "baseline")
    if e.requests not in ("test", "valid") and not Path(e.requests).exists():
        raise ConfigError(f"eval.requests: {e.requests!r} is neither test, valid nor an existing request file")
    if e.gsb:
        from relate_ray.assets import ModelNotFoundError, check_model_spec

        try:  # an uninstalled judge is found now, not after the policies have sampled
            check_model_spec(e.judge_model or cfg.reward_workers.judge_model, cfg.cache_dir or None)
        except ModelNotFoundError as err:
            raise ConfigError(f"eval.judge_model: {err}") from None


@dataclass
class SFTConfig:
    # Impression logs to select from ('' = the embedded data's, simulated from its training requests).
    logs: str = ""
    # Selection (relate_ray.evaluation.sft_data): the logged signal ranked (ctcvr | ctr), the Beta
    # prior's strength in impressions, the best ads kept per request, and how far above the log's
    # mean rate a kept ad's posterior must be (1.0: above the mean).
    signal: str = "ctcvr"
    prior_impressions: float = 200.0
    per_request: int = 1
    min_lift: float = 1.0
    max_examples: int = 256
    # Training: passes over the examples, examples per optimizer step, learning rate.
    epochs: int = 1
    batch_size: int = 16
    lr: float = 2e-5


@dataclass
class SFTJobConfig(RelateConfig):
    # Output folder: the Hugging Face checkpoint (model.policy=DIR or baseline=sft:DIR take it),
    # sft.json (selection and loss curve) and sft_examples.jsonl.
    out: str = "sft_out"
    sft: SFTConfig = field(default_factory=SFTConfig)


def validate_sft(cfg) -> None:
    s = cfg.sft
    from relate_ray.evaluation.sft_data import SIGNALS

    check_setting(s.signal in SIGNALS, "sft.signal", f"must be {' or '.join(SIGNALS)}", s.signal)
    check_setting(s.prior_impressions >= 0, "sft.prior_impressions", "must be >= 0", s.prior_impressions)
    check_setting(s.per_request >= 1, "sft.per_request", "must be at least 1", s.per_request)
    check_setting(s.min_lift >= 0, "sft.min_lift", "must be >= 0", s.min_lift)
    check_setting(s.max_examples >= 1, "sft.max_examples", "must be at least 1", s.max_examples)
    check_setting(s.epochs >= 1, "sft.epochs", "must be at least 1", s.epochs)
    check_setting(s.batch_size >= 1, "sft.batch_size", "must be at least 1", s.batch_size)
    check_setting(s.lr > 0, "sft.lr", "must be positive", s.lr)
    check_setting(bool(cfg.out), "out", "must name an output folder", cfg.out)
    if s.logs and not Path(s.logs).is_file():
        raise ConfigError(f"sft.logs: {s.logs!r} is not a file")


def register_eval_configs() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="relate_evaluate_schema", node=EvaluateJobConfig)
    ConfigStore.instance().store(name="relate_sft_schema", node=SFTJobConfig)
