"""The evaluation job, top to bottom: held-out requests, the policy's and the baseline's ads (same
requests, same decoding), every score, eq. 10 with its interval, Good/Same/Bad, and the files.

Engines run as Ray actors (the rollout worker the run uses, and the judge), so evaluation samples
exactly as training does and the engines' memory goes back when they end.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import ray
from tqdm import tqdm

from relate_ray.data.schema import AdRequest
from relate_ray.evaluation.metrics import delta_ctcvr, gsb_summary, paired_bootstrap_ci
from relate_ray.evaluation.report_files import write_report_md
from relate_ray.evaluation.scoring import AdScorer, per_request, summarize
from relate_ray.trainer.cluster import start_job_ray

log = logging.getLogger(__name__)


@dataclass
class EvalData:
    """What the scorers read of a run's data (the reward components' run options)."""

    requests: list[AdRequest]
    tokenizer: object
    embedded_root: Path | None
    policy_path: Path


def load_eval_data(cfg, policy_path: Path) -> EvalData:
    from transformers import AutoTokenizer

    from relate_ray.data.embedded import ensure_embedded_data
    from relate_ray.data.loading import load_requests

    embedded = ensure_embedded_data(cfg.data.lang, cfg.data.n_requests, cfg.data.n_impressions, cfg.data.seed,
                                    cfg.cache_dir or None)
    source = cfg.eval.requests
    path = getattr(embedded, source) if source in ("test", "valid") else Path(source)
    requests, report = load_requests(path, cfg.data.on_bad_row)
    if report.bad:
        log.warning("eval requests %s: skipped %d bad rows of %d", path, report.bad, report.rows)
    return EvalData(requests[: cfg.eval.num_requests], AutoTokenizer.from_pretrained(policy_path),
                    embedded.root, policy_path)


def models(cfg) -> tuple[Path, Path, bool]:
    """(policy folder, baseline folder, whether the baseline's ads are post-processed)."""
    from relate_ray.assets import resolve_model

    base = Path(resolve_model(cfg.model.policy, cfg.cache_dir or None))
    policy = Path(cfg.checkpoint) if cfg.checkpoint else base
    is_sft = cfg.baseline.startswith("sft:")
    baseline = base if cfg.baseline == "nlg" else Path(cfg.baseline.removeprefix("sft:"))
    post = is_sft if cfg.eval.baseline_postprocess is None else bool(cfg.eval.baseline_postprocess)
    return policy, baseline, post


def _engine(cfg, path: Path):
    from relate_ray.workers.rollout_worker import RolloutWorker

    rc = cfg.rollout
    return RolloutWorker.options(num_cpus=1, num_gpus=cfg.cluster.gpus_per_rollout_worker).remote(
        str(path), cfg.model.dtype, cfg.seed, rc.max_model_len, rc.kv_cache_gib, rc.gpu_memory_utilization,
        rc.threads or (os.cpu_count() or 1), rc.compile, rc.return_freed_memory)


def generate(cfg, engine, path: Path, requests: list[AdRequest]) -> list[str]:
    """samples_per_request raw outputs per request (request-major), greedy when it is 1."""
    from transformers import AutoTokenizer

    from relate_ray.data.prompts import render_prompt

    tokenizer = AutoTokenizer.from_pretrained(path)
    prompts = [tokenizer(render_prompt(r, tokenizer), add_special_tokens=False)["input_ids"] for r in requests]
    k = cfg.eval.samples_per_request
    temperature, top_p = (0.0, 1.0) if k == 1 else (cfg.eval.temperature, cfg.rollout.top_p)
    out = ray.get(engine.generate.remote(prompts, k, temperature, top_p, cfg.rollout.max_new_tokens, cfg.seed))
    return [c["text"] for group in out["groups"] for c in group]


def _postprocessed(cfg, texts: list[str], requests: list[AdRequest]) -> list[str]:
    from relate_ray.evaluation.postprocess import postprocess
    from relate_ray.rewards.structural import length_limits

    return [postprocess(t, r, length_limits(cfg, r.lang)) for t, r in zip(texts, requests)]


def run_evaluation(cfg) -> dict:
    """Evaluate, write DIR/report.json, DIR/report.md and DIR/eval_ads.jsonl; returns the report."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    policy_path, baseline_path, baseline_post = models(cfg)
    progress = tqdm(total=5, desc="evaluate", unit="phase")
    data = load_eval_data(cfg, policy_path)
    requests = data.requests
    k = cfg.eval.samples_per_request
    flat = [r for r in requests for _ in range(k)]
    progress.set_postfix_str("engines")
    start_job_ray(cfg)
    engines = {"policy": _engine(cfg, policy_path)}
    engines["baseline"] = engines["policy"] if baseline_path == policy_path else _engine(cfg, baseline_path)
    judge = None
    if cfg.eval.gsb:
        from relate_ray.assets import resolve_model
        from relate_ray.workers.judge_worker import PairwiseJudge

        judge_path = resolve_model(cfg.eval.judge_model or cfg.reward_workers.judge_model, cfg.cache_dir or None)
        judge = PairwiseJudge.options(num_cpus=1, num_gpus=cfg.cluster.gpus_per_judge).remote(
            str(judge_path), cfg.model.dtype, cfg.rollout.kv_cache_gib, os.cpu_count() or 1, cfg.eval.same_margin)
    ray.get([e.ready.remote() for e in engines.values()] + ([judge.ready.remote()] if judge else []))
    progress.update()
    progress.set_postfix_str("generate")
    raw = {"policy": generate(cfg, engines["policy"], policy_path, requests),
           "baseline": generate(cfg, engines["baseline"], baseline_path, requests)}
    texts = {"policy": _postprocessed(cfg, raw["policy"], flat) if cfg.postprocess else raw["policy"],
             "baseline": _postprocessed(cfg, raw["baseline"], flat) if baseline_post else raw["baseline"]}
    progress.update()
    progress.set_postfix_str("score")
    scorer = AdScorer(cfg, data, group_size=k)
    rows = {side: scorer.score(flat, texts[side]) for side in ("policy", "baseline")}
    progress.update()
    progress.set_postfix_str("judge")
    firsts = {side: texts[side][::k] for side in texts}
    judged = (cfg.eval.gsb_pairs or len(requests)) if judge else 0
    verdicts = (ray.get(judge.compare.remote(requests[:judged], firsts["policy"][:judged], firsts["baseline"][:judged]))
                if judged else [])
    verdicts += [{"label": None, "p_first": None, "flipped": None}] * (len(requests) - len(verdicts))
    progress.update()
    report = build_report(cfg, rows, [r.id for r in requests], verdicts, policy_path, baseline_path, baseline_post)
    _write(out, report, rows, raw, flat, k, verdicts)
    progress.update()
    progress.close()
    return report


def build_report(cfg, rows: dict, request_ids: list[str], verdicts: list[dict], policy_path: Path,
                 baseline_path: Path, baseline_post: bool) -> dict:
    """report.json: the policy's metrics as flat keys, eq. 10 against the baseline with its paired
    bootstrap interval, GSB, and the baseline's own metrics under `baseline`."""
    ctcvr = {side: per_request(rows[side], "ctcvr_sim", request_ids) for side in rows}
    low, high = paired_bootstrap_ci(ctcvr["policy"], ctcvr["baseline"], cfg.eval.ci_level,
                                    cfg.eval.bootstrap_samples, cfg.seed)
    judged = [v for v in verdicts if v["label"] is not None]
    gsb = gsb_summary([v["label"] for v in judged], [v["flipped"] for v in judged]) if judged else None
    delta = delta_ctcvr(ctcvr["policy"], ctcvr["baseline"])
    finite = lambda x: x if math.isfinite(x) else None  # noqa: E731 (strict JSON has no NaN)
    return {
        **summarize(rows["policy"]),
        "delta_ctcvr_sim": finite(delta),
        "delta_ctcvr_sim_ci": [finite(low), finite(high)],
        "gsb": {k: gsb[k] for k in ("good", "same", "bad")} if gsb else None,
        # The share of pairs whose verdict changes with the order: the judge's position bias.
        "gsb_flip_rate": gsb["flip_rate"] if gsb else None,
        "judge_model": verdicts_judge(cfg) if gsb else None,
        "policy": str(policy_path), "postprocess": bool(cfg.postprocess),
        "baseline_model": str(baseline_path), "baseline_kind": cfg.baseline.split(":")[0] if cfg.baseline.startswith("sft:")
        else ("nlg" if cfg.baseline == "nlg" else "checkpoint"), "baseline_postprocess": baseline_post,
        "samples_per_request": cfg.eval.samples_per_request, "requests": cfg.eval.requests,
        "baseline": summarize(rows["baseline"]),
    }


def verdicts_judge(cfg) -> str:
    """The judge the verdicts came from, as the user named it (a bundled name or a folder)."""
    return cfg.eval.judge_model or cfg.reward_workers.judge_model


def _write(out: Path, report: dict, rows: dict, raw: dict, flat: list[AdRequest], k: int,
           verdicts: list[dict]) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_report_md(out / "report.md", report)
    with open(out / "eval_ads.jsonl", "w", encoding="utf-8") as f:
        for i, request in enumerate(flat):
            verdict = verdicts[i // k] if i % k == 0 else {"label": None, "p_first": None, "flipped": None}
            f.write(json.dumps({
                "request": request.to_dict(),
                "sample": i % k,
                "policy": {**rows["policy"][i], "raw_text": raw["policy"][i]},
                "baseline": {**rows["baseline"][i], "raw_text": raw["baseline"][i]},
                "gsb": verdict["label"], "p_policy_better": verdict["p_first"], "gsb_flipped": verdict["flipped"],
            }, ensure_ascii=False) + "\n")
