"""Casting the learner's fp32 weights to the rollout engines' dtype: nearest or stochastic rounding.

Why stochastic for bf16: the policy's initial weights are exactly representable in bf16 (the
bundled checkpoint is stored in bf16, as most are), and one learner step moves a weight by about
lr (Adam's first steps are lr * sign(g)), far below half a bf16 ulp (2^-8 of the weight's
magnitude: 1.2e-4 at |w| = 0.05 against lr = 2e-5). Round-to-nearest then gives every such weight
back its old value, so the engine keeps sampling from the old policy while the learner's fp32 copy
moves on: measured on the bundled policy, the engine/learner KL on fresh samples grew from 0.001 to
0.064 in six steps, and the engine reflected a few percent of each step's change. Stochastic
rounding rounds up with probability (distance to the lower bf16 neighbour) / ulp, so the engine's
weights equal the learner's in expectation and every update reaches it, as a Bernoulli draw of
one ulp, at no more noise than bf16 itself carries.
"""

from __future__ import annotations

import torch

ROUNDINGS = ("nearest", "stochastic")


def stochastic_round_bf16(values: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """fp32 [*] -> bf16 [*], rounding each value to one of its two bf16 neighbours at random, with
    probability proportional to closeness (unbiased: E[result] = values).

    bf16 is fp32's upper 16 bits. Adding a uniform random integer in [0, 2^16) to the fp32 bit
    pattern and then dropping the lower 16 bits rounds the magnitude up exactly when the random
    number exceeds 2^16 minus the dropped bits; float bit patterns are sign-magnitude, so the same
    holds for negative values. Values already representable in bf16 come back unchanged.
    """
    bits = values.detach().to(torch.float32).contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, bits.shape, dtype=torch.int32, device=bits.device, generator=generator)
    rounded = (bits + noise) & -65536  # -65536 == 0xFFFF0000 as int32: keep the upper 16 bits
    return rounded.view(torch.float32).to(torch.bfloat16)


def cast_weights(values: torch.Tensor, dtype: torch.dtype, rounding: str,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """`values` in `dtype`, a new tensor (never a view of the learner's weights).

    rounding: "stochastic" applies to fp32 -> bf16 only (see `stochastic_round_bf16`); every
    other cast, and "nearest", is torch's round-to-nearest-even.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if rounding == "stochastic" and dtype == torch.bfloat16 and values.dtype == torch.float32:
        return stochastic_round_bf16(values, generator)
    # copy=True: tied weights share storage, and the buffer must not alias the learner's parameter.
    return values.detach().to(dtype=dtype, copy=True)


def cast_into(out: torch.Tensor, values: torch.Tensor, rounding: str,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Write `values` into `out` (its dtype and shape) as `cast_weights` would cast them, without a
    second full-size copy for a same-dtype or round-to-nearest cast. Returns out."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if rounding == "stochastic" and out.dtype == torch.bfloat16 and values.dtype == torch.float32:
        return out.copy_(stochastic_round_bf16(values, generator).view(out.shape))
    return out.copy_(values.detach().view(out.shape))


def sync_generator(seed: int, key: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The rounding draws of one sync depend only on (run seed, key); the learner's key is its
    optimizer step, so a resumed run rounds exactly as an uninterrupted one."""
    generator = torch.Generator(device=device)
    generator.manual_seed((seed * 1_000_003 + key) % (2**63))
    return generator
