"""The main job end to end with real actors (Ray, vLLM, DeepSpeed), at tiny sizes (slow).

One tiny run serves several tests: two steps with checkpoints (resuming is held against an
uninterrupted run in test_fault_tolerance.py, after a killed driver); a sweep of two presets runs
with two DeepSpeed ranks (gloo) and the gloo broadcast weight sync, so M=2 and the collective sync
path through the controller are covered too. The policy is a tiny random Llama with
SmolLM2's tokenizer (`tiny_policy_dir`): a 135M checkpoint is 2.7 GB, and these runs write six.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TINY = ["trainer.prompts_per_step=2", "rollout.group_size=2", "rollout.max_new_tokens=16",
        "learner.micro_batch_size=2", "trainer.eval_every=0", "trainer.eval_prompts=2",
        "trainer.checkpoint_every=1", "data.n_requests=40", "data.n_impressions=400", "cluster.include_dashboard=false",
        # Eager engines: compiling costs each start 15-60 s, more than these runs sample; the compiled
        # engine's weight sync is tested in test_weight_sync.py.
        "rollout.compile=false"]
# The random tiny policy never writes a title and a description, and an unservable answer earns the
# CTCVR reward's floor, so every group would tie and no weight would move. Scoring its whole text
# (malformed=content) keeps the CTCVR score graded: nonzero advantages, a learner that moves.
GRADED_CTCVR = "reward.components.ctcvr.options.malformed=content"
# The checkpointed run pins float32 engines, so the engine's loaded weights can be held exactly
# against the checkpoint's; the fault tests run the machine's own dtype (bf16 where it is native).
FP32 = "model.dtype=float32"
STEP_KEYS = {"step", "batch/samples", "reward/total", "loss", "kl", "clip_frac", "response_length",
             "time/step", "time/rollout", "time/reward", "time/learner", "time/sync", "advantage/mean"}


@pytest.fixture(scope="module")
def tiny(tiny_policy_dir):
    return [f"model.policy={tiny_policy_dir}", *TINY]


def launch(*overrides, timeout=900):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "relate_ray.launch", *overrides], capture_output=True, text=True,
                          timeout=timeout, env=env)


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny):
    run_dir = tmp_path_factory.mktemp("run")
    # model2 with a graded CTCVR score: a 2-sample group has a nonzero advantage and the weights move.
    # DAPO's dynamic sampling: twice the prompts are sampled, prompts_per_step groups are trained on.
    result = launch("reward=model2", GRADED_CTCVR, FP32, "trainer.steps=2", "trainer.dynamic_sampling=true",
                    "trainer.oversample=2", *tiny, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_two_steps_write_metrics_for_every_step(tiny_run):
    rows = read_metrics(tiny_run)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert STEP_KEYS <= set(row), STEP_KEYS - set(row)
        assert row["batch/samples"] == 4
        assert {"reward/length", "reward/format"} <= set(row)
    # TensorBoard holds the same numbers, step by step, as metrics.jsonl.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tiny_run / "tensorboard"))
    events.Reload()
    for key in ("reward/total", "loss", "time/step"):
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in rows], key


def test_dynamic_sampling_draws_twice_the_prompts_and_trains_on_a_full_batch(tiny_run):
    rows = read_metrics(tiny_run)
    for row in rows:
        assert row["batch/samples"] == 4  # prompts_per_step=2 groups of G=2 trained, of 4 sampled
        # The trained batch takes the informative groups first: of 4 sampled groups, 2 are trained, and
        # a zero-std group is among them only when fewer than 2 were informative.
        informative = round(4 * (1 - row["dynamic/zero_std_frac_sampled"]))
        assert row["advantage/zero_std_frac"] == max(0, 2 - informative) / 2
    state = json.loads((tiny_run / "checkpoints" / "step_2" / "trainer_state.json").read_text())
    assert state["sampler"]["position"] == 8  # 2 steps x 2 x 2 prompts drawn, in order


def test_the_last_step_is_evaluated_on_the_held_out_ads_it_writes(tiny_run):
    # eval_every=0 still evaluates the last step: its eval/* metrics are the means over the greedy
    # held-out ads written to eval_samples.jsonl, so the metrics and the ads a reader inspects agree.
    rows = read_metrics(tiny_run)
    assert "eval/sim_ctcvr" not in rows[0] and "eval/sim_ctcvr" in rows[-1]
    ads = [json.loads(line) for line in (tiny_run / "eval_samples.jsonl").read_text().splitlines()]
    assert [a["step"] for a in ads] == [2, 2]  # trainer.eval_prompts=2, at the last step
    assert len({a["request_id"] for a in ads}) == 2
    last = rows[-1]
    assert last["eval/sim_ctcvr"] == pytest.approx(sum(a["sim_ctcvr"] for a in ads) / 2)
    assert last["eval/format_ok"] == sum(not a["format_problems"] for a in ads) / 2
    assert 0 < last["eval/response_length"] <= 16  # rollout.max_new_tokens


def test_weights_reach_the_rollout_engine_every_step(tiny_run):
    from safetensors.torch import load_file

    from relate_ray.sync.fingerprint import weights_fingerprint

    rows = read_metrics(tiny_run)
    # Bucketed, not per parameter: every tensor of the policy (2 layers x 9 + embedding + norm) in one call.
    assert rows[0]["sync/tensors"] == 20 and rows[0]["sync/buckets"] == 1
    assert all(r["grad_norm"] > 0 for r in rows)  # the learner moved every step
    # After each step the fingerprint of what the engine loaded (its tensors' bits) is that of the
    # learner's weights saved at that step, and of no other step's (fp32 engine here, so the published
    # tensors are the saved ones bit for bit): it got every step's weights, all of them.
    totals = {}
    for row in rows:
        saved = load_file(tiny_run / "checkpoints" / f"step_{row['step']}" / "model.safetensors")
        totals[row["step"]] = weights_fingerprint(saved.values())
    for row in rows:
        matches = [step for step, total in totals.items() if row["sync/rollout_checksum"] == total]
        assert matches == [row["step"]], (row["step"], row["sync/rollout_checksum"], totals)


def test_checkpoint_is_a_loadable_hugging_face_model(tiny_run, tiny_policy_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from relate_ray.trainer.checkpoint import checkpoint_nbytes, model_numel

    folder = tiny_run / "checkpoints" / "step_2"
    assert (folder / "trainer_state.json").exists() and (folder / "deepspeed").is_dir()
    # Only the newest checkpoint keeps its optimizer state (trainer.keep_resume_states=1).
    assert (tiny_run / "checkpoints" / "step_1" / "model.safetensors").exists()
    assert not (tiny_run / "checkpoints" / "step_1" / "deepspeed").exists()
    # The free-space check's size estimate matches what was written.
    written = sum(f.stat().st_size for f in [*folder.glob("*.safetensors"), *folder.rglob("*.pt")])
    assert abs(written / checkpoint_nbytes(model_numel(folder), 4) - 1) < 0.05
    tokenizer = AutoTokenizer.from_pretrained(folder)
    inputs = tokenizer("Title: Lisbon flights", return_tensors="pt")
    with torch.no_grad():
        logits = AutoModelForCausalLM.from_pretrained(folder)(**inputs).logits
        initial = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)(**inputs).logits
    assert torch.isfinite(logits).all()
    # The trained policy, not the initial weights saved again: two updates moved its predictions.
    assert (logits - initial).abs().max() > 1e-4


def test_bad_override_fails_fast_with_one_line_naming_the_key(tmp_path):
    result = launch("trainer.stepz=3", f"hydra.run.dir={tmp_path}", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "trainer.stepz" in result.stderr
    result = launch("+trainer.stesp=3", f"hydra.run.dir={tmp_path}", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no key trainer.stesp" in result.stderr
    result = launch("learner.clip_eps=1.5", f"hydra.run.dir={tmp_path}", timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == "error: learner.clip_eps: must be in (0, 1), got 1.5"
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_plan_the_cluster_cannot_place_stops_at_start_with_one_line(tmp_path, tiny):
    # 2 logical CPUs for 3 one-CPU actors (rollout, learner, rules): Ray would leave one pending forever.
    result = launch("reward=model1", "cluster.num_cpus=2", *tiny, f"hydra.run.dir={tmp_path}", timeout=300)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cluster: the plan needs 3 CPUs (rollout-0 1, learner-rank0 1, reward-rules-0 1) "
                           "and the cluster has 2"), last
    assert not (tmp_path / "metrics.jsonl").exists()


def test_sweep_of_two_presets_with_two_learner_ranks_and_broadcast_sync(tmp_path, tiny):
    result = launch("-m", "reward=model1,model2", "trainer.steps=1", "learner.num_ranks=2", "sync.backend=gloo", *tiny,
                    f"hydra.sweep.dir={tmp_path}", timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in tmp_path.iterdir() if (p / "metrics.jsonl").exists())
    assert len(runs) == 2
    first, second = (read_metrics(run)[0] for run in runs)
    assert "reward/ctcvr" not in first and "reward/ctcvr" in second
    assert first["sync/tensors"] == 20 and first["sync/buckets"] == 1 and first["sync/version"] == 1


def test_relate_preset_end_to_end_with_token_level_credit_and_the_judge_in_its_worker(tmp_path, tiny, tiny_policy_dir):
    # Every RELATE component in its worker, the judge a vLLM engine inside reward-judge-0. Near-greedy
    # sampling makes the tiny policy repeat itself across requests, so by step 2 the diversity window
    # knows its n-grams and flags them on the sampled tokens: token-level penalties on real tokens.
    # (repeat_n=0: the tiny policy's answers repeat themselves, which would be flagged from step 1.)
    result = launch("reward=relate", "trainer.steps=3", f"reward_workers.judge_model={tiny_policy_dir}",
                    "rollout.temperature=0.05", "+reward.components.diversity.options.repeat_n=0", *tiny,
                    "trainer.checkpoint_every=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_metrics(tmp_path)
    components = {"length", "format", "ctcvr", "diversity", "judge", "relevance", "correctness", "risk"}
    assert {f"reward/{name}" for name in components} <= set(rows[0])
    assert rows[0]["advantage/token_penalized_frac"] == 0.0  # nothing remembered yet at step 1
    assert max(r["advantage/token_penalized_frac"] for r in rows[1:]) > 0
    assert max(r["reward/diversity"] for r in rows[1:]) < 0
    # vLLM's finish_reason reaches the format reward: the tiny policy's answers run to the budget.
    assert rows[0]["reward_info/truncated"] > 0
    assert "reward-judge-0=" in (tmp_path / "launch.log").read_text()
