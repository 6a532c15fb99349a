"""LearnerWorker: one rank of the DeepSpeed ZeRO-2 learner, as a Ray actor.

Each rank holds the policy (trained) and a frozen reference model from the same initial weights
(for the KL term), receives its shard of the step's samples, recomputes old log-probs if asked,
and takes one optimizer step with micro-batching and gradient accumulation. gloo on CPU, NCCL on GPU.
Rank 0 also publishes weights for the rollout workers and writes Hugging Face checkpoints.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import ray
import torch

from relate_ray.algo.logprobs import pad_tokens
from relate_ray.algo.loss import StepNormalizer, grpo_loss, sft_loss, truncated_is_weights
from relate_ray.algo.mismatch import MismatchStats
from relate_ray.checkpoint_layout import RESUME_DIR
from relate_ray.dtypes import reference_dtype, resolve_dtype
from relate_ray.algo.learner_batch import LearnerBatch
from relate_ray.workers.clipped_adamw import ClippedAdamW
from relate_ray.workers.deepspeed_config import zero2_config
from relate_ray.workers.frame_stack import cache_frame_chunks
from relate_ray.workers.heap import map_large_blocks, return_free_heap, reuse_freed_blocks
from relate_ray.workers.learner_forward import attention_backend, full_logprobs, shared_prefix_logprobs
from relate_ray.workers.onednn_linear import use_onednn_linears

log = logging.getLogger(__name__)
_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def rank_environment(rank: int, world_size: int, master_addr: str, master_port: int) -> dict[str, str]:
    """torch.distributed's variables for one learner rank inside a Ray actor. LOCAL_RANK is 0:
    Ray isolates each actor's GPUs (CUDA_VISIBLE_DEVICES), so every rank sees its device as 0."""
    return {"MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port), "RANK": str(rank),
            "WORLD_SIZE": str(world_size), "LOCAL_RANK": "0"}


