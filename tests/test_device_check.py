"""The accelerator check script, run here on CPU with gloo (on a lent GPU it runs NCCL): the
publisher's bucketed broadcast arrives exactly, and one DeepSpeed ZeRO-2 step moves the weights."""

import json

from relate_ray.bench.device_check import check_broadcast, main


def test_the_device_check_passes_on_cpu_with_gloo(tmp_path):
    assert main(["--backend", "gloo", "--device", "cpu", "--out", str(tmp_path / "report.json")]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    fp32, bf16 = report["broadcast"]
    assert fp32["tensors"] == bf16["tensors"] > 20 and fp32["mismatched"] == bf16["mismatched"] == []
    assert bf16["bytes"] * 2 == fp32["bytes"]
    step = report["learner_step"]
    assert step["grad_norm"] > 0 and step["max_weight_change"] > 0


def test_a_receiver_expecting_other_values_reports_every_tensor_it_got_wrong():
    # Sent with round-to-nearest, checked against stochastic rounding: most bf16 tensors differ.
    result = check_broadcast("gloo", "cpu", "bfloat16", "nearest", receiver_rounding="stochastic")
    assert not result["ok"] and len(result["mismatched"]) > result["tensors"] // 2


def test_nccl_without_cuda_is_refused_in_one_line(capsys):
    assert main(["--backend", "nccl", "--device", "cpu"]) == 2
    assert capsys.readouterr().err == "error: --backend nccl needs --device cuda\n"
