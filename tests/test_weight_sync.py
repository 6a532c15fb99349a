"""Weight sync takes effect, for each CPU backend, a compiled engine and a bf16 engine: after learner
steps and a sync, the vLLM engine's log-probs of a fixed response match the learner's updated policy and differ
from before; the rollout's sampling log-probs are of the tempered distribution; a worker found
behind the step's weights is caught up over a new gloo group and redoes its share (slow: real Ray
actors, real vLLM engines and real DeepSpeed learners)."""

import numpy as np
import pytest

from relate_ray.sync.fingerprint import weights_fingerprint

pytestmark = pytest.mark.slow


PROMPT = "Write an ad for cheap flights to Lisbon."


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, namespace="relate_ray_test", log_to_driver=False)
    yield
    ray.shutdown()


def start_pair(policy_dir, engine_dtype: str, compile_engine: bool = False, **learner_overrides):
    """A rollout engine in `engine_dtype` (torch.compiled if compile_engine) and an fp32 learner rank
    with the run's own settings (learner_overrides aside), both ready."""
    import ray
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer

    from relate_ray.config import RelateConfig
    from relate_ray.sync.broadcast import free_port
    from relate_ray.trainer.setup import learner_config
    from relate_ray.workers.learner import LearnerWorker
    from relate_ray.workers.rollout_worker import RolloutWorker

    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    rollout = RolloutWorker.remote(str(policy_dir), engine_dtype, 0, 512, 1, 0.5, compile=compile_engine)
    cfg = OmegaConf.structured(RelateConfig)
    cfg.trainer.prompts_per_step, cfg.rollout.group_size = 1, 2
    cfg.learner.update({"dtype": "float32", **learner_overrides})
    learner = LearnerWorker.remote(0, 1, "127.0.0.1", free_port(), str(policy_dir), learner_config(cfg, tokenizer), 2)
    ray.get([rollout.ready.remote(), learner.ready.remote()])
    return rollout, learner, tokenizer


def test_bf16_engine_follows_an_fp32_learner_at_the_runs_learning_rate(ray_session, policy_dir, tmp_path):
    # The bf16 failure: with round-to-nearest casting the engine kept its old weights after steps like
    # these (every update below half a bf16 ulp was dropped); see relate_ray/sync/rounding.py.
    import ray

    from relate_ray.algo.learner_batch import LearnerBatch, learner_shards
    from relate_ray.trainer.weight_sync import WeightSync

    rollout, learner, tokenizer = start_pair(policy_dir, "bfloat16", beta=0.0)  # lr 2e-5, as the run
    prompt = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    response = tokenizer("Title: Lisbon Flights From $59\nDescription: Fly one way with a free bag.",
                         add_special_tokens=False)["input_ids"]
    weights = WeightSync("shm", learner, [rollout], "test-bf16", "bfloat16", bucket_mb=64, shm_root=str(tmp_path))
    before = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_before = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    assert np.abs(before - learner_before).max() < 0.5  # bf16 tolerance: bf16 kernels against fp32 ones
    shard, = learner_shards(LearnerBatch.from_ragged([prompt] * 2, [response] * 2, [[1.0] * len(response)] * 2,
                                                     [before.tolist()] * 2, 0, 1.0), 1, 1)
    for version in (1, 2):  # each step moves a weight by about lr = 2e-5, below half a bf16 ulp
        ray.get(learner.train_step.remote(shard))
        weights.sync(version)
    after = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_after = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    learner_moved, engine_moved = learner_after.sum() - learner_before.sum(), after.sum() - before.sum()
    assert learner_moved > 1.0
    assert engine_moved == pytest.approx(learner_moved, rel=0.35)  # round-to-nearest: a small fraction
    assert abs(after.sum() - learner_after.sum()) < 0.35 * learner_moved
    weights.close()
    for actor in (rollout, learner):  # free the memory before the float32 pair starts
        ray.kill(actor)


@pytest.fixture(scope="module")
def actors(ray_session, tiny_policy_dir):
    # The run's own learner settings, with a large step (lr 1e-3, no KL) so the weights visibly move.
    # The engine is compiled, as rollout.compile's default: the in-place weight loads must reach the
    # compiled graphs (an inductor build that froze weights as constants would sample stale ones).
    # The tiny random Llama (SmolLM2's architecture and tokenizer, 2 layers): compiling the 135M
    # policy's 30 layers from a cold cache took this fixture 190 s; the bf16 pair above syncs the
    # real policy.
    rollout, learner, tokenizer = start_pair(tiny_policy_dir, "float32", compile_engine=True, lr=1e-3, beta=0.0,
                                             micro_batch_size=2)
    prompt = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    responses = {backend: tokenizer(text, add_special_tokens=False)["input_ids"] for backend, text in
                 [("shm", "Title: Lisbon Flights From $59"), ("gloo", "Cheap fares to Portugal, book now")]}
    return rollout, learner, prompt, responses


