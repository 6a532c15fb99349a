"""`python -m relate_ray.sft [out=DIR] [sft.*=...]`: the paper's SFT baseline (Qwen-SFT's recipe on
our market): fine-tune the policy on the historical ads with the best logged CTCVR, on the run's
DeepSpeed learner, and write a Hugging Face checkpoint to DIR. `python -m relate_ray.evaluate
baseline=sft:DIR` compares against it (post-processed, as the paper's); `python -m relate_ray.launch
model.policy=DIR` starts RL from it (the paper's cold start). Bad input: one line, exit 2.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from relate_ray.config import register_configs, validate_config
from relate_ray.evaluation.config import SFTJobConfig, register_eval_configs, validate_sft
from relate_ray.launch import USER_ERRORS, check_overrides

log = logging.getLogger("relate_ray.sft")
register_configs()
register_eval_configs()


def validate(cfg) -> None:
    validate_config(cfg)
    validate_sft(cfg)


@hydra.main(config_path="../conf", config_name="sft", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from relate_ray.evaluation.sft_job import run_sft

    try:
        validate(cfg)
        summary = run_sft(cfg)
    except USER_ERRORS as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(1)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    log.info("SFT on %d ads: NLL %.3f -> %.3f; checkpoint in %s", summary["examples"], summary["nll"][0],
             summary["nll"][-1], cfg.out)


if __name__ == "__main__":
    problem = check_overrides(sys.argv[1:], "sft", validate, SFTJobConfig)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        sys.exit(2)
    main()
