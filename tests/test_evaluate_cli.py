"""`python -m relate_ray.sft` and `python -m relate_ray.evaluate` end to end with real Ray actors,
vLLM engines and the DeepSpeed learner, on the tiny random policy (slow); and their bad-input lines."""

import json
import os
import subprocess
import sys

import pytest

DATA = ["data.n_requests=40", "data.n_impressions=400"]
REPORT_KEYS = {"num_requests", "format_ok", "compliance_rate", "compliance_rate_reward", "diversity", "distinct_2",
               "distinct_3", "self_bleu", "structural_quality", "semantic_quality", "ctcvr_pred", "ctr_sim",
               "ctcvr_sim", "delta_ctcvr_sim", "delta_ctcvr_sim_ci", "gsb", "baseline"}


def run(module, *overrides, timeout=900):
    return subprocess.run([sys.executable, "-m", module, *overrides], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.mark.slow
def test_sft_then_the_sft_policy_evaluated_against_itself(tmp_path, tiny_policy_dir):
    sft_dir = tmp_path / "sft"
    result = run("relate_ray.sft", f"model.policy={tiny_policy_dir}", *DATA, "sft.signal=ctr", "sft.min_lift=0",
                 "sft.max_examples=8", "sft.batch_size=4", f"out={sft_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((sft_dir / "sft.json").read_text())
    assert summary["examples"] == 8 and len(summary["nll"]) == 2
    assert (sft_dir / "config.json").is_file() and (sft_dir / "model.safetensors").is_file()
    chosen = [json.loads(line) for line in (sft_dir / "sft_examples.jsonl").read_text().splitlines()]
    assert [a["posterior"] for a in chosen] == sorted((a["posterior"] for a in chosen), reverse=True)

    out = tmp_path / "eval"
    result = run("relate_ray.evaluate", f"model.policy={tiny_policy_dir}", *DATA, f"checkpoint={sft_dir}",
                 f"baseline=sft:{sft_dir}", "postprocess=true", f"eval.judge_model={tiny_policy_dir}",
                 "eval.num_requests=4", "rollout.max_new_tokens=16", "rollout.compile=false", f"out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert REPORT_KEYS <= set(report) and report["num_requests"] == 4
    # Against itself (same engine, both post-processed): no lift, an interval at 0, every pair the same.
    assert report["delta_ctcvr_sim"] == 0.0
    low, high = report["delta_ctcvr_sim_ci"]
    assert low <= 0.0 <= high
    assert report["gsb"] == {"good": 0, "same": 4, "bad": 0}
    assert report["format_ok"] == 1.0  # post-processing repaired the random policy's text
    assert report["baseline_postprocess"] is True and report["baseline"]["ctcvr_sim"] == report["ctcvr_sim"]
    for key in ("compliance_rate", "diversity", "structural_quality", "semantic_quality", "self_bleu"):
        assert 0.0 <= report[key] <= 1.0, key
    rows = [json.loads(line) for line in (out / "eval_ads.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["policy"]["text"] == r["baseline"]["text"] for r in rows)
    assert "ΔCTCVR" in (out / "report.md").read_text()


@pytest.mark.parametrize("module, override, message", [
    ("relate_ray.evaluate", "baseline=sft:/no/such/model", "baseline: '/no/such/model' is not a Hugging Face model"),
    ("relate_ray.evaluate", "eval.samples_per_request=0", "eval.samples_per_request: must be at least 1"),
    ("relate_ray.evaluate", "eval.num_reqests=4", "eval.num_reqests"),
    ("relate_ray.sft", "sft.signal=cvr", "sft.signal: must be ctcvr or ctr"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, module, override, message):
    result = run(module, override, f"out={tmp_path / 'out'}", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()  # nothing was started or written
