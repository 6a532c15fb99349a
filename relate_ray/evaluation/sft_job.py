"""The SFT baseline job, top to bottom: select the logged best ads, fine-tune the policy on them with
the run's own DeepSpeed learner (objective sft: the NLL of the ad given its prompt), save a Hugging
Face checkpoint that `evaluate` (baseline=sft:DIR) and `launch` (model.policy=DIR) take.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import ray
from tqdm import tqdm

from relate_ray.data.readers import DataFileError
from relate_ray.evaluation.sft_data import aggregate_logs, read_logs, select_best

log = logging.getLogger(__name__)


def run_sft(cfg) -> dict:
    from transformers import AutoTokenizer

    from relate_ray.assets import resolve_model
    from relate_ray.data.adformat import render_ad
    from relate_ray.data.embedded import ensure_embedded_data
    from relate_ray.data.loading import load_requests
    from relate_ray.data.prompts import render_prompt

    s = cfg.sft
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    embedded = ensure_embedded_data(cfg.data.lang, cfg.data.n_requests, cfg.data.n_impressions, cfg.data.seed,
                                    cfg.cache_dir or None)
    logs = Path(s.logs) if s.logs else embedded.impressions
    requests = {r.id: r for r in load_requests(embedded.train, cfg.data.on_bad_row)[0]}
    chosen = [a for a in select_best(aggregate_logs(read_logs(logs)), s.signal, s.prior_impressions,
                                     s.per_request, s.min_lift) if a.request_id in requests][: s.max_examples]
    if not chosen:
        raise DataFileError(f"{logs}: no logged ad of a training request passes the selection (sft.signal="
                            f"{s.signal}, sft.min_lift={s.min_lift}); lower sft.min_lift")
    policy = resolve_model(cfg.model.policy, cfg.cache_dir or None)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    examples = []
    for ad in chosen:
        request = requests[ad.request_id]
        prompt = tokenizer(render_prompt(request, tokenizer), add_special_tokens=False)["input_ids"]
        target = tokenizer(render_ad(ad.title, ad.description), add_special_tokens=False)["input_ids"]
        examples.append((prompt, target + [tokenizer.eos_token_id]))
    log.info("SFT on %d logged ads (signal %s, posterior %.3f%% .. %.3f%%)", len(examples), s.signal,
             100 * chosen[-1].posterior, 100 * chosen[0].posterior)
    with open(out / "sft_examples.jsonl", "w", encoding="utf-8") as f:
        for ad in chosen:
            f.write(json.dumps(ad.__dict__, ensure_ascii=False) + "\n")
    curve = _train(cfg, policy, tokenizer, examples, out)
    summary = {"examples": len(examples), "logs": str(logs), "selection": {k: getattr(s, k) for k in (
        "signal", "prior_impressions", "per_request", "min_lift", "max_examples")},
        "epochs": s.epochs, "batch_size": s.batch_size, "lr": s.lr, "base_model": str(policy), "nll": curve}
    (out / "sft.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _train(cfg, policy: Path, tokenizer, examples: list, out: Path) -> list[float]:
    """Optimizer steps of sft.batch_size examples (a last partial batch is dropped); the mean NLL
    per target token of each step."""
    from relate_ray.sync.broadcast import free_port
    from relate_ray.trainer.cluster import start_job_ray
    from relate_ray.algo.learner_batch import LearnerBatch, learner_shards
    from relate_ray.trainer.setup import learner_config
    from relate_ray.workers.learner import LearnerWorker

    s = cfg.sft
    batch_size = min(s.batch_size, len(examples))
    lcfg = {**learner_config(cfg, tokenizer), "objective": "sft", "lr": s.lr, "samples_per_rank": batch_size,
            "mini_batches": 1, "ppo_epochs": 1, "beta": 0.0}
    start_job_ray(cfg)
    learner = LearnerWorker.options(num_cpus=1, num_gpus=cfg.cluster.gpus_per_learner_rank).remote(
        0, 1, "127.0.0.1", free_port(), str(policy), lcfg, cfg.learner.threads or (os.cpu_count() or 1))
    ray.get(learner.ready.remote())
    rng = random.Random(cfg.seed)
    steps = s.epochs * (len(examples) // batch_size)
    curve = []
    with tqdm(total=steps, desc="sft", unit="step") as progress:
        for _ in range(s.epochs):
            order = list(range(len(examples)))
            rng.shuffle(order)
            for start in range(0, len(order) - batch_size + 1, batch_size):
                picked = [examples[i] for i in order[start:start + batch_size]]
                zeros = [[0.0] * len(t) for _, t in picked]
                batch = LearnerBatch.from_ragged([p for p, _ in picked], [t for _, t in picked], zeros, zeros,
                                                 lcfg["pad_id"], 1.0)
                stats = ray.get(learner.train_step.remote(learner_shards(batch, 1, 1)[0]))
                curve.append(round(stats["nll"], 4))
                progress.set_postfix(nll=f"{stats['nll']:.3f}")
                progress.update()
    ray.get(learner.save_model.remote(str(out), str(policy)))
    return curve
