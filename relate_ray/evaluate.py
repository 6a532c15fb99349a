"""`python -m relate_ray.evaluate [checkpoint=PATH] [baseline=nlg|sft:PATH|PATH] [postprocess=true] out=DIR`

Generates ads for held-out requests (the embedded test split by default) with the policy and with a
baseline, on the same requests with the same decoding, scores both (the simulated market, the CTCVR
model, the platform's independent review, the quality rewards, diversity) and writes
DIR/report.json, DIR/report.md and DIR/eval_ads.jsonl. Any key of the run's config applies
(model.dtype=float32, reward=model2, eval.num_requests=40). Bad input ends in one line and exit 2.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from relate_ray.config import register_configs, validate_config
from relate_ray.evaluation.config import EvaluateJobConfig, register_eval_configs, validate_eval
from relate_ray.launch import USER_ERRORS, check_overrides

log = logging.getLogger("relate_ray.evaluate")
register_configs()
register_eval_configs()


def validate(cfg) -> None:
    validate_config(cfg)
    validate_eval(cfg)


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from relate_ray.evaluation.job import run_evaluation

    try:
        validate(cfg)
        report = run_evaluation(cfg)
    except USER_ERRORS as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(1)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    low, high = report["delta_ctcvr_sim_ci"]
    log.info("delta_ctcvr_sim %+.2f%% [%+.2f%%, %+.2f%%], compliance %.3f, diversity %.3f; %s/report.json",
             100 * report["delta_ctcvr_sim"], 100 * low, 100 * high, report["compliance_rate"],
             report["diversity"], cfg.out)


if __name__ == "__main__":
    problem = check_overrides(sys.argv[1:], "evaluate", validate, EvaluateJobConfig)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        sys.exit(2)
    main()
