"""One flat gradient buffer for ZeRO-2's optimizer step, kept from step to step on CPU.

Every `step()`, DeepSpeed's ZeRO-2 optimizer (stage_1_and_2.py) flattens this rank's gradient
partition into a new tensor (`flatten_dense_tensors_aligned`: a `torch.cat` of the gradients'
views), hands it to the optimizer as the fp32 master partition's `.grad`, and drops it: the size of
the trained weights (538 MB for SmolLM2-135M in float32) allocated and freed once a step. On a GPU
the caching allocator hands back the same block. On CPU, glibc's heap (relate_ray/workers/heap.py)
finds a free block that large only while nothing smaller has since been placed in the hole the last
one left: measured in the fp32 learner (`getrusage` around `engine.step()`), one step in four to six
faulted in 131,362 fresh pages, exactly the partition, and took 0.4-1.1 s against 0.19 s.

`keep_flat_gradient_buffer(zero_optimizer)` gives that flatten one buffer per (size, dtype) that
lives as long as the optimizer, only inside `step()` (the backward's bucket flattens and a
checkpoint's restore keep DeepSpeed's own). The values are the same: the same gradients,
concatenated in the same order. The cost: the buffer stays resident between steps, through the next
forward and backward, so a lean learner (`learner.return_freed_memory`) does not keep it.
"""

from __future__ import annotations

import functools

import torch


def keep_flat_gradient_buffer(zero_optimizer) -> bool:
    """Make `zero_optimizer.step()` flatten the gradient partition into a buffer kept between steps
    (see the module docstring). zero_optimizer: DeepSpeed's ZeRO stage 1/2 optimizer
    (`engine.optimizer`). Returns False, changing nothing, for anything without that optimizer's
    `flatten` and `step`, or on a GPU (its caching allocator reuses the block already)."""
    if not (callable(getattr(zero_optimizer, "flatten", None)) and callable(getattr(zero_optimizer, "step", None))):
        return False
    if torch.cuda.is_available():
        return False
    deepspeed_flatten, deepspeed_step = zero_optimizer.flatten, zero_optimizer.step
    buffers: dict[tuple, torch.Tensor] = {}
    in_step = False

    def flatten(tensors):
        if not in_step or not tensors:
            return deepspeed_flatten(tensors)
        first = tensors[0]
        key = (sum(t.numel() for t in tensors), first.dtype, first.device)
        buffer = buffers.get(key)
        if buffer is None:
            buffer = buffers[key] = torch.empty(key[0], dtype=first.dtype, device=first.device)
        return torch.cat([t.reshape(-1) for t in tensors], out=buffer)

    @functools.wraps(deepspeed_step)
    def step(*args, **kwargs):
        nonlocal in_step
        in_step = True
        try:
            return deepspeed_step(*args, **kwargs)
        finally:
            in_step = False

    zero_optimizer.flatten, zero_optimizer.step = flatten, step
    return True
