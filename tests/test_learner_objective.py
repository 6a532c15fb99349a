"""The real DeepSpeed learner (Ray actors, ZeRO-2 over gloo, a tiny random Llama): one step's
gradient does not depend on micro_batch_size or num_ranks, and with ppo_epochs > 1 the clip of
eq. 6 acts (slow: each case builds its own learner ranks)."""

import pytest

pytestmark = pytest.mark.slow

# Responses of very different lengths, so any per-micro-batch normalisation would show.
PROMPTS = [[1, 2, 3, 4, 5], [6, 7, 8]] * 3
RESPONSES = [[11, 12], [13, 14, 15, 16, 17, 18, 19, 20, 21], [22], [23, 24, 25, 26], [27, 28, 29, 30, 31, 32], [33]]
ADVANTAGES = [1.0, -0.5, 2.0, -1.5, 0.7, -1.2]


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, namespace="relate_ray_test", log_to_driver=False)
    yield
    ray.shutdown()


def run_step(tiny_policy_dir, num_ranks, micro_batch_size, ppo_epochs=1, mini_batches=1, lr=1e-6, agg="token-mean",
             freeze_embeddings=False, save_to=None, lean=False):
    """Build `num_ranks` learner ranks with these settings, train one step on the fixed batch and
    return the combined stats (as the controller does)."""
    import ray
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer

    from relate_ray.config import RelateConfig
    from relate_ray.sync.broadcast import free_port
    from relate_ray.algo.learner_batch import LearnerBatch, combine_rank_stats, learner_shards
    from relate_ray.trainer.setup import learner_config
    from relate_ray.workers.learner import LearnerWorker

    cfg = OmegaConf.structured(RelateConfig)
    cfg.trainer.prompts_per_step, cfg.rollout.group_size = 2, 3
    cfg.learner.update(num_ranks=num_ranks, micro_batch_size=micro_batch_size, ppo_epochs=ppo_epochs,
                       mini_batches=mini_batches, lr=lr, beta=0.04, loss_agg=agg, fused_adam=False,
                       freeze_embeddings=freeze_embeddings, dtype="float32", return_freed_memory=lean)
    lcfg = learner_config(cfg, AutoTokenizer.from_pretrained(tiny_policy_dir))
    port = free_port()
    ranks = [LearnerWorker.remote(r, num_ranks, "127.0.0.1", port, str(tiny_policy_dir), lcfg, 1)
             for r in range(num_ranks)]
    batch = LearnerBatch.from_ragged(PROMPTS, RESPONSES, [[a] * len(r) for a, r in zip(ADVANTAGES, RESPONSES)],
                                     [[-1.0] * len(r) for r in RESPONSES], lcfg["pad_id"], cfg.rollout.temperature)
    shards = learner_shards(batch, num_ranks, mini_batches)
    refs = [rank.train_step.remote(shard) for rank, shard in zip(ranks, shards)]
    stats = combine_rank_stats(ray.get(refs))
    stats["ready"] = ray.get(ranks[0].ready.remote())
    if save_to:
        ray.get(ranks[0].save_model.remote(str(save_to), str(tiny_policy_dir)))
    for rank in ranks:
        ray.kill(rank)
    return stats


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean"])
def test_gradient_is_the_same_for_any_micro_batch_size_and_rank_count(ray_session, tiny_policy_dir, agg):
    # One micro-batch of 6 on one rank against micro-batches of 1 on each of two ranks (3 accumulated
    # per rank): a loss normalised per micro-batch or per rank, not over the step's batch, differs.
    whole = run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=6, agg=agg)
    split = run_step(tiny_policy_dir, num_ranks=2, micro_batch_size=1, agg=agg)
    assert whole["grad_norm"] > 0
    assert whole["ready"]["flat_gradient_kept"] and split["ready"]["flat_gradient_kept"]
    assert split["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-4)
    assert split["loss"] == pytest.approx(whole["loss"], rel=1e-4, abs=1e-6)
    assert split["kl"] == pytest.approx(whole["kl"], abs=1e-7)


def test_clip_acts_from_the_second_update(ray_session, tiny_policy_dir):
    single = run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=3, lr=1e-2)
    assert single["clip_frac"] == 0.0 and single["optimizer_steps"] == 1  # one update: ratio 1 by construction
    several = run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=3, ppo_epochs=2, mini_batches=2, lr=1e-2)
    assert several["optimizer_steps"] == 4
    assert several["clip_frac"] > 0.0
    assert several["ratio"] != pytest.approx(1.0, abs=1e-3)


def test_old_logprobs_are_fixed_for_the_mini_batches_after_the_first_update(ray_session, tiny_policy_dir):
    """One epoch of two mini-batches: the first is trained by the policy before the step (its own
    forward serves as pi_old, no recomputation), the second by the updated one against pi_old
    fixed before the first update, so its ratio moves and the clip acts."""
    stats = run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=3, mini_batches=2, lr=1e-2)
    assert stats["optimizer_steps"] == 2
    assert stats["clip_frac"] > 0.0
    assert stats["time/learner_old"] > 0.0  # the second mini-batch's old log-probs were computed


def test_frozen_embeddings_stay_and_the_rest_trains(ray_session, tiny_policy_dir, tmp_path):
    # learner.freeze_embeddings (the zh experiment's memory saving): the embedding gets no update,
    # every other weight still does.
    from safetensors.torch import load_file

    run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=6, lr=1e-2, freeze_embeddings=True, save_to=tmp_path)
    before, after = load_file(tiny_policy_dir / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    embedding = "model.embed_tokens.weight"
    assert after[embedding].float().equal(before[embedding].float())
    moved = [name for name in before if name != embedding and not after[name].float().equal(before[name].float())]
    assert any("layers.0.mlp" in name for name in moved) and any("layers.0.self_attn" in name for name in moved)


def test_a_lean_learner_keeps_no_flat_gradient_between_steps(ray_session, tiny_policy_dir):
    """learner.return_freed_memory (lean, the zh experiment's): ZeRO's flat gradient is not kept
    (it would stay resident through the next backward, the peak lean mode is for), and the step
    gives the fast learner's gradient."""
    lean = run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=6, lean=True)
    fast = run_step(tiny_policy_dir, num_ranks=1, micro_batch_size=6)
    assert not lean["ready"]["flat_gradient_kept"] and fast["ready"]["flat_gradient_kept"]
    assert lean["grad_norm"] == pytest.approx(fast["grad_norm"], rel=1e-6)
