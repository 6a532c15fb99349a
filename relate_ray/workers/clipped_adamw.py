"""AdamW that clips its gradients to one global norm itself, so DeepSpeed does not.

DeepSpeed's ZeRO-1/2 optimizer computes the clipping norm by copying each gradient to float64 and
taking its norm (273 tensors for SmolLM2-135M), scales the gradients in one more pass, and in bf16
first scans every gradient for inf/NaN in another. On a 2-core CPU that was most of its step: one
bench micro-batch's `engine.step()` (2 prompts x 5 x 48, one rank, gloo, Intel Xeon with AMX)
spent 0.12 s on the norm and 0.03 s on the scaling of a 0.32 s fp32 step, and 0.10 + 0.11 + 0.02 s
of a 0.42 s bf16 one; AdamW itself 0.08 s.

Here the learner gives DeepSpeed no clipping (`zero2_config`) and this optimizer does it when
DeepSpeed calls `step()`, on what ZeRO hands it: the flat float32 gradient partition of its one
parameter group. One norm over it (`sum_of_squares`), summed over the ranks, and the clip folded
into the fused AdamW kernel as its `grad_scale` (divided out as it reads each gradient: no pass of
its own). A non-finite norm skips the update, as DeepSpeed's overflow check did; every rank sees
the same summed norm, so all skip together. Same start and batches, six steps: the step 0.31 ->
0.19 s (fp32) and 0.43 -> 0.21 s (bf16), the norms equal to 2e-7, the fp32 weights to 2.4e-7.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def clip_divisor(norm: float, max_norm: float) -> float:
    """What to divide the gradients by so that their global `norm` is at most `max_norm` (1.0 when
    it is already, or when max_norm <= 0: no clipping). The 1e-6 is DeepSpeed's and
    torch.nn.utils.clip_grad_norm_'s, so a clipped norm lands just under max_norm."""
    if max_norm <= 0:
        return 1.0
    return max(1.0, (norm + 1e-6) / max_norm)


def sum_of_squares(values: torch.Tensor, row: int = 4096) -> torch.Tensor:
    """Sum of the squares of all `values` (any shape), as a float64 scalar tensor.

    Why rows: one float32 norm over ZeRO's 135M-element partition was off by 3e-3 (float32
    accumulation over the whole tensor), one in float64 converts it first (0.39 s); the norms of
    4096-element rows in float32, squared and summed in float64, were within 1e-7 in 26 ms."""
    flat = values.reshape(-1)
    whole = flat.numel() // row * row
    total = torch.linalg.vector_norm(flat[:whole].view(-1, row), dim=1).double().square().sum()
    if whole < flat.numel():
        total = total + torch.linalg.vector_norm(flat[whole:]).double().square()
    return total


def global_grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all `grads` together, over every rank of the default process group when one
    is initialized with more than one rank (each rank holds its own partition of the gradients).
    Returns a float64 scalar tensor."""
    squares = torch.zeros((), dtype=torch.float64, device=grads[0].device if grads else "cpu")
    for grad in grads:
        squares += sum_of_squares(grad)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(squares)
    return squares.sqrt()


class ClippedAdamW(torch.optim.AdamW):
    """torch AdamW whose `step` first clips the gradients of its parameters to a global norm of
    `max_norm` (<= 0: no clipping, the norm still measured) and skips the update when that norm is
    not finite. `last_grad_norm` is the norm the last step measured (before clipping).

    The norm is over the parameter groups `step` sees, and ZeRO steps its groups one at a time: give
    it one group (the learner does), or the clip is per group."""

    def __init__(self, params, *, max_norm: float, **adamw_options) -> None:
        super().__init__(params, **adamw_options)
        self.max_norm = float(max_norm)
        self.last_grad_norm = float("nan")
        self.skipped_steps = 0

    @torch.no_grad()
    def step(self, closure=None):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norm = float(global_grad_norm(grads))
        self.last_grad_norm = norm
        if not math.isfinite(norm):
            self.skipped_steps += 1
            log.warning("gradient norm %s: update skipped (%d so far)", norm, self.skipped_steps)
            return None
        divisor = clip_divisor(norm, self.max_norm)
        if divisor == 1.0:
            return super().step(closure)
        if all(group["fused"] for group in self.param_groups):
            # Read by torch's AdamW step and divided out inside the fused kernel.
            self.grad_scale = torch.tensor(divisor, dtype=torch.float32, device=grads[0].device)
            try:
                return super().step(closure)
            finally:
                del self.grad_scale
        for grad in grads:
            grad.div_(divisor)
        return super().step(closure)
