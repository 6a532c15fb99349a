"""A vLLM engine for the policy, and sampling G candidates per prompt with their log-probs.

Plain functions over `vllm.LLM`, so the Ray rollout actor, the judge and tests share one code path.
CPU notes (verified, see README): engines run in the calling process by default (`in_process`);
with vLLM's own engine-core and worker subprocesses, scripts that build an engine need an
`if __name__ == "__main__":` guard. The KV cache size comes from the env var VLLM_CPU_KVCACHE_SPACE
(GiB); a per-request seed crashes the CPU sampler, so reproducibility comes from the engine seed
and from reseeding the worker before each rollout (`relate_reseed` in relate_ray.sync.vllm_extension).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from relate_ray.dtypes import resolve_dtype

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    """One sampled response: token ids, text and each token's sampling log-prob."""

    prompt_index: int
    token_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: str | None


def build_llm(
    model_path: str | Path,
    *,
    dtype: str = "auto",
    seed: int = 0,
    max_model_len: int = 1024,
    kv_cache_gib: int = 1,
    gpu_memory_utilization: float = 0.5,
    worker_extension_cls: str | None = None,
    in_process: bool = True,
    logprobs_mode: str = "raw_logprobs",
    compile: bool = False,
):
    """Start a vLLM engine on the local device (CPU build or CUDA build, whichever is installed).

    in_process: the engine core and its single worker (tensor_parallel_size 1) run in this process,
    instead of two more processes that each import torch and vLLM again; `python -m relate_ray.bench
    engine [--subprocesses]` measures the difference (start-up time, processes, resident memory).
    compile: torch.compile the model (vLLM's default) instead of `enforce_eager`. Faster sampling,
    slower start; the compiled graphs take the weights as inputs, so in-place weight loads (the sync)
    reach them.
    logprobs_mode: what the returned log-probs are of. vLLM's default `raw_logprobs` is the model's
    distribution before temperature; the rollout asks for `processed_logprobs` (after temperature
    and top-p, the distribution it sampled from), which is what the learner computes too.
    """
    # Both must be set before the engine starts; the KV cache size is ignored by the CUDA build.
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if in_process else "1"
    # vLLM 0.32's AOT-compiled artifacts fail to load again with torch 2.13 ("'function' object has
    # no attribute 'finalize_loading'"), so every start recompiled (~60 s); the inductor cache path
    # does reload (engine start ~24 s instead of ~75 s, measured here).
    os.environ.setdefault("VLLM_USE_AOT_COMPILE", "0")
    from vllm import LLM

    kwargs = dict(
        model=str(model_path),
        dtype=resolve_dtype(dtype),
        seed=seed,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        enforce_eager=not compile,
        logprobs_mode=logprobs_mode,
    )
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        # KV blocks of 32 tokens, not vLLM-CPU's default 128. A group's G samples are G requests
        # prefilled in one engine step, and they share the prompt's KV only in whole blocks: with
        # 128, a prompt of our ~110-150 tokens has none or one, so it was prefilled about G times.
        # The bench's rollout (2 prompts x 5, fresh prefix cache, SmolLM2-135M, 2 threads, AMD EPYC
        # Zen 4): prefill 0.89-1.09 -> 0.44-0.57 s and sampling 48 tokens 2.37-3.20 -> 2.40-2.53 s
        # in float32; 0.35-0.58 -> 0.26-0.32 s and 1.84-2.15 -> 1.43-1.54 s in bfloat16. (32: the
        # CPU attention kernel asks for multiples of 32; CUDA's default, 16, shares already.)
        kwargs["block_size"] = 32
    if in_process:
        kwargs["distributed_executor_backend"] = "uni"
    if worker_extension_cls:
        kwargs["worker_extension_cls"] = worker_extension_cls
    log.info("starting vLLM engine for %s", model_path)
    return LLM(**kwargs)


def sample_stream(
    llm,
    prompts: list,
    *,
    n: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_tokens: int = 64,
) -> Iterator[list[tuple[int, list[Completion]]]]:
    """After each engine step that finished any prompt's last completion: those prompts, as
    (prompt index, its n `Completion`s). A caller can score them while the engine samples the
    others; prompts that finish together come together (one scoring call, not one per group).
    prompts: strings or vLLM TokensPrompt; temperature 0 means greedy."""
    from vllm import SamplingParams

    params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, logprobs=0)
    # enqueue + step is LLM.generate's own loop (vllm/entrypoints/common/offline.py), with each
    # request handed out when it finishes instead of all at the end. enqueue returns the internal
    # ids ("<id>-<8 random chars>"); outputs carry the caller's "<id>".
    index_of = {request_id.rsplit("-", 1)[0]: i
                for i, request_id in enumerate(llm.enqueue(prompts, params, use_tqdm=False))}
    engine = llm.llm_engine
    while engine.has_unfinished_requests():
        finished = [(index_of[out.request_id], _completions(index_of[out.request_id], out))
                    for out in engine.step() if out.finished]
        if finished:
            yield finished


def sample(llm, prompts: list, **options) -> list[list[Completion]]:
    """Sample n completions for each prompt (strings or vLLM TokensPrompt). Returns one list of n
    `Completion`s per prompt. options: `sample_stream`'s (n, temperature, top_p, max_tokens)."""
    groups: list[list[Completion]] = [[] for _ in prompts]
    for finished in sample_stream(llm, prompts, **options):
        for index, group in finished:
            groups[index] = group
    return groups


def _completions(index: int, output) -> list[Completion]:
    group = []
    for choice in output.outputs:
        token_ids = list(choice.token_ids)
        # logprobs=0 returns the sampled token's own log-prob at each position.
        logprobs = [step[token].logprob for step, token in zip(choice.logprobs or [], token_ids)]
        group.append(Completion(index, token_ids, choice.text, logprobs, choice.finish_reason))
    return group
