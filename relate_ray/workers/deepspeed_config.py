"""The learner's DeepSpeed configuration, in one place (the learner ranks and the device check build
their engines from it)."""

from __future__ import annotations


def zero2_config(micro_batch_size: int, accumulation: int, world_size: int, grad_clip: float,
                 bf16: bool) -> dict:
    """ZeRO stage 2 (optimizer state and gradients partitioned over the ranks): `accumulation`
    micro-batches of `micro_batch_size` per rank make one optimizer step."""
    return {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": accumulation,
        "train_batch_size": micro_batch_size * accumulation * world_size,
        "gradient_clipping": grad_clip,
        "zero_optimization": {"stage": 2},
        "bf16": {"enabled": bf16},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
