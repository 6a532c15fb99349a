"""PairwiseJudge: a Ray actor owning the judge's vLLM engine, for Good/Same/Bad evaluation.

Training scores with the judge inside a reward worker (pointwise); evaluation asks it to compare
two policies' ads for the same request, in both orders (`relate_ray.rewards.judge.Judge.compare`).
"""

from __future__ import annotations

import logging
import os

import ray


@ray.remote
class PairwiseJudge:
    def __init__(self, model_path: str, dtype: str, kv_cache_gib: int, threads: int = 0,
                 same_margin: float = 0.1) -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)  # before torch loads, as the rollout worker
        from transformers import AutoTokenizer

        from relate_ray.rewards.judge import Judge
        from relate_ray.rollout.vllm_engine import build_llm

        llm = build_llm(model_path, dtype=dtype, kv_cache_gib=kv_cache_gib, max_model_len=1024)
        self.judge = Judge(llm, AutoTokenizer.from_pretrained(model_path), same_margin=same_margin)

    def ready(self) -> int:
        return os.getpid()

    def compare(self, requests: list, first: list[str], second: list[str]) -> list[dict]:
        """For each request: {"label": good | same | bad, "p_first": P(first ad better), "flipped":
        the verdict changed with the order}; the ads are raw policy outputs, read with the shared parser."""
        from relate_ray.data.adformat import parse_ad

        verdicts = self.judge.compare(requests, [parse_ad(t) for t in first], [parse_ad(t) for t in second])
        return [{"label": v.label, "p_first": v.p_first, "flipped": v.flipped} for v in verdicts]