@ray.remote
class LearnerWorker:
    def __init__(self, rank: int, world_size: int, master_addr: str | None, master_port: int, model_path: str,
                 cfg: dict, threads: int = 0) -> None:
        """master_addr None: wait for `setup(addr, port)`, so the driver can take rank 0's own node
        address (`endpoint()`) for the group's rendezvous, as ranks on other nodes need."""
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if threads:
            torch.set_num_threads(threads)
        self.rank, self.world_size, self.cfg, self.model_path = rank, world_size, cfg, model_path
        # Before the models load (relate_ray/workers/heap.py): lean, every tensor above 1 MB a mapped
        # block returned on free; or fast, every tensor reusing heap pages an earlier one freed.
        self._return_memory = bool(cfg.get("return_freed_memory")) and map_large_blocks()
        if not self._return_memory:
            reuse_freed_blocks()
        # A loop at a frame-stack chunk's end maps memory on every call (relate_ray/workers/frame_stack.py):
        # the bench's learner crossed one 15k times while it loaded and set up, none in its steps.
        self.frame_chunks_cached = cache_frame_chunks()
        if master_addr is not None:
            self.setup(master_addr, master_port)

    def endpoint(self) -> tuple[str, int]:
        """This rank's node address and a free port on it: the rendezvous of the learner group (asked
        of rank 0) and of the weight-sync broadcast group's store."""
        from relate_ray.sync.broadcast import free_port

        return ray.util.get_node_ip_address(), free_port()

    def setup(self, master_addr: str, master_port: int) -> int:
        """Join the DeepSpeed group (blocks until every rank has joined), build policy, reference and
        optimizer. Returns this rank."""
        rank, world_size, cfg, model_path = self.rank, self.world_size, self.cfg, self.model_path
        os.environ.update(rank_environment(rank, world_size, master_addr, master_port))
        import deepspeed
        from transformers import AutoModelForCausalLM

        from relate_ray.workers.extension_builds import clear_stale_locks, skip_unused_shm_op, use_environment_ninja
        from relate_ray.workers.grouped_kv_attention import use_grouped_kv_attention
        from relate_ray.workers.zero_flat_gradient import keep_flat_gradient_buffer

        torch.manual_seed(cfg["seed"])
        skip_unused_shm_op()  # init_distributed would compile an op only inference calls
        clear_stale_locks()  # a DeepSpeed op that is built waits on a dead build's lock forever
        use_environment_ninja()  # and is rebuilt if another ninja version built it last
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
        self.dtype = resolve_dtype(cfg["dtype"])  # on this rank's node: `auto` is what its hardware runs
        policy = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.float32)
        policy.config.use_cache = False
        use_grouped_kv_attention(policy)  # SDPA takes the grouped K/V heads itself on CPU (no repeat_kv copies)
        if cfg["gradient_checkpointing"]:
            policy.gradient_checkpointing_enable()
        if cfg.get("freeze_embeddings"):
            policy.get_input_embeddings().weight.requires_grad_(False)  # a tied output head shares it
        # pi_ref for the KL term; objective sft has none.
        self.reference = None
        if cfg["objective"] != "sft":
            # learner.reference_dtype: bf16 where native, also in a float32 run (relate_ray.dtypes.reference_dtype).
            ref_dtype = reference_dtype(cfg["reference_dtype"], self.dtype)
            self.reference = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=_DTYPES[ref_dtype]).eval()
            self.reference.requires_grad_(False)
            use_grouped_kv_attention(self.reference)
        if cfg.get("onednn_linear") and self.dtype == "float32" and not torch.cuda.is_available():
            # float32 GEMMs through oneDNN (relate_ray/workers/onednn_linear.py; bf16 is oneDNN's already).
            routed = sum(use_onednn_linears(m) for m in (policy, self.reference)
                         if m is not None and next(m.parameters()).dtype == torch.float32)
            log.info("rank %d: %d linear layers through oneDNN in float32", rank, routed)
        # fused: one kernel over ZeRO's flat fp32 partition instead of a dozen full passes (CPU and CUDA).
        # The optimizer clips to learner.grad_clip itself (relate_ray/workers/clipped_adamw.py).
        self.optimizer = ClippedAdamW([p for p in policy.parameters() if p.requires_grad], max_norm=cfg["grad_clip"],
                                      lr=cfg["lr"], weight_decay=cfg["weight_decay"], betas=(0.9, 0.95),
                                      fused=cfg["fused_adam"])
        # Micro-batches per optimizer step: this rank's share of one mini-batch, micro_batch_size at a time.
        self.accumulation = max(1, math.ceil(cfg["samples_per_rank"] / cfg["mini_batches"] / cfg["micro_batch_size"]))
        ds_config = zero2_config(cfg["micro_batch_size"], self.accumulation, world_size, bf16=self.dtype == "bfloat16")
        # bf16 on CPU: the trained pass's attention through SDPA's math backend (learner.math_attention).
        self.math_attention = bool(cfg.get("math_attention")) and self.dtype == "bfloat16" and not torch.cuda.is_available()
        self.engine, _, _, _ = deepspeed.initialize(model=policy, optimizer=self.optimizer, config=ds_config)
        # ZeRO's step flattens the gradients into one buffer kept between steps, not a new one each step;
        # not when lean: the buffer (the weights' size) would stay resident through the next backward.
        self.flat_gradient_kept = not self._return_memory and keep_flat_gradient_buffer(self.engine.optimizer)
        self.device = self.engine.device
        if self.reference is not None:
            self.reference.to(self.device)
        return rank

    def ready(self) -> dict:
        return {"rank": self.rank, "pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                "accumulation": self.accumulation, "dtype": self.dtype,
                "reference_dtype": None if self.reference is None
                else str(next(self.reference.parameters()).dtype).removeprefix("torch."),
                "frame_chunks_cached": self.frame_chunks_cached, "flat_gradient_kept": self.flat_gradient_kept}

    def _logprobs(self, model, batch: LearnerBatch, trained: bool = False) -> torch.Tensor:
        """[n, T] response log-probs at the batch's sampling temperature. Gradient checkpointing turns
        the KV cache off, so the trained policy then takes the full forward; the reference always
        shares prompt passes."""
        share = self.cfg["share_prompt_prefix"] and not (trained and self.cfg["gradient_checkpointing"])
        forward = shared_prefix_logprobs if share else full_logprobs
        with attention_backend(math=trained and self.math_attention):
            return forward(model, batch.prompt_ids, batch.response_ids, batch.response_mask, self.cfg["pad_id"],
                           self.device, batch.temperature)

    def _frozen_logprobs(self, model, batch: LearnerBatch, chunks: list[list[int]]) -> list[torch.Tensor]:
        """No-grad log-probs of every micro-batch, computed once per step and reused by each update."""
        with torch.no_grad():
            return [self._logprobs(model, batch.rows(idx)).float() for idx in chunks]

    def train_step(self, shard: LearnerBatch) -> dict:
        """ppo_epochs x len(shard.minibatches) optimizer steps over this rank's samples.

        shard: this rank's LearnerBatch (relate_ray.algo.learner_batch), its mini-batch positions
        and every mini-batch's totals over all ranks. pi_theta_old and pi_ref log-probs are taken once, before the first update, so from the
        second update on the ratio in eq. 6 moves and its clip acts.

        Returns token-weighted means (kl, clip_frac, ratio, mismatch/*) with their token count, this
        rank's share of the mean update's loss, and the mean grad norm; the driver combines ranks
        with `relate_ray.algo.learner_batch.combine_rank_stats`.
        """
        cfg = self.cfg
        micro = cfg["micro_batch_size"]
        minibatch_chunks = [[mb[s:s + micro] for s in range(0, len(mb), micro)] for mb in shard.minibatches]
        for chunks in minibatch_chunks:
            if len(chunks) != self.accumulation:
                # DeepSpeed steps the optimizer after exactly `accumulation` micro-batches.
                raise ValueError(f"rank {self.rank}: a mini-batch makes {len(chunks)} micro-batches, "
                                 f"expected {self.accumulation}")
        all_chunks = [idx for chunks in minibatch_chunks for idx in chunks]
        timing = {"reference": 0.0, "old": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
        t = time.perf_counter()
        # SFT (objective sft: the baseline trained on logged ads) has no KL term, so no reference pass.
        sft = cfg["objective"] == "sft"
        ref = {tuple(idx): None for idx in all_chunks} if sft else dict(
            zip(map(tuple, all_chunks), self._frozen_logprobs(self.reference, shard, all_chunks)))
        timing["reference"] = time.perf_counter() - t
        self._return_free_heap()
        # pi_theta_old is the policy before the step's first update. The first mini-batch's training
        # forward of the first epoch runs that very policy, so its detached values serve (no second
        # forward); the micro-batches trained after an update need theirs fixed first.
        later = [] if sft else [idx for chunks in minibatch_chunks[1:] for idx in chunks]
        if not sft and cfg["ppo_epochs"] > 1:
            later = all_chunks  # the first mini-batch is trained again after updates
        old: dict = {}
        if later:
            t = time.perf_counter()
            self.engine.eval()
            old = dict(zip(map(tuple, later), self._frozen_logprobs(self.engine.module, shard, later)))
            timing["old"] = time.perf_counter() - t
        sums: dict[str, float] = {}
        tokens = loss_sum = 0.0
        mismatch = MismatchStats()
        norms = []
        self.engine.train()
        for epoch in range(cfg["ppo_epochs"]):
            for chunks, (mb_tokens, mb_seqs) in zip(minibatch_chunks, shard.normalizers):
                normalizer = StepNormalizer(mb_tokens, mb_seqs)
                for idx in chunks:
                    stats, n_tokens = self._micro_step(shard, idx, ref[tuple(idx)], old, normalizer, timing,
                                                       mismatch if epoch == 0 else None)
                    tokens += n_tokens
                    loss_sum += stats.pop("loss_share")
                    for key, value in stats.items():
                        sums[key] = sums.get(key, 0.0) + value * n_tokens
                norms.append(self.optimizer.last_grad_norm)
        result = {key: value / max(tokens, 1.0) for key, value in sums.items()}
        result.update(mismatch.result())
        result["tokens"] = tokens
        # This rank's shares of each update's loss, averaged over updates; ranks' values add up.
        result["loss"] = loss_sum / len(norms)
        result["grad_norm"] = sum(norms) / len(norms)
        result["optimizer_steps"] = len(norms)
        result.update({f"time/learner_{key}": value for key, value in timing.items()})
        return result

    def _micro_step(self, shard: LearnerBatch, idx: list[int], ref_logp: torch.Tensor, old: dict,
                    normalizer: StepNormalizer, timing: dict, mismatch: MismatchStats | None) -> tuple[dict, float]:
        """Forward, loss and backward of one micro-batch; the optimizer steps on a mini-batch's last."""
        cfg = self.cfg
        micro = shard.rows(idx)
        mask = micro.response_mask.to(self.device)
        advantages = micro.advantages.to(self.device)
        rollout_logp = micro.rollout_logprobs.to(self.device)
        t = time.perf_counter()
        logp = self._logprobs(self.engine, micro, trained=True).float()
        if cfg["objective"] == "sft":
            loss, stats = sft_loss(logp, mask, agg=cfg["loss_agg"], normalizer=normalizer)
            return self._backward_and_step(loss, stats, timing, t), float(mask.sum())
        # Absent: this micro-batch is trained before the step's first update, by the policy before it.
        learner_old = old[tuple(idx)] if tuple(idx) in old else logp.detach()
        old_logp = learner_old if cfg["recompute_old_logprobs"] else rollout_logp
        if mismatch is not None:
            mismatch.add(learner_old, rollout_logp, mask)
        # TIS corrects for sampling from pi_rollout instead of the learner's pi_old (whichever old the ratio uses).
        weights = truncated_is_weights(learner_old, rollout_logp, cfg["tis_cap"]) if cfg["tis_cap"] else None
        loss, stats = grpo_loss(logp, old_logp, ref_logp, advantages, mask, clip_eps=cfg["clip_eps"],
                                clip_eps_high=cfg["clip_eps_high"], beta=cfg["beta"], kl_kind=cfg["kl_kind"],
                                agg=cfg["loss_agg"], normalizer=normalizer, is_weights=weights)
        if weights is not None:
            stats["tis_weight"] = float((weights * mask).sum() / mask.sum().clamp(min=1.0))
        return self._backward_and_step(loss, stats, timing, t), float(mask.sum())

    def _backward_and_step(self, loss: torch.Tensor, stats: dict, timing: dict, t: float) -> dict:
        """Backward of one micro-batch's loss; the optimizer steps on a mini-batch's last."""
        t, timing["forward"] = time.perf_counter(), timing["forward"] + time.perf_counter() - t
        # The loss is this micro-batch's share of the mini-batch's loss over all ranks (StepNormalizer),
        # so the shares are summed, not averaged: no division by the accumulation steps, and the
        # world-size factor undoes ZeRO's mean over ranks.
        self.engine.backward(loss * self.world_size, scale_wrt_gas=False)
        self._return_free_heap()  # the activations, before the optimizer's temporaries
        t, timing["backward"] = time.perf_counter(), timing["backward"] + time.perf_counter() - t
        self.engine.step()  # the optimizer steps on the mini-batch's last micro-batch only
        self._return_free_heap()
        timing["optimizer"] += time.perf_counter() - t
        stats["loss_share"] = loss.item()
        return stats

    def _return_free_heap(self) -> None:
        """With learner.return_freed_memory: what the phase just freed goes back to the OS
        (relate_ray/workers/heap.py), so the next phase's peak is not added on top of it."""
        if self._return_memory:
            return_free_heap()

    # ---- weight sync (rank 0 holds the publisher, next to the weights) ---------------------------
    def open_weight_sync(self, backend: str, dtype: str, bucket_mb: int, run_id: str = "", shm_root: str | None = None,
                         endpoint: tuple[str, int] | None = None, world_size: int = 0, timeout_s: float = 300.0,
                         rounding: str = "stochastic"):
        """shm: shared-memory buckets; returns None. gloo / nccl: open the broadcast group as its root
        (blocks until every rollout engine has joined, so call it together with their join) and
        return the bucket layout, planned once here, that the receivers need. rounding: how fp32
        weights become the engines' dtype (relate_ray.sync.rounding)."""
        if backend == "shm":
            from relate_ray.sync.shm import SharedMemoryPublisher

            self.publisher = SharedMemoryPublisher(run_id, dtype, bucket_mb, Path(shm_root) if shm_root else None,
                                                   rounding, self.cfg["seed"])
            return None
        from relate_ray.sync.broadcast import BroadcastPublisher, open_group, plan_buckets

        layout = plan_buckets(((n, tuple(p.shape)) for n, p in self.engine.module.named_parameters()), dtype, bucket_mb)
        group = open_group(backend, endpoint[0], endpoint[1], 0, world_size, timeout_s)
        self.publisher = BroadcastPublisher(backend, group, layout, self.device, rounding, self.cfg["seed"])
        return layout

    def publish_weights(self, version: int):
        """Send the current policy weights through the sync backend; returns the manifest."""
        # Rounding draws keyed by the optimizer step, not the sync count: a resume adds one sync.
        return self.publisher.publish(self.engine.module.named_parameters(), version,
                                      rounding_key=int(self.engine.global_steps))

    def release_weights(self, version: int) -> None:
        self.publisher.release(version)

    def close_weight_sync(self) -> None:
        self.publisher.close()

    def logprobs_of(self, prompt_ids: list[int], response_ids: list[int], use_policy: bool = True,
                    temperature: float = 1.0) -> list[float]:
        """Log-probs of a response under the current policy (or the reference) at `temperature`
        (1: the raw distribution, as vLLM's prompt log-probs), for sync checks."""
        with torch.no_grad():
            model = self.engine.module if use_policy else self.reference
            return shared_prefix_logprobs(model, [prompt_ids], *pad_tokens([response_ids], self.cfg["pad_id"]),
                                          self.cfg["pad_id"], self.device, temperature)[0].float().tolist()

    def save_checkpoint(self, folder: str, tokenizer_path: str, client_state: dict) -> None:
        """All ranks: DeepSpeed state (optimizer, engine) under folder/deepspeed; rank 0 also writes
        the Hugging Face model + tokenizer at the top of `folder`."""
        folder_path = Path(folder)
        self.engine.save_checkpoint(str(folder_path / RESUME_DIR), tag="state", client_state=client_state)
        if self.rank == 0:
            from transformers import AutoTokenizer

            self.engine.module.save_pretrained(folder_path, safe_serialization=True)
            AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(folder_path)

    def save_model(self, folder: str, tokenizer_path: str) -> None:
        """Rank 0: the Hugging Face model and tokenizer only (no resume state), e.g. the SFT output."""
        if self.rank == 0:
            from transformers import AutoTokenizer

            self.engine.module.save_pretrained(folder, safe_serialization=True)
            AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(folder)

    def load_checkpoint(self, folder: str) -> dict:
        _, client_state = self.engine.load_checkpoint(str(Path(folder) / RESUME_DIR), tag="state")
        return client_state or {}
