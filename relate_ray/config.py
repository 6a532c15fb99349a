"""Typed configuration: dataclasses registered with Hydra's ConfigStore, validated at start-up.

Hydra checks types when an override is applied (a string for an int fails there);
`relate_ray.validation.validate_config` checks ranges and choices right after, so a bad value fails
in the first second with one line that names the key. This module is the schema only: it imports
nothing from the trainer or the workers. Every field says what it is, with the paper's symbol where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

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
    # The embedder's weights dtype: float32 | bfloat16 | auto (bf16 where the CPU has native bf16).
    # The CTCVR model records the one it was trained with and scores with it. EmbeddingGemma (zh)
    # embeds about 1.9x faster in bf16 here, cosine within 0.997 of float32.
    embedder_dtype: str = "float32"
    # Weights dtype for vLLM: auto (bf16 where the CPU/GPU has native bf16, else float32) | bfloat16 |
    # float16 | float32.
    dtype: str = "auto"


def _length_limits() -> dict:
    from relate_ray.data.adformat import LENGTH_LIMITS

    return {key: {name: list(bounds) for name, bounds in fields.items()} for key, fields in LENGTH_LIMITS.items()}


@dataclass
class AdConfig:
    # What the ad product accepts (the length reward and post-processing read it; the simulated
    # market's searchers have their own taste, in relate_ray/sim/features.py): per language, each
    # field's [low, high] length in characters (zh, en) or words (en_words, length en_unit=words).
    length_limits: dict[str, dict[str, list[int]]] = field(default_factory=_length_limits)


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
    # The simulated world's seed: the embedded data set, its impression log (so the CTCVR model and
    # the SFT baseline's selection) and the market that scores held-out ads. Apart from `seed` (the
    # run's sampling and data order), so runs of several seeds are judged on one world.
    seed: int = 0
    # What to do with a bad row in a user file: skip (counted and reported) | stop.
    on_bad_row: str = "skip"


@dataclass
class RolloutConfig:
    # G: candidates sampled per prompt (paper: 5).
    group_size: int = 5
    # Sampling temperature and nucleus top_p of the rollout (0.9: the 135M default model rambles at 1.0).
    temperature: float = 0.9
    top_p: float = 1.0
    # Response budget in tokens: a Title + Description ad is about 35; longer is rambling.
    max_new_tokens: int = 48
    # Longest prompt + response the engine accepts (tokens).
    max_model_len: int = 1024
    # CPU build only: KV cache size in GiB (VLLM_CPU_KVCACHE_SPACE).
    kv_cache_gib: int = 1
    # GPU build only: share of GPU memory vLLM may take.
    gpu_memory_utilization: float = 0.5
    # Rollout workers (vLLM engines); prompts are split evenly across them.
    num_workers: int = 1
    # CPU threads per rollout engine (0: the node's cores / num_workers). Ray starts an actor that
    # asks num_cpus=1 with OMP_NUM_THREADS=1, and vLLM-CPU binds its threads at start-up, so the
    # count is set before the engine loads; the phases of a step run one after another, so the
    # engine may use every core while it samples.
    threads: int = 0
    # Compile the engine's model (torch.compile with inductor) instead of running it eagerly: about
    # 1.3-1.5x the sampling throughput of SmolLM2-135M on CPU, for a slower engine start (about 60 s
    # the first time a model and dtype are compiled on a machine, about 15 s more than eager once
    # vLLM's compile cache, ~/.cache/vllm, holds them). `python -m relate_ray.bench rollout` measures both.
    compile: bool = True
    # The engine's heap, as learner.return_freed_memory: false (fast) reuses freed pages, so a weight
    # sync's reload faults in no fresh memory (SmolLM2-135M: reload 0.31-0.34 s -> 0.22-0.23 s in
    # bf16, 0.77 -> 0.50 s in a float32 bench) and the engine keeps its reload's peak (+0.5 GB for
    # the 135M policy in float32); on CPU it also reserves twice a load's bytes in the heap at start,
    # so the first loads of a run do not grow it onto fresh pages (README Performance, "The engine's
    # reload"). true (lean): glibc's defaults and no reserve, for models that fill the machine.
    return_freed_memory: bool = False
    # How a weight sync loads a new version into the engine: true, through the model's own loaders
    # and repack, without vLLM's layer-wise reload machinery (relate_ray/sync/direct_reload.py; the
    # same values, measured faster); false, vLLM's `reload_weights`, the reference it is tested against.
    direct_reload: bool = True


@dataclass
class TrainerConfig:
    # Learner steps in the run.
    steps: int = 15
    # B: prompts per step; each gets G candidates, so a step trains on B * G samples.
    prompts_per_step: int = 4
    # Evaluate on held-out requests every this many steps (0: never) and at the end.
    eval_every: int = 5
    eval_prompts: int = 16
    # Write checkpoints/step_<N>/ every this many steps (0: only at the end).
    checkpoint_every: int = 10
    # Newest step folders kept on disk (0: all) and, of those, the newest that keep the optimizer
    # state needed to resume (0: all); older ones keep only the Hugging Face model (a fifth of the size).
    keep_checkpoints: int = 0
    keep_resume_states: int = 1
    # DAPO's dynamic sampling (Yu et al. 2025): sample ceil(oversample x prompts_per_step) prompts,
    # train on prompts_per_step of them, those whose G rewards differ first (a group whose rewards
    # are all equal has advantage 0 and teaches nothing; advantage/zero_std_frac counts them).
    dynamic_sampling: bool = False
    oversample: float = 1.5
    # Where step metrics go besides metrics.jsonl: tensorboard (DIR/tensorboard) and/or wandb
    # (Weights & Biases under DIR/wandb; pip install 'relate-ray[wandb]'). wandb_mode offline needs
    # no network (`wandb sync DIR/wandb/offline-run-*` uploads later); online logs live.
    loggers: list[str] = field(default_factory=lambda: ["tensorboard"])
    wandb_project: str = "relate-ray"
    wandb_mode: str = "offline"


@dataclass
class LearnerConfig:
    # M: DeepSpeed ZeRO-2 ranks (gloo on CPU, NCCL on GPU).
    num_ranks: int = 1
    lr: float = 2e-5
    weight_decay: float = 0.0
    # Samples per forward/backward; the rank's share of the batch is accumulated over micro-batches.
    # 10: two groups of G=5 in one pass (relate_ray/workers/learner_forward.py), one micro-batch per
    # mini-batch of the default run. `bench learner-step --set learner.dtype=float32`: 14.27-14.46 s
    # a step against 15.76-16.16 s with 5, peak memory +0.1-0.2 GB.
    micro_batch_size: int = 10
    grad_clip: float = 1.0
    # Training dtype: auto (the rollout engines' model.dtype, resolved on the learner's node) |
    # float32 | bfloat16. bf16 keeps fp32 master weights and Adam state (DeepSpeed's bf16 mode); where
    # bf16 is native a default step is 1.7x faster (`bench learner-step`: 12.2 s against 20.5 s on
    # avx512_bf16), and the engine loads the learner's own bf16 weights.
    dtype: str = "auto"
    # The frozen reference model's dtype (it only gives the KL term's log-probs, with no gradient):
    # auto (bfloat16 where this node computes it natively, else the training dtype) | float32 |
    # bfloat16. In a float32 run on a native-bf16 CPU, auto halves the reference pass (README
    # Performance, "The reference in bf16").
    reference_dtype: str = "auto"
    # epsilon (eq. 6): clip range [1 - clip_eps, 1 + clip_eps_high]; clip_eps_high null = clip_eps.
    clip_eps: float = 0.2
    clip_eps_high: Optional[float] = None
    # beta (eq. 6): KL(pi_theta || pi_ref) coefficient; kl_kind k1 | k2 | k3.
    beta: float = 0.04
    kl_kind: str = "k3"
    # token-mean | seq-mean-token-mean | seq-mean-token-sum (relate_ray.algo.loss.AGGREGATIONS).
    loss_agg: str = "token-mean"
    # Recompute pi_theta_old log-probs on the learner (true) or use the rollout engine's (false).
    recompute_old_logprobs: bool = True
    # Updates per rollout (eq. 6's clip only acts from the second): the step's samples are cut into
    # `mini_batches` optimizer steps, repeated for `ppo_epochs` passes; pi_theta_old is the policy
    # before the first. 1 and 1: one update, ratio 1, as plain policy gradient.
    ppo_epochs: int = 1
    mini_batches: int = 2
    # Truncated importance sampling on the rollout/learner mismatch (verl's TIS, TRL's
    # vllm_importance_sampling_correction): each token's policy-gradient term is weighted by
    # min(pi_old / pi_rollout, tis_cap). 0: off.
    tis_cap: float = 0.0
    # Run each distinct prompt once and its G responses on the shared KV cache (same numbers, about
    # half the compute); off: one padded forward of every prompt + response.
    share_prompt_prefix: bool = True
    gradient_checkpointing: bool = False
    # Keep the token embedding (and an output head tied to it) frozen: no gradient, no Adam state.
    # A sizing choice for small machines: Qwen2.5-0.5B's 151,936 x 896 embedding is 136 M of its
    # 494 M weights, about 2.4 GB of ZeRO-2 state (fp32 master, gradient, two moments) on one rank.
    freeze_embeddings: bool = False
    # torch's fused AdamW kernel (one pass over the weights; `bench learner-step`: optimizer 1.3 s -> 0.7 s).
    fused_adam: bool = True
    # The learner's heap (relate_ray/workers/heap.py). false (fast): tensors reuse the pages earlier
    # ones freed, no page faults (135M default learner, fp32: step 27.6 -> 22.5 s, peak 5.6 -> 6.7 GB).
    # true (lean): large blocks mapped and each phase's freed memory returned to the OS, for models
    # that fill the machine (the 0.5B zh learner: peak 15.2 -> 13.0 GB).
    return_freed_memory: bool = False
    # float32 on CPU: the policy's and reference's linear layers through oneDNN instead of torch's
    # default (MKL's sgemm), forward and backward (relate_ray/workers/onednn_linear.py). Ignored on
    # GPU and in bf16 (torch already uses oneDNN there).
    onednn_linear: bool = True
    # bfloat16 on CPU: the trained pass's attention through SDPA's math backend, whose backward is
    # GEMMs, instead of CPU flash attention, whose backward is slow in bf16 (one bench group's
    # forward + backward 1.67 -> 1.53 s; relate_ray/workers/learner_forward.py). Ignored on GPU, in
    # float32 and in no-grad passes (the reference, old log-probs), where flash is as fast or faster.
    math_attention: bool = True
    # torch threads per rank (0: all cores / ranks).
    threads: int = 0


@dataclass
class RewardWorkersConfig:
    # Members per stateless reward group (rules, ctcvr, judge); the diversity scorer is always one.
    pool_size: int = 1
    # Seconds one scoring call may take before it is retried.
    timeout_s: float = 600.0
    retries: int = 1
    # When retries run out: fail (stop the run) | drop (leave the group out of this step, logged).
    on_failure: str = "fail"
    # Score each prompt's G candidates as soon as they are sampled, while the engine samples the
    # other prompts (the stateless groups; diversity needs the whole batch and scores it after).
    # false: every group is scored after the whole rollout.
    stream: bool = True
    # Trained CTCVR model folder ('' = the embedded one, trained at first use).
    ctcvr_model: str = ""
    # Judge model: a built-in name or local folder.
    judge_model: str = DEFAULT_POLICY
    # The judge engine's share of its GPU's memory (with cluster.gpus_per_judge < 1 it shares the
    # GPU with a rollout engine: the two shares must fit together).
    judge_gpu_memory_utilization: float = 0.5


@dataclass
class FaultConfig:
    # Times Ray restarts a dead rollout or reward worker (its process killed, out of memory...);
    # the step's unfinished work is then redone on it. Learner ranks are not restarted: a lost
    # rank ends the run, and resume=true continues from the last checkpoint.
    max_restarts: int = 3
    # Seconds a restarted worker may take to come back (a vLLM engine starts in about a minute).
    restart_timeout_s: float = 600.0


@dataclass
class ClusterConfig:
    # local (start Ray here) | auto (join the running cluster) | a ray:// or host:port address.
    address: str = "local"
    # Logical CPUs of a local Ray instance (0: enough for every actor).
    num_cpus: int = 0
    include_dashboard: bool = True
    # A local Ray instance's memory monitor kills a worker when the node's used memory passes this
    # share (Ray's RAY_memory_usage_threshold, default 0.95). The zh experiment raises it: its 0.5B
    # learner peaks near 15 GB within a step on a 24 GiB machine (Ray's 0.95 is 1.2 GB short of the
    # kernel's limit there). A cluster you join keeps its own setting.
    memory_kill_threshold: float = 0.95
    # Seconds every actor may take to start (a vLLM engine on a cold 2-core machine: about 90 s)
    # before the run stops, naming the actors still waiting (a resource no node has, a full node).
    start_timeout_s: float = 900.0
    # GPUs per actor (0 on CPU machines); a fraction lets actors share a GPU (colocation).
    gpus_per_rollout_worker: float = 0.0
    gpus_per_learner_rank: float = 0.0
    gpus_per_judge: float = 0.0
    # Custom Ray resources per role ({name: amount}), to pin roles to nodes started with
    # `ray start --resources='{"name": n}'` (e.g. rollout engines on one node, the learner on another).
    rollout_resources: dict[str, float] = field(default_factory=dict)
    learner_resources: dict[str, float] = field(default_factory=dict)
    reward_resources: dict[str, float] = field(default_factory=dict)
    # Placement groups (none | pack | spread | strict_pack | strict_spread): the learner ranks and
    # the rollout workers each reserve one bundle per actor, all at once, before any starts. pack
    # keeps a role on as few nodes as fit (learner ranks near each other for the gradient
    # all-reduce); spread puts rollout engines on different nodes; strict_* refuse to do otherwise.
    learner_placement: str = "pack"
    rollout_placement: str = "pack"
    # Colocate the GPU actors: one whole-GPU bundle per learner rank, shared by that rank, rollout
    # worker i (bundle i mod ranks) and the GPU reward members (the judge), as verl's hybrid engine
    # shares devices. Needed for a fraction of a GPU per learner rank with more than one rank.
    colocate: bool = False


@dataclass
class SyncConfig:
    # shm (one machine: shared-memory buckets) | gloo (CPU broadcast group, works across machines) |
    # nccl (GPU clusters: the same broadcast over NCCL).
    backend: str = "shm"
    # dtype the rollout engines receive: auto (= the engines' dtype, see model.dtype) | bfloat16 | float32.
    dtype: str = "auto"
    bucket_mb: int = 256
    # How the learner's fp32 weights become bf16 engine weights: stochastic (unbiased: each step's
    # update reaches the engine in expectation) | nearest (drops every update below half a bf16 ulp,
    # so a bf16 engine stops following an fp32 learner; see relate_ray/sync/rounding.py).
    rounding: str = "stochastic"
    # gloo / nccl: how long joining the group or one broadcast may take before the run fails.
    timeout_s: float = 300.0


@dataclass
class RelateConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    ad: AdConfig = field(default_factory=AdConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    reward_workers: RewardWorkersConfig = field(default_factory=RewardWorkersConfig)
    fault: FaultConfig = field(default_factory=FaultConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    # Continue from the last checkpoint in this run directory (pass the same hydra.run.dir).
    resume: bool = False
    # Print the resource plan (actors, CPUs/GPUs, placement) and exit without starting anything.
    dry_run: bool = False
    # Where converted models and generated data are cached ('' = $RELATE_RAY_CACHE or ~/.cache/relate_ray).
    cache_dir: str = ""
    # The run's randomness: rollout sampling, prompt order, the SFT job's example order. The data
    # and the market have their own (data.seed).
    seed: int = 0


def check_setting(ok: bool, key: str, message: str, value: object) -> None:
    """Raise ConfigError "key: message, got value" unless `ok` (every range check of the configs)."""
    if not ok:
        raise ConfigError(f"{key}: {message}, got {value!r}")


def plain(node) -> dict:
    """A config mapping (DictConfig or dict) as plain Python containers."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node or {})


def register_configs() -> None:
    ConfigStore.instance().store(name="relate_schema", node=RelateConfig)