def test_sampling_logprobs_are_of_the_tempered_distribution(actors):
    # The rollout returns log-probs after temperature (vLLM's processed_logprobs), the distribution it
    # sampled from and the one the learner scores; vLLM's default would be the temperature-1 values.
    import ray

    rollout, learner, prompt, _ = actors
    completion = ray.get(rollout.generate.remote([prompt], 1, 0.5, 1.0, 12, 7))["groups"][0][0]
    tempered = np.array(ray.get(learner.logprobs_of.remote(prompt, completion["token_ids"], temperature=0.5)))
    raw = np.array(ray.get(learner.logprobs_of.remote(prompt, completion["token_ids"])))
    sampled = np.array(completion["logprobs"])
    assert np.allclose(sampled, tempered, atol=2e-2)
    assert np.abs(sampled - raw).max() > 0.1


@pytest.mark.parametrize("backend", ["shm", "gloo"])
def test_rollout_engine_samples_with_the_learners_new_weights(actors, backend, tmp_path, tmp_path_factory,
                                                             tiny_policy_dir):
    import ray

    from relate_ray.algo.learner_batch import LearnerBatch, learner_shards
    from relate_ray.trainer.weight_sync import WeightSync

    rollout, learner, prompt, responses = actors
    response = responses[backend]  # each backend's step pushes its own response up
    # 1 MB buckets: the tiny policy's 25 MB embedding fills one, its two layers (0.6 MB each) two more.
    weights = WeightSync(backend, learner, [rollout], f"test-{backend}", "float32", bucket_mb=1, timeout_s=120,
                         shm_root=str(tmp_path))
    before = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_before = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    assert np.allclose(before, learner_before, atol=2e-2)  # both sides start from the same weights

    # A large positive advantage on this response: one step makes it clearly more likely.
    shard, = learner_shards(LearnerBatch.from_ragged([prompt] * 2, [response] * 2, [[1.0] * len(response)] * 2,
                                                     [before.tolist()] * 2, 0, 1.0), 1, 1)
    ray.get(learner.train_step.remote(shard))
    stats = weights.sync(version=1)
    from safetensors.torch import load_file

    assert stats["sync/tensors"] == len(load_file(tiny_policy_dir / "model.safetensors"))  # every tensor
    assert stats["sync/buckets"] == 3  # bucketed: a few transfers, never one per tensor

    after = np.array(ray.get(rollout.prompt_logprobs.remote(prompt, response)))
    learner_after = np.array(ray.get(learner.logprobs_of.remote(prompt, response)))
    learner_moved = learner_after.sum() - learner_before.sum()
    assert learner_moved > 0.5
    assert abs((after.sum() - before.sum()) - learner_moved) < 0.1 * learner_moved  # the engine moved with it
    assert np.allclose(after, learner_after, atol=2e-2)
    # Every tensor arrived, bit for bit: the fingerprint of what the engine loaded is the learner's
    # saved weights' (a bucket or a tensor left out, or one value changed, would move it).
    saved_dir = tmp_path_factory.mktemp(f"learner-{backend}")
    ray.get(learner.save_model.remote(str(saved_dir), str(tiny_policy_dir)))
    assert stats["sync/rollout_checksum"] == weights_fingerprint(load_file(saved_dir / "model.safetensors").values())
    weights.close()
    assert not list(tmp_path.iterdir())  # the shm buckets (reused by each sync) are freed at close


