"""How a step's samples are cut into mini-batches over ranks, how rank statistics combine, and
which groups DAPO's dynamic sampling keeps (pure functions)."""

import pytest

from relate_ray.trainer.learner_batch import combine_rank_stats, informative_groups_first, plan_minibatches


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
