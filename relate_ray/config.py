"""Typed configuration: dataclasses registered with Hydra's ConfigStore, validated at start-up.

Hydra checks types when an override is applied (a string for an int fails there); `validate_config`
checks ranges and choices right after, so a bad value fails in the first second with one line that
names the key. Every field says what it is, with the paper's symbol where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from relate_ray.assets import DEFAULT_EMBEDDER, DEFAULT_POLICY
from relate_ray.rewards.presets import RewardConfig


class ConfigError(Exception):
    """An out-of-range or inconsistent setting; str(error) starts with the config key."""


@dataclass
class ModelConfig:
    # Initial policy pi_theta (and reference pi_ref): a built-in name or a local Hugging Face folder.
    policy: str = DEFAULT_POLICY
    # Sentence embedder for relevance and the CTCVR model (paper: Qwen3-Embedding-0.6B).
    embedder: str = DEFAULT_EMBEDDER
    # Weights dtype for vLLM: bfloat16 | float16 | float32.
    dtype: str = "bfloat16"


@dataclass
class DataConfig:
    # 'embedded' (synthetic requests generated at first use and cached) or a request file/folder.
    train: str = "embedded"
    # Held-out requests: 'embedded' (the embedded valid split) or a request file/folder.
    valid: str = "embedded"
    # Language of the embedded data: en | zh.
    lang: str = "en"
    # Size of the embedded data set (requests, split 80/10/10) and its simulated impression log.
    n_requests: int = 4000
    n_impressions: int = 400_000
    # What to do with a bad row in a user file: skip (counted and reported) | stop.
    on_bad_row: str = "skip"


@dataclass
class RolloutConfig:
    # G: candidates sampled per prompt (paper: 5).
    group_size: int = 5
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    # Longest prompt + response the engine accepts (tokens).
    max_model_len: int = 1024
    # CPU build only: KV cache size in GiB (VLLM_CPU_KVCACHE_SPACE).
    kv_cache_gib: int = 1
    # GPU build only: share of GPU memory vLLM may take.
    gpu_memory_utilization: float = 0.5


@dataclass
class SmokeConfig:
    # Held-out prompts the generation smoke run samples G candidates for.
    prompts: int = 8


@dataclass
class RelateConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    smoke: SmokeConfig = field(default_factory=SmokeConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    # Where converted models and generated data are cached ('' = $RELATE_RAY_CACHE or ~/.cache/relate_ray).
    cache_dir: str = ""
    seed: int = 0


def _check(ok: bool, key: str, message: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}, got {value!r}")


def validate_config(cfg) -> None:
    """Range and choice checks Hydra's type checks cannot express. Raises ConfigError."""
    _check(cfg.model.dtype in ("bfloat16", "float16", "float32"), "model.dtype",
           "must be bfloat16, float16 or float32", cfg.model.dtype)
    _check(cfg.data.lang in ("en", "zh"), "data.lang", "must be en or zh", cfg.data.lang)
    _check(cfg.data.n_requests >= 10, "data.n_requests", "must be at least 10", cfg.data.n_requests)
    _check(cfg.data.n_impressions >= 1, "data.n_impressions", "must be positive", cfg.data.n_impressions)
    _check(cfg.data.on_bad_row in ("skip", "stop"), "data.on_bad_row", "must be skip or stop", cfg.data.on_bad_row)
    _check(cfg.rollout.group_size >= 2, "rollout.group_size", "G must be at least 2 for group advantages",
           cfg.rollout.group_size)
    _check(cfg.rollout.temperature > 0, "rollout.temperature", "must be positive", cfg.rollout.temperature)
    _check(0 < cfg.rollout.top_p <= 1, "rollout.top_p", "must be in (0, 1]", cfg.rollout.top_p)
    _check(cfg.rollout.max_new_tokens >= 1, "rollout.max_new_tokens", "must be positive", cfg.rollout.max_new_tokens)
    _check(cfg.rollout.kv_cache_gib >= 1, "rollout.kv_cache_gib", "must be at least 1", cfg.rollout.kv_cache_gib)
    _check(0 < cfg.rollout.gpu_memory_utilization <= 1, "rollout.gpu_memory_utilization",
           "must be in (0, 1]", cfg.rollout.gpu_memory_utilization)
    _check(cfg.smoke.prompts >= 1, "smoke.prompts", "must be positive", cfg.smoke.prompts)


def register_configs() -> None:
    ConfigStore.instance().store(name="relate_schema", node=RelateConfig)