def test_a_worker_behind_the_steps_weights_is_resynced_over_a_new_gloo_group_and_redoes_its_share(actors,
                                                                                                   tiny_policy_dir,
                                                                                                   tmp_path):
    # The fleet's stale-version path (a worker Ray restarted between calls answers with its initial
    # weights): the answer is thrown away, the gloo group is formed anew and the weights broadcast
    # (WeightSync.resync), and the share is sampled again with its seed by the current weights.
    import ray
    from safetensors.torch import load_file

    from relate_ray.algo.learner_batch import LearnerBatch, learner_shards
    from relate_ray.trainer.recovery import Restarts
    from relate_ray.trainer.rollout_fleet import RolloutFleet
    from relate_ray.trainer.weight_sync import WeightSync

    rollout, learner, prompt, responses = actors
    weights = WeightSync("gloo", learner, [rollout], "test-stale", "float32", bucket_mb=64, timeout_s=120)
    behind = ray.get(rollout.ready.remote())["version"]
    response = responses["gloo"]
    shard, = learner_shards(LearnerBatch.from_ragged([prompt] * 2, [response] * 2, [[1.0] * len(response)] * 2,
                                                     [[-1.0] * len(response)] * 2, 0, 1.0), 1, 1)
    ray.get(learner.train_step.remote(shard))  # the learner is one step ahead of the engine
    restarts = Restarts(max_restarts=1, timeout_s=60)
    fleet = RolloutFleet([rollout], ["rollout-0"], weights, restarts)
    (groups,) = fleet.generate([[prompt]], 2, 1.0, 1.0, 8, [11], version=behind + 1)
    assert restarts.total["rollout-0"] == 1 and ray.get(rollout.ready.remote())["version"] == behind + 1
    # The redone share is what the caught-up engine samples with that seed, and it holds every tensor.
    again = ray.get(rollout.generate.remote([prompt], 2, 1.0, 1.0, 8, 11))["groups"]
    assert [c["token_ids"] for c in groups[0]] == [c["token_ids"] for c in again[0]]
    saved_dir = tmp_path / "learner"
    ray.get(learner.save_model.remote(str(saved_dir), str(tiny_policy_dir)))
    assert ray.get(rollout.checksum.remote()) == weights_fingerprint(load_file(saved_dir / "model.safetensors").values())
    weights.close()


def test_direct_reload_gives_the_engine_what_vllms_own_reload_gives(ray_session, tiny_policy_dir, tmp_path):
    # rollout.direct_reload (relate_ray/sync/direct_reload.py) skips vLLM's layer-wise reload; the engine
    # must end up with the same kernels all the same. Two engines of the tiny policy, one loading each
    # way, get the same two published versions (every tensor moved, the embedding that the output head
    # is tied to included): their log-probs agree after each (to 1e-5), and differ from before it.
    # A shard put in the wrong place, a layer not repacked or a head left stale would break the agreement.
    # Version 1 comes in the file's (alphabetical) order, where k_proj precedes q_proj: those layers go
    # through the model's loader. Version 2 comes in the learner's module order, where a layer's q/k/v
    # and gate/up are adjacent and DirectReload repacks them from a view of the bucket (1 MB buckets:
    # a layer split between two goes through the loader too).
    import ray
    import torch
    from safetensors.torch import load_file

    from relate_ray.sync.shm import SharedMemoryPublisher
    from relate_ray.workers.rollout_worker import RolloutWorker
    from transformers import AutoModelForCausalLM, AutoTokenizer

    engines = {direct: RolloutWorker.remote(str(tiny_policy_dir), "float32", 0, 512, 1, 0.5, direct_reload=direct)
               for direct in (True, False)}
    ids = AutoTokenizer.from_pretrained(tiny_policy_dir)(PROMPT + " Title: Lisbon Flights From $59",
                                                         add_special_tokens=False)["input_ids"]
    prompt, response = ids[:8], ids[8:]

    def logprobs():
        return {direct: ray.get(engine.prompt_logprobs.remote(prompt, response)) for direct, engine in engines.items()}

    weights = load_file(tiny_policy_dir / "model.safetensors")
    module_order = [name for name, _ in AutoModelForCausalLM.from_pretrained(tiny_policy_dir).named_parameters()]
    assert sorted(module_order) == sorted(weights) and list(weights) != module_order
    publisher = SharedMemoryPublisher("test-direct", "float32", bucket_mb=1, root=tmp_path, rounding="nearest")
    before = logprobs()
    generator = torch.Generator().manual_seed(0)
    for version, order in ((1, list(weights)), (2, module_order)):
        moved = {name: weights[name] + 0.05 * weights[name].std() * torch.randn(weights[name].shape, generator=generator)
                 for name in order}
        manifest = publisher.publish(moved.items(), version)
        assert ray.get([engine.load_weights.remote(manifest) for engine in engines.values()]) == [len(weights)] * 2
        after = logprobs()
        # To 1e-5, not to the bit: one suite run (session 41's walk) had one log-prob an ulp apart
        # (-10.700977 against -10.700976) where three reruns and every earlier run agreed to the bit,
        # and one engine repeats its own log-probs to the bit (30 calls, also beside two busy loops):
        # the two engines' kernels differed once on the same weights (cause not found). A misplaced
        # shard or a stale layer moves these by more than 0.01, as a load does (the next assert).
        np.testing.assert_allclose(after[True], after[False], rtol=0, atol=1e-5)
        assert np.abs(np.array(after[True]) - np.array(before[True])).max() > 0.01
        before = after
    publisher.close()
    for engine in engines.values():
        ray.kill(engine)
