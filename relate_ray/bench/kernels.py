"""What bounds a phase: where its time goes kernel by kernel, and what this machine's GEMM kernels
do at the phase's own shapes.

- The learner: one profiled forward + backward of a GRPO group (the learner's shared-prompt
  forward, its dtype, its oneDNN routing in float32, its math-backend attention in bfloat16), its
  time split into GEMM kernels, attention (SDPA's kernels, or every op its math backend runs) and
  the rest (elementwise work, copies, Python), and the rate the GEMM kernels reached on the FLOPs
  they did.
- The decode: one decode step's matrix products (every weight once, as many rows as sequences)
  timed through torch's oneDNN linear kernel, each product on one weight timed repeatedly, as an
  estimate of the time a step spends in its products (vLLM-CPU calls oneDNN through its own
  `_C::onednn_mm`, not this entry point: see `decode_gemm_seconds`); a skinny product reads each weight for a few multiply-adds, so it is bounded by how fast
  the kernel streams weights, which can be well below the copy bandwidth.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from relate_ray.bench.roofline import ModelShape, gemm_rate

# Profiler event names whose self time is a matrix-product kernel: aten's, torch's oneDNN linear
# (relate_ray/workers/onednn_linear.py) and vLLM-CPU's.
GEMM_KERNELS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_weight_int8pack_mm",
                          "mkldnn::_linear_pointwise", "_C::onednn_mm"})


def kernel_class(name: str) -> str:
    """"gemm", "attention" (torch's SDPA kernels, vLLM's CPU attention) or "other" for a profiler
    event name."""
    if name in GEMM_KERNELS:
        return "gemm"
    if name.startswith("autograd::"):
        return "other"  # the autograd engine's node around a kernel: its self time is the engine's
    if "scaled_dot_product" in name or "attention" in name.lower():
        return "attention"
    return "other"


# Under SDPA's math backend (the learner's bf16 trained pass, learner.math_attention) attention is
# ordinary ops: in the forward, those its `aten::_scaled_dot_product_attention_math` call runs; in
# the backward, those of autograd's nodes for its batched matmuls and softmax. In a decoder nothing
# else runs either (linear layers are mm, the log-probs a log_softmax).
_ATTENTION_CALLERS = ("aten::_scaled_dot_product_attention_math", "BmmBackward0", "SoftmaxBackward0")


def event_kind(event) -> str:
    """kernel_class of a torch.profiler FunctionEvent, with any op that math-backend attention runs
    (an op whose callers include one of _ATTENTION_CALLERS) counted as attention."""
    kind = kernel_class(event.name)
    caller = event.cpu_parent
    while kind != "attention" and caller is not None:
        if any(name in caller.name for name in _ATTENTION_CALLERS):  # autograd's nodes appear twice, prefixed
            return "attention"
        caller = caller.cpu_parent
    return kind


def kernel_split(events: Iterable[tuple], wall_s: float, kind=kernel_class) -> dict[str, float]:
    """Seconds in GEMM and attention kernels out of `wall_s`, and the rest.

    events: (op, self seconds) of every profiled op; kind(op): its class (ops are event names by
    default; `event_kind` classifies profiler events). An op's self time excludes the ops it calls,
    so nothing is counted twice. "other" is the wall time left: elementwise kernels, copies, and
    the Python between ops.
    """
    split = {"gemm": 0.0, "attention": 0.0}
    for op, seconds in events:
        kind_of_op = kind(op)
        if kind_of_op != "other":
            split[kind_of_op] += seconds
    split["other"] = max(wall_s - split["gemm"] - split["attention"], 0.0)
    split["wall"] = wall_s
    return split


def linear_flops(shape: ModelShape, tokens: int, logit_tokens: int) -> float:
    """FLOPs of the matrix products alone in one forward (no attention scores): 2 per weight per
    position through the layers, and the vocabulary projection at the positions with logits."""
    return float(2 * shape.layers * shape.linear_params_per_layer * tokens + 2 * shape.hidden * shape.vocab * logit_tokens)


def learner_kernels(path: str, dtype: str, prompt: list[int], group: int, response_tokens: int,
                    threads: int, repeat: int = 2) -> dict:
    """Profile forward + backward of one group (prompt x `group` responses of `response_tokens`)
    as the learner runs it, after `repeat` unprofiled ones. Returns the seconds and shares of
    GEMM, attention and the rest, how many GEMM and attention kernels ran, and the GEMM kernels'
    achieved GFLOP/s."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModelForCausalLM

    from relate_ray.workers.learner_forward import attention_backend, shared_prefix_logprobs
    from relate_ray.workers.onednn_linear import use_onednn_linears

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        model.config.use_cache = False
        if torch_dtype == torch.float32:
            use_onednn_linears(model)  # as the learner routes float32 (learner.onednn_linear)
        shape = ModelShape.from_config(model.config)
        generator = torch.Generator().manual_seed(0)
        responses = torch.randint(100, shape.vocab - 100, (group, response_tokens), generator=generator)
        mask = torch.ones(group, response_tokens)

        def step() -> None:
            model.zero_grad(set_to_none=True)
            # As the learner's trained pass: bf16 attention through SDPA's math backend (learner.math_attention).
            with attention_backend(math=torch_dtype == torch.bfloat16):
                logp = shared_prefix_logprobs(model, [prompt] * group, responses, mask, 0, "cpu")
            (logp.float() * mask).sum().backward()

        for _ in range(repeat):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            step()
            wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
    kinds = [(event_kind(e), e.self_cpu_time_total / 1e6) for e in prof.events()]
    split = kernel_split(kinds, wall, kind=lambda kind: kind)
    calls = {kind: sum(1 for k, _ in kinds if k == kind) for kind in ("gemm", "attention")}
    # Forward and backward: three products per weight (Y = XW, dX, dW), each the forward's FLOPs.
    flops = 3 * linear_flops(shape, len(prompt) - 1 + group * response_tokens, group * response_tokens)
    return {"dtype": dtype, "seconds": {k: round(v, 3) for k, v in split.items()}, "kernel_calls": calls,
            "share": {k: round(split[k] / wall, 3) for k in ("gemm", "attention", "other")},
            "gemm_gflop": round(flops / 1e9, 1),
            "gemm_gflop_per_s": round(flops / split["gemm"] / 1e9, 1) if split["gemm"] else 0.0}


