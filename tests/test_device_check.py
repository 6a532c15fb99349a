"""The accelerator check script, run here on CPU with gloo (on a lent GPU it runs NCCL): the
publisher's bucketed broadcast arrives exactly, and one DeepSpeed ZeRO-2 step moves the weights."""

import json
import subprocess
import sys

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



LEAVES_THE_GROUP = """
import torch.distributed as dist
from relate_ray.bench.device_check import check_learner_step
from relate_ray.sync.broadcast import free_port
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
group = dist.group.WORLD
assert check_learner_step("cpu")["ok"]
assert dist.is_initialized() and dist.group.WORLD is group, "the check destroyed a group it did not make"
dist.barrier()
print("kept")
"""


def test_the_learner_check_leaves_a_process_group_it_did_not_make():
    # The suite's shared vLLM engine (policy_llm) makes a default gloo group in its pytest process; the
    # learner check used to destroy every group on its way out, and the engine's shutdown then failed
    # ("Invalid process group specified") when the two shared a pytest worker. A fresh process: DeepSpeed
    # binds to the first default group a process has, so the group must exist before its first use.
    result = subprocess.run([sys.executable, "-c", LEAVES_THE_GROUP], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("kept"), result.stderr[-2000:]
