"""`python -m relate_ray.evaluate [checkpoint=PATH] [baseline=nlg|sft:PATH|PATH] [postprocess=true] out=DIR`

Generates ads for held-out requests (the embedded test split by default) with the policy and with a
baseline, on the same requests with the same decoding, scores both (the simulated market, the CTCVR
model, the platform's independent review, the quality rewards, diversity) and writes
DIR/report.json, DIR/report.md and DIR/eval_ads.jsonl. Any key of the run's config applies
(model.dtype=float32, reward=model2, eval.num_requests=40). Bad input ends in one line and exit 2.
"""

from __future__ import annotations

import logging

from relate_ray.config import register_configs
from relate_ray.validation import validate_config
from relate_ray.evaluation.config import EvaluateJobConfig, register_eval_configs, validate_eval
from relate_ray.launch import check_inputs, run_job

log = logging.getLogger("relate_ray.evaluate")
register_configs()
register_eval_configs()


def validate(cfg) -> None:
    validate_config(cfg)
    validate_eval(cfg)
    check_inputs(cfg)


def evaluate(cfg) -> None:
    from relate_ray.evaluation.job import run_evaluation

    report = run_evaluation(cfg)
    low, high = report["delta_ctcvr_sim_ci"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:+.2f}%"  # noqa: E731
    log.info("delta_ctcvr_sim %s [%s, %s], compliance %.3f, diversity %.3f; %s/report.json",
             pct(report["delta_ctcvr_sim"]), pct(low), pct(high), report["compliance_rate"],
             report["diversity"], cfg.out)


if __name__ == "__main__":
    run_job("evaluate", EvaluateJobConfig, validate, evaluate)
