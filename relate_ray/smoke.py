"""The generation smoke run: what the main job does until the training loop exists.

Prepares the embedded assets (data, converted policy), samples G candidate ads for a few held-out
requests through vLLM, parses them with the shared ad parser and scores them with the market
simulator (evaluation only), then writes `samples.jsonl` and `metrics.jsonl` to the run directory.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from statistics import mean

from relate_ray.assets import resolve_model
from relate_ray.data.adformat import parse_ad
from relate_ray.data.embedded import ensure_embedded_data
from relate_ray.data.loading import load_requests
from relate_ray.data.prompts import render_prompt
from relate_ray.data.writers import write_jsonl

log = logging.getLogger(__name__)


def held_out_requests(cfg):
    """The held-out requests the config names (the embedded valid split by default)."""
    if cfg.data.valid == "embedded":
        data = ensure_embedded_data(cfg.data.lang, cfg.data.n_requests, cfg.data.n_impressions,
                                    cfg.seed, cfg.cache_dir or None)
        path = data.valid
    else:
        path = Path(cfg.data.valid)
    requests, report = load_requests(path, cfg.data.on_bad_row)
    if report.bad:
        log.warning("%s: skipped %d bad rows of %d (run `python -m relate_ray.data validate %s`)",
                    path, report.bad, report.rows, path)
    return requests


def run_smoke(cfg, out_dir: Path) -> dict:
    """Sample, parse and simulate; returns the metrics row it wrote."""
    from transformers import AutoTokenizer

    from relate_ray.rollout.vllm_engine import build_llm, sample
    from relate_ray.sim.market import MarketSimulator

    t0 = time.perf_counter()
    requests = held_out_requests(cfg)[: cfg.smoke.prompts]
    policy = resolve_model(cfg.model.policy, cfg.cache_dir or None)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    prompts = [render_prompt(r, tokenizer) for r in requests]
    t_prepare = time.perf_counter() - t0

    llm = build_llm(policy, dtype=cfg.model.dtype, seed=cfg.seed, max_model_len=cfg.rollout.max_model_len,
                    kv_cache_gib=cfg.rollout.kv_cache_gib,
                    gpu_memory_utilization=cfg.rollout.gpu_memory_utilization)
    t1 = time.perf_counter()
    groups = sample(llm, prompts, n=cfg.rollout.group_size, temperature=cfg.rollout.temperature,
                    top_p=cfg.rollout.top_p, max_tokens=cfg.rollout.max_new_tokens)
    t_rollout = time.perf_counter() - t1

    simulator = MarketSimulator(seed=cfg.seed)
    rows = []
    for request, group in zip(requests, groups):
        ads = [parse_ad(c.text) for c in group]
        scores = simulator.score_ads([request] * len(ads), [(a.title, a.description) for a in ads])
        for completion, ad, score in zip(group, ads, scores):
            rows.append({"request_id": request.id, "text": completion.text, "format_ok": ad.ok,
                         "problems": list(ad.problems), "tokens": len(completion.token_ids),
                         "sim_ctcvr": score["ctcvr"]})
    write_jsonl(out_dir / "samples.jsonl", rows)
    metrics = {
        "step": 0,
        "batch/samples": len(rows),
        "smoke/format_ok": mean(r["format_ok"] for r in rows),
        "smoke/sim_ctcvr": mean(r["sim_ctcvr"] for r in rows),
        "response_length": mean(r["tokens"] for r in rows),
        "time/prepare": round(t_prepare, 3),
        "time/rollout": round(t_rollout, 3),
    }
    with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(metrics) + "\n")
    log.info("smoke run: %s", metrics)
    return metrics
