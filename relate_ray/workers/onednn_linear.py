"""float32 linear layers through oneDNN instead of torch's default CPU GEMM (MKL's sgemm).

torch sends bfloat16 CPU matmuls to oneDNN but float32 ones to MKL. On the AMD EPYC (Zen 4) hosts
we run on, MKL's sgemm at a learner pass's shapes (149-240 tokens x SmolLM2's 576 / 1536 / 49152)
ran at 86-150 GFLOP/s on 2 threads, oneDNN's at 155-210 with the same unpacked weights: MKL does not
pick its fastest kernels on AMD. `use_onednn_linears(model)` routes every `nn.Linear` of a model
through `torch.ops.mkldnn._linear_pointwise` (a float32 GEMM with float32 accumulation, no reduced
precision), with its own backward: the input's gradient through oneDNN too, the weight's through
torch.mm. Weights stay ordinary tensors, so the optimizer, ZeRO and the weight sync see nothing new.
`python -m relate_ray.bench learner-step --set learner.dtype=float32` (the default run's step, AMD
EPYC Zen 4, 2 threads): reference 4.33 -> 3.17 s, forward 4.37 -> 3.10, backward 8.23 -> 7.04,
step 19.58 -> 15.42 s (`learner.onednn_linear=false` -> true).
"""

from __future__ import annotations

import torch

_CALLS = ("none", [], "")  # _linear_pointwise's post-op arguments: no fused activation


def onednn_available() -> bool:
    """oneDNN's linear operator is in this torch build (CPU builds have it)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear on CPU float32 through oneDNN. x: [..., in]; weight: [out, in]; bias: [out] or None;
    returns [..., out]. Differentiable in all three."""
    return _OneDnnLinear.apply(x, weight, bias)


class _OneDnnLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, *_CALLS)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        flat_grad = grad_out.reshape(-1, grad_out.shape[-1])
        if ctx.needs_input_grad[0]:
            # dX = dY W, as a linear layer whose weight is W's transpose (a view: no copy).
            grad_x = torch.ops.mkldnn._linear_pointwise(grad_out.contiguous(), weight.t(), None, *_CALLS)
        if ctx.needs_input_grad[1]:
            # dW = dY^T X through torch.mm: oneDNN had to copy both transposed operands, and the
            # learner step was no faster for it (backward 7.16 s against 7.04).
            grad_w = flat_grad.t().mm(x.reshape(-1, x.shape[-1]))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = flat_grad.sum(dim=0)
        return grad_x, grad_w, grad_b


def _linear_forward(module: torch.nn.Linear):
    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or module.weight.dtype != torch.float32:
            return torch.nn.functional.linear(x, module.weight, module.bias)
        return onednn_linear(x, module.weight, module.bias)
    return forward


def use_onednn_linears(model: torch.nn.Module) -> int:
    """Route every nn.Linear of `model` through `onednn_linear` when its input and weight are CPU
    float32 (anything else keeps F.linear). Returns how many layers were routed; 0 when this torch
    has no oneDNN."""
    if not onednn_available():
        return 0
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    for layer in layers:
        layer.forward = _linear_forward(layer)
    return len(layers)
