"""How close a phase runs to this machine's limits: the arithmetic a forward and backward of the
policy does (counted from the tokens and the model's shapes), this machine's sustained GEMM rate at
those shapes, and its memory bandwidth, so the bench can report each phase as a fraction of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    """What the FLOP count needs of a decoder-only transformer's config (Llama / Qwen layout:
    grouped-query attention, a gated MLP of three matrices)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def from_config(cls, config) -> "ModelShape":
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(config.hidden_size, config.intermediate_size, config.num_hidden_layers, heads,
                   getattr(config, "num_key_value_heads", None) or heads, head_dim, config.vocab_size)

    @property
    def linear_params_per_layer(self) -> int:
        """q, k, v, o and the MLP's gate, up and down matrices."""
        q_out, kv_out = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return self.hidden * q_out + 2 * self.hidden * kv_out + q_out * self.hidden + 3 * self.hidden * self.intermediate


def forward_flops(shape: ModelShape, tokens: int, attended: int, logit_tokens: int) -> float:
    """Multiply-add FLOPs (2 per multiply-accumulate) of one forward pass.

    tokens: positions run through the layers; attended: the sum over those positions of how many
    positions each attends to (t for position t of a causal sequence; prompt + t for a response
    token on a shared prompt's KV cache); logit_tokens: positions whose logits are computed (the
    learner computes them at response positions only).

    Per layer: 2 x linear params per token, and 2 x 2 x heads x head_dim per attended position
    (scores q.k and the weighted sum of v); then 2 x hidden x vocab per logit.
    """
    per_layer = 2 * shape.linear_params_per_layer * tokens + 4 * shape.heads * shape.head_dim * attended
    return float(shape.layers * per_layer + 2 * shape.hidden * shape.vocab * logit_tokens)


def causal_attended(lengths: list[int]) -> int:
    """sum over sequences of 1 + 2 + ... + L: the attended positions of full causal forwards."""
    return sum(n * (n + 1) // 2 for n in lengths)


def backward_flops(forward: float) -> float:
    """The backward pass: gradients with respect to activations and to weights, each about one
    forward's matrix products (the usual 2x)."""
    return 2.0 * forward


def gemm_rate(m: int, k: int, n: int, dtype, threads: int, seconds: float = 1.0, kernel: str = "matmul") -> float:
    """Sustained FLOP/s of an [m, k] x [k, n] product in `dtype` on `threads` threads, timed over
    about `seconds` after a warm-up. kernel: "matmul" (torch.matmul: MKL in float32, oneDNN in
    bfloat16) or "onednn" (the learner's float32 linear layers, relate_ray/workers/onednn_linear.py)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        if kernel == "onednn":
            weight = b.t().contiguous()  # a linear layer's [out, in] weight

            def product():
                return torch.ops.mkldnn._linear_pointwise(a, weight, None, "none", [], "")
        elif kernel == "matmul":
            def product():
                return torch.matmul(a, b)
        else:
            raise ValueError(f"kernel must be matmul or onednn, got {kernel!r}")
        for _ in range(3):
            product()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            product()
            runs += 1
        return 2.0 * m * k * n * runs / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)


def memory_bandwidth(megabytes: int = 512, threads: int = 1, seconds: float = 1.0, kind: str = "copy") -> float:
    """Sustained bytes/s through memory: kind "copy" (a large copy, its read and its write both
    counted) or "read" (a large sum: reads only, as a decode step reads every weight once and
    writes little)."""
    import torch

    if kind not in ("copy", "read"):
        raise ValueError(f"kind must be copy or read, got {kind!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        src = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
        dst = torch.empty_like(src)

        def one_pass():
            return dst.copy_(src) if kind == "copy" else src.sum()

        one_pass()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            one_pass()
            runs += 1
        return (2 if kind == "copy" else 1) * src.numel() * 4 * runs / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
