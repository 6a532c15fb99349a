"""How a step's samples are cut into mini-batches over ranks, how rank statistics combine, and
which groups DAPO's dynamic sampling keeps (pure functions)."""

import pytest

from relate_ray.algo.learner_batch import combine_rank_stats, informative_groups_first, plan_minibatches


def test_every_sample_lands_once_and_normalizers_count_each_mini_batch():
    lengths = [3, 1, 4, 1, 5, 9, 2, 6]
    plan, normalizers = plan_minibatches(lengths, num_ranks=2, mini_batches=2)
    assert plan == [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]
    assert normalizers == [(9.0, 4.0), (22.0, 4.0)]
    with pytest.raises(ValueError, match="do not split"):
        plan_minibatches(lengths, num_ranks=3, mini_batches=1)


def test_rank_stats_weight_token_means_and_add_loss_shares():
    a = {"tokens": 30.0, "kl": 0.1, "loss": 0.25, "mismatch/max_ratio": 1.5, "grad_norm": 2.0}
    b = {"tokens": 10.0, "kl": 0.5, "loss": -0.05, "mismatch/max_ratio": 3.0, "grad_norm": 2.0}
    out = combine_rank_stats([a, b])
    assert out["kl"] == pytest.approx(0.2)  # (30 * 0.1 + 10 * 0.5) / 40, not the plain mean 0.3
    assert out["loss"] == pytest.approx(0.2)
    assert out["mismatch/max_ratio"] == 3.0 and out["grad_norm"] == 2.0 and out["tokens"] == 40.0


def test_dynamic_sampling_keeps_groups_with_signal_first_in_order():
    # Groups 0 and 2 have all-equal rewards; keep 3 of 5 groups of G=2.
    keep = informative_groups_first([True, False, True, False, False], keep=3, group_size=2)
    assert keep == [2, 3, 6, 7, 8, 9]
    # Too few informative groups: zero-std ones fill the batch, still in sampling order.
    assert informative_groups_first([True, False, True], keep=2, group_size=1) == [0, 1]


def test_a_learner_batch_is_padded_once_and_each_rank_gets_its_rows_trimmed_to_its_longest():
    import torch

    from relate_ray.algo.learner_batch import LearnerBatch, learner_shards

    responses = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [14, 15]]
    batch = LearnerBatch.from_ragged([[1, 2]] * 4, responses, [[float(i)] * len(r) for i, r in enumerate(responses)],
                                     [[-0.5] * len(r) for r in responses], pad_id=0, temperature=0.7)
    assert batch.response_ids.shape == (4, 5) and batch.lengths() == [3, 1, 5, 2]
    assert batch.advantages[1].tolist() == [1.0, 0, 0, 0, 0] and batch.rollout_logprobs[3, 2:].abs().sum() == 0
    first, second = learner_shards(batch, num_ranks=2, mini_batches=1)
    # Rank 0 holds samples 0 and 1 (longest 3 tokens), rank 1 samples 2 and 3 (longest 5).
    assert first.response_ids.tolist() == [[5, 6, 7], [8, 0, 0]] and second.response_ids.shape == (2, 5)
    assert first.advantages[:, 0].tolist() == [0.0, 1.0] and second.advantages[:, 0].tolist() == [2.0, 3.0]
    assert first.normalizers == second.normalizers == [(11.0, 4.0)]  # the whole step's totals on every rank
    assert first.temperature == 0.7 and first.minibatches == [[0, 1]]
    with pytest.raises(ValueError, match="advantages"):
        LearnerBatch([[1]] * 2, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3), torch.zeros(2, 2),
                     torch.zeros(2, 3), 1.0)