def decode_gemm_seconds(shape: ModelShape, sequences: int, dtype: str, threads: int, seconds: float = 0.3) -> float:
    """The matrix products of one decode step (`sequences` rows through every layer's weights and
    the vocabulary projection) through torch's oneDNN linear (`mkldnn._linear_pointwise`), fused as
    vLLM-CPU fuses them: q, k and v, o, gate and up, down, then the head. Each distinct product is
    timed for about `seconds` (`roofline.gemm_rate`) and counted once per layer.

    An estimate, not vLLM's own kernel: vLLM-CPU runs `_C::onednn_mm` on weights it prepared once,
    and one weight timed over and over can stay in cache where a step's 30 layers cannot. A probe of
    10 rows over 30 layers' distinct weights (2-core AMD EPYC Zen 4, fp32) gave 26-30 ms a step
    through vLLM's `onednn_mm` and 40-51 ms through this entry point, against 28-31 ms from this
    function (weights reused)."""
    import torch

    from relate_ray.workers.onednn_linear import onednn_available

    torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    kernel = "onednn" if onednn_available() else "matmul"
    q_out, kv_out = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    products = {(shape.hidden, q_out + 2 * kv_out): shape.layers, (q_out, shape.hidden): shape.layers,
                (shape.hidden, 2 * shape.intermediate): shape.layers, (shape.intermediate, shape.hidden): shape.layers,
                (shape.hidden, shape.vocab): 1}
    return sum(count * 2.0 * sequences * k * n / gemm_rate(sequences, k, n, torch_dtype, threads, seconds, kernel)
               for (k, n), count in products.items())
