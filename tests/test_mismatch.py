"""Rollout/learner mismatch metrics on hand-made log-probs (padding ignored)."""

import math

import pytest
import torch

from relate_ray.algo.mismatch import MismatchStats, mismatch_kl


def test_mismatch_kl_is_k3_of_learner_over_rollout_and_zero_when_equal():
    learner, rollout = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.2, -1.5]])
    expected = [math.exp(0.2) - 0.2 - 1, math.exp(-0.5) + 0.5 - 1]
    assert mismatch_kl(learner, rollout)[0].tolist() == pytest.approx(expected, rel=1e-5)
    assert mismatch_kl(rollout, rollout).abs().max() == 0


def test_stats_skip_padding_and_keep_the_largest_ratio_over_micro_batches():
    stats = MismatchStats()
    stats.add(torch.tensor([[-1.0, 5.0]]), torch.tensor([[-1.5, 0.0]]), torch.tensor([[1.0, 0.0]]))
    stats.add(torch.tensor([[-2.0]]), torch.tensor([[-2.0]]), torch.tensor([[1.0]]))
    out = stats.result()
    assert out["mismatch/max_ratio"] == pytest.approx(math.exp(0.5), rel=1e-5)  # the padded 5.0 is ignored
    assert out["mismatch/kl"] == pytest.approx((math.exp(0.5) - 0.5 - 1) / 2, rel=1e-5)
    assert out["mismatch/abs_log_ratio"] == pytest.approx(0.25)
    assert MismatchStats().result() == {}
