"""Weight sync takes effect, for each CPU backend: after one learner step and a sync, the vLLM engine's
log-probs of a fixed response match the learner's updated policy and differ from before
(slow: real Ray actors, a real vLLM engine and a real DeepSpeed learner, shared by both backends)."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def actors(policy_dir):
    import ray
    from transformers import AutoTokenizer

    from omegaconf import OmegaConf

    from relate_ray.config import RelateConfig
    from relate_ray.sync.broadcast import free_port
    from relate_ray.trainer.setup import learner_config
    from relate_ray.workers.learner import LearnerWorker
    from relate_ray.workers.rollout_worker import RolloutWorker

    ray.init(num_cpus=4, include_dashboard=False, namespace="relate_ray_test", log_to_driver=False)
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    prompt = tokenizer("Write an ad for cheap flights to Lisbon.", add_special_tokens=False)["input_ids"]
    responses = {backend: tokenizer(text, add_special_tokens=False)["input_ids"] for backend, text in
                 [("shm", "Title: Lisbon Flights From $59"), ("gloo", "Cheap fares to Portugal, book now")]}
    rollout = RolloutWorker.remote(str(policy_dir), "float32", 0, 512, 1, 0.5)
    # The run's own learner settings, with a large step (lr 1e-3, no KL) so the weights visibly move.
    cfg = OmegaConf.structured(RelateConfig)
    cfg.learner.lr, cfg.learner.beta, cfg.learner.micro_batch_size = 1e-3, 0.0, 2
    cfg.trainer.prompts_per_step, cfg.rollout.group_size = 1, 2
    learner = LearnerWorker.remote(0, 1, "127.0.0.1", free_port(), str(policy_dir), learner_config(cfg, tokenizer), 2)
    ray.get([rollout.ready.remote(), learner.ready.remote()])
    yield rollout, learner, prompt, responses
    ray.shutdown()


@pytest.mark.parametrize("backend", ["shm", "gloo"])
def test_rollout_engine_samples_with_the_learners_new_weights(actors, backend, tmp_path):
    import ray

    from relate_ray.trainer.weight_sync import WeightSync

    rollout, learner, prompt, responses = actors
    response = responses[backend]  # each backend's step pushes its own response up
    weights = WeightSync(backend, learner, [rollout], f"test-{backend}", "float32", bucket_mb=64, timeout_s=120,
                         shm_root=str(tmp_path))
    before = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_before = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    assert np.allclose(before, learner_before, atol=2e-2)  # both sides start from the same weights

    # A large positive advantage on this response: one step makes it clearly more likely.
    shard = {"prompt_ids": [prompt, prompt], "response_ids": [response, response],
             "advantages": [[1.0] * len(response)] * 2, "rollout_logprobs": [before.tolist()] * 2}
    ray.get(learner.train_step.remote(shard))
    stats = weights.sync(version=1)
    assert 1 < stats["sync/buckets"] < 20  # bucketed: a handful of transfers, never one per tensor
    assert stats["sync/tensors"] > 100

    after = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_after = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    learner_moved = learner_after.sum() - learner_before.sum()
    assert learner_moved > 0.5
    assert abs((after.sum() - before.sum()) - learner_moved) < 0.1 * learner_moved  # the engine moved with it
    assert np.allclose(after, learner_after, atol=2e-2)
    weights.close()
    assert not list(tmp_path.iterdir())  # shm buckets are released after every sync
