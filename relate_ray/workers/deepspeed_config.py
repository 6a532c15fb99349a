"""The learner's DeepSpeed configuration, in one place (the learner ranks and the device check build
their engines from it)."""

from __future__ import annotations


def zero2_config(micro_batch_size: int, accumulation: int, world_size: int, bf16: bool) -> dict:
    """ZeRO stage 2 (optimizer state and gradients partitioned over the ranks): `accumulation`
    micro-batches of `micro_batch_size` per rank make one optimizer step.

    No gradient clipping, no gradient norm and no bf16 overflow scan here: the optimizer does all
    three in one pass over ZeRO's flat gradient partition (`relate_ray.workers.clipped_adamw`,
    which says what DeepSpeed's own cost)."""
    return {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": accumulation,
        "train_batch_size": micro_batch_size * accumulation * world_size,
        "gradient_clipping": 0.0,
        # DeepSpeed's default buckets are 5e8 elements: on one rank a fixed 1-2 GB buffer (bf16/fp32),
        # larger than the 135M default policy itself, and with the 0.5B zh policy the ~2 GB that
        # tipped a 24 GiB machine into Ray's memory monitor. 5e7 is 100-200 MB; more flushes,
        # the same sums.
        "zero_optimization": {"stage": 2, "reduce_bucket_size": 50_000_000, "allgather_bucket_size": 50_000_000,
                              "compute_grad_norm": False},
        "bf16": {"enabled": bf16, "check_grad_overflow": False},
        # DeepSpeed lists the optimizers it has tested by exact type; ClippedAdamW is torch's AdamW
        # (its state, its kernels) with a clipping step in front.
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
