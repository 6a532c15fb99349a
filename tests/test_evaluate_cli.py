"""`python -m relate_ray.sft` and `python -m relate_ray.evaluate`: their bad-input lines. Both jobs
run end to end, on two different policies, in tests/test_pipeline.py."""

import os
import subprocess
import sys

import pytest


def run(module, *overrides, timeout=900):
    return subprocess.run([sys.executable, "-m", module, *overrides], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.mark.parametrize("module, override, message", [
    ("relate_ray.evaluate", "baseline=sft:/no/such/model", "baseline: '/no/such/model' is not a Hugging Face model"),
    ("relate_ray.evaluate", "eval.samples_per_request=0", "eval.samples_per_request: must be at least 1"),
    ("relate_ray.evaluate", "eval.num_reqests=4", "eval.num_reqests"),
    ("relate_ray.evaluate", "eval.judge_model=/no/such/judge", "eval.judge_model: model '/no/such/judge': no such folder"),
    ("relate_ray.sft", "sft.signal=cvr", "sft.signal: must be ctcvr or ctr"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, module, override, message):
    result = run(module, override, f"out={tmp_path / 'out'}", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()  # nothing was started or written
