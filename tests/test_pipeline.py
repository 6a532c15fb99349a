"""`python -m relate_ray.pipeline`: which job gets which override, when a stage counts as done, and
(slow, real Ray, vLLM and DeepSpeed on the tiny policy) a pipeline killed in its training stage that
resumes without redoing the stages before it and writes Table 1."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from relate_ray.pipeline import DONE, PipelineError, overrides_for, parse_args, plan_stages, _resolved


def test_each_job_gets_its_own_keys_and_training_the_cold_start_experiment():
    given = ["model.dtype=float32", "eval.num_requests=4", "sft.max_examples=8", "trainer.steps=3"]
    assert overrides_for("sft", given) == ["model.dtype=float32", "sft.max_examples=8", "trainer.steps=3"]
    assert overrides_for("evaluate", given) == ["model.dtype=float32", "eval.num_requests=4", "trainer.steps=3"]
    assert overrides_for("launch", given) == ["+experiment=cold_start_cpu", "model.dtype=float32", "trainer.steps=3"]
    assert overrides_for("launch", ["+experiment=paper"]) == ["+experiment=paper"]


def test_the_stage_sets_its_own_paths_after_the_users_overrides(tmp_path):
    stages = {s.name: s for s in plan_stages(parse_args([f"out={tmp_path}", "seeds=[3]", "model.policy=/base"]))}
    assert list(stages) == ["sft", "eval_sft_vs_nlg", "relate_seed3", "eval_seed3_vs_sft"]
    train = stages["relate_seed3"].args
    # The base model is the user's for SFT and NLG; RELATE starts from the SFT checkpoint (the last
    # model.policy wins in Hydra).
    assert train.index("model.policy=/base") < train.index(f"model.policy={tmp_path / 'sft'}")
    assert "seed=3" in train and "model.policy=/base" in stages["sft"].args


@pytest.mark.parametrize("argv, message", [
    (["seeds=[0,1]"], "out: name the pipeline's folder"),
    (["out=x", "seeds=[0,0]"], "seeds: must be distinct"),
    (["out=x", "seed=1"], "pass seeds=[S,...]"),
    (["out=x", "hydra.run.dir=y"], "the pipeline sets it"),
])
def test_bad_pipeline_arguments_name_the_key(argv, message):
    with pytest.raises(PipelineError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_args(argv)


def test_a_stage_is_done_only_with_its_marker_and_a_killed_run_resumes(tmp_path):
    stages = {s.name: s for s in plan_stages(parse_args([f"out={tmp_path}", "seeds=[0]"]))}
    train = stages["relate_seed0"]
    assert not train.done() and "resume=true" not in _resolved(train)
    for step in (1, 2):  # killed after its second checkpoint
        folder = train.folder / "checkpoints" / f"step_{step}"
        (folder / "deepspeed").mkdir(parents=True)
        (folder / "trainer_state.json").write_text(json.dumps({"step": step}))
    assert not train.done() and "resume=true" in _resolved(train)
    (train.folder / DONE).write_text(json.dumps({"settings": train.settings}))
    assert train.done()
    # Done with other settings (a different lr): not reused, and the user is told.
    other = {s.name: s for s in plan_stages(parse_args([f"out={tmp_path}", "seeds=[0]", "learner.lr=1e-6"]))}
    with pytest.raises(PipelineError, match="relate_seed0: .* was made with other settings"):
        other["relate_seed0"].done()
    evaluation = stages["eval_seed0_vs_sft"]
    assert f"checkpoint={train.folder / 'checkpoints' / 'step_2'}" in _resolved(evaluation)


def test_bad_override_stops_before_any_stage(tmp_path):
    result = subprocess.run([sys.executable, "-m", "relate_ray.pipeline", f"out={tmp_path / 'p'}", "learner.lr=-1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: sft: learner.lr: must be positive, got -1.0"
    assert not (tmp_path / "p").exists()


REPORT_KEYS = {"num_requests", "format_ok", "compliance_rate", "compliance_rate_reward", "diversity", "distinct_2",
               "distinct_3", "self_bleu", "structural_quality", "semantic_quality", "ctcvr_pred", "ctr_sim",
               "ctcvr_sim", "delta_ctcvr_sim", "delta_ctcvr_sim_ci", "gsb", "gsb_flip_rate", "baseline"}
TINY = ["data.n_requests=40", "data.n_impressions=400", "sft.signal=ctr", "sft.min_lift=0", "sft.max_examples=8",
        "sft.batch_size=4", "trainer.steps=1", "trainer.prompts_per_step=2", "rollout.group_size=2",
        "rollout.max_new_tokens=16", "learner.micro_batch_size=2", "trainer.eval_every=0",
        "trainer.checkpoint_every=1", "cluster.include_dashboard=false", "rollout.compile=false", "reward=model2",
        # The random policy writes no servable ad: score its text whole so the advantages are not all 0.
        "reward.components.ctcvr.options.malformed=content", "eval.num_requests=4", "eval.gsb=false",
        "model.dtype=float32"]


@pytest.mark.slow
def test_a_pipeline_killed_in_training_resumes_and_writes_table_1(tmp_path, tiny_policy_dir):
    out = tmp_path / "pipeline"
    command = [sys.executable, "-m", "relate_ray.pipeline", f"out={out}", "seeds=[0]",
               f"model.policy={tiny_policy_dir}", *TINY]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True)
    seen = []
    for line in first.stdout:
        seen.append(line)
        if "relate_seed0: running" in line:
            time.sleep(3)
            os.killpg(first.pid, signal.SIGKILL)  # the driver and its running job, mid-stage
            break
    first.wait(timeout=60)
    assert any("relate_seed0: running" in line for line in seen), "".join(seen)[-3000:]
    assert (out / "sft" / DONE).is_file() and (out / "eval_sft_vs_nlg" / DONE).is_file()
    assert not (out / "relate_seed0" / DONE).exists()
    sft_written = (out / "sft" / "model.safetensors").stat().st_mtime

    second = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "sft: already done, skipped" in second.stderr and "eval_sft_vs_nlg: already done, skipped" in second.stderr
    assert (out / "sft" / "model.safetensors").stat().st_mtime == sft_written
    # The cold start: the logged best ads, best first, and a loadable checkpoint.
    summary = json.loads((out / "sft" / "sft.json").read_text())
    assert summary["examples"] == 8 and len(summary["nll"]) == 2
    chosen = [json.loads(line) for line in (out / "sft" / "sft_examples.jsonl").read_text().splitlines()]
    assert [a["posterior"] for a in chosen] == sorted((a["posterior"] for a in chosen), reverse=True)
    # RELATE (the tiny policy after one RL step, raw) against SFT + post-processing: two different
    # policies on the same 4 requests; post-processing repairs the baseline's format, not the policy's.
    evaluation = json.loads((out / "eval_seed0_vs_sft" / "report.json").read_text())
    assert REPORT_KEYS <= set(evaluation) and evaluation["num_requests"] == 4
    assert evaluation["baseline_kind"] == "sft" and evaluation["baseline_postprocess"] is True
    assert evaluation["baseline"]["format_ok"] == 1.0 > evaluation["format_ok"]
    ads = [json.loads(line) for line in (out / "eval_seed0_vs_sft" / "eval_ads.jsonl").read_text().splitlines()]
    assert len(ads) == 4 and evaluation["policy"].endswith("relate_seed0/checkpoints/step_1")
    report = json.loads((out / "report" / "report.json").read_text())
    models = [row["model"] for row in report["table1"]]
    assert models == ["NLG", "SFT + post-processing", "RELATE (from SFT), mean of 1 seeds"]
    (seed,) = report["seeds"]
    assert seed["vs_sft"]["requests"] == 4 and seed["checkpoint"].endswith("relate_seed0/checkpoints/step_1")
    # SFT + post-processing is repaired into servable ads; the raw tiny policies are not.
    sft_row = report["table1"][1]
    assert sft_row["format_ok"] == 1.0 and report["table1"][2]["format_ok"] < 1.0
    assert "Table 1" in (out / "report" / "report.md").read_text()
    assert (out / "report" / "rewards.png").is_file()
