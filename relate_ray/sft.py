"""`python -m relate_ray.sft [out=DIR] [sft.*=...]`: the paper's SFT baseline (Qwen-SFT's recipe on
our market): fine-tune the policy on the historical ads with the best logged CTCVR, on the run's
DeepSpeed learner, and write a Hugging Face checkpoint to DIR. `python -m relate_ray.evaluate
baseline=sft:DIR` compares against it (post-processed, as the paper's); `python -m relate_ray.launch
model.policy=DIR` starts RL from it (the paper's cold start). Bad input: one line, exit 2.
"""

from __future__ import annotations

import logging

from relate_ray.config import register_configs
from relate_ray.validation import validate_config
from relate_ray.evaluation.config import SFTJobConfig, register_eval_configs, validate_sft
from relate_ray.launch import check_inputs, run_job

log = logging.getLogger("relate_ray.sft")
register_configs()
register_eval_configs()


def validate(cfg) -> None:
    validate_config(cfg)
    validate_sft(cfg)
    check_inputs(cfg)


def sft(cfg) -> None:
    from relate_ray.evaluation.sft_job import run_sft

    summary = run_sft(cfg)
    log.info("SFT on %d ads: NLL %.3f -> %.3f; checkpoint in %s", summary["examples"], summary["nll"][0],
             summary["nll"][-1], cfg.out)


if __name__ == "__main__":
    run_job("sft", SFTJobConfig, validate, sft)
