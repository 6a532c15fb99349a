"""Weight sync takes effect: after one learner step and a sync, the vLLM engine's log-probs of a
fixed response match the learner's updated policy, and differ from before (slow: Ray, vLLM, DeepSpeed)."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=4, include_dashboard=False, namespace="relate_ray_test", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_rollout_engine_samples_with_the_learners_new_weights(ray_local, policy_dir, tmp_path):
    from transformers import AutoTokenizer

    from relate_ray.sync.shm import SharedMemoryPublisher
    from relate_ray.workers.learner import LearnerWorker
    from relate_ray.workers.rollout_worker import RolloutWorker

    ray = ray_local
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    prompt = tokenizer("Write an ad for cheap flights to Lisbon.", add_special_tokens=False)["input_ids"]
    response = tokenizer("Title: Lisbon Flights From $59", add_special_tokens=False)["input_ids"]
    rollout = RolloutWorker.remote(str(policy_dir), "float32", 0, 512, 1, 0.5)
    cfg = {"seed": 0, "dtype": "float32", "lr": 1e-3, "weight_decay": 0.0, "micro_batch_size": 2,
           "samples_per_rank": 2, "grad_clip": 1.0, "clip_eps": 0.2, "clip_eps_high": None, "beta": 0.0,
           "kl_kind": "k3", "loss_agg": "token-mean", "recompute_old_logprobs": True,
           "gradient_checkpointing": False, "pad_id": tokenizer.eos_token_id}
    from relate_ray.trainer.cluster import free_port

    learner = LearnerWorker.remote(0, 1, "127.0.0.1", free_port(), str(policy_dir), cfg, 2)
    ray.get([rollout.ready.remote(), learner.ready.remote()])

    before = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_before = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    assert np.allclose(before, learner_before, atol=2e-2)  # same initial weights on both sides

    # A large positive advantage on this response: one step makes it clearly more likely.
    shard = {"prompt_ids": [prompt, prompt], "response_ids": [response, response],
             "advantages": [[1.0] * len(response)] * 2, "rollout_logprobs": [before.tolist()] * 2}
    ray.get(learner.train_step.remote(shard))
    publisher = SharedMemoryPublisher("test-sync", "float32", bucket_mb=64, root=tmp_path)
    manifest = ray.get(learner.publish_weights.remote(publisher, 1))
    assert 1 < len(manifest.buckets) < 20  # bucketed: a handful of files, never one per tensor
    assert ray.get(rollout.load_weights.remote(manifest)) == manifest.num_tensors

    after = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_after = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    assert after.sum() > before.sum() + 0.5
    assert np.allclose(after, learner_after, atol=2e-2)
