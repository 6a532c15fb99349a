"""Which floating-point type a model runs in on this machine: `auto` resolved from the device.

One rule for every model the run loads (the rollout engines, the learner, the embedder): bfloat16
where the hardware computes it natively (CUDA, AVX-512 BF16 or AMX on CPU), float32 elsewhere,
where bf16 matmuls are emulated. Resolved on the node that runs the model, never on the driver's.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def resolve_dtype(dtype: str) -> str:
    """'auto' -> bfloat16 on CUDA and on CPUs with native bf16 (AVX-512 BF16 or AMX), else float32;
    any other name comes back unchanged.

    On an AVX2-only CPU bf16 matmuls are emulated: SmolLM2-135M sampled 24.5 tok/s in bf16 and
    95.9 tok/s in float32 there (`python -m relate_ray.bench rollout --dtype ...`).
    """
    if dtype != "auto":
        return dtype
    import torch

    if torch.cuda.is_available():
        return "bfloat16"
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError as err:
        log.warning("dtype auto: cannot read the CPU flags (%s); running float32 (set the dtype to choose)", err)
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def reference_dtype(wanted: str, training_dtype: str) -> str:
    """learner.reference_dtype on this node: `auto` is bfloat16 where the node computes it natively
    (resolve_dtype), else the training dtype; any other name comes back unchanged.

    The frozen reference only gives the KL term's log-probs, never a gradient, so in a float32 run its
    precision bounds just that term's accuracy: bf16 against fp32 weights of SmolLM2-135M moved its
    log-probs by 0.03-0.04 a token on average, a k3 KL of 1.2-2.3e-3 where fp32 gives 0 (README
    Performance, "The reference in bf16"), and halved the reference pass.
    """
    if wanted != "auto":
        return wanted
    return "bfloat16" if resolve_dtype("auto") == "bfloat16" else training_dtype
