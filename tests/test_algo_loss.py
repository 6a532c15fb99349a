"""Eq. 6 (clipped GRPO with a KL penalty) against hand-computed values, per aggregation mode."""

import math

import pytest
import torch

from relate_ray.algo import grpo_loss, kl_penalty


def test_kl_estimators_hand_computed():
    logp, ref = torch.tensor([-1.0]), torch.tensor([-1.5])
    assert kl_penalty(logp, ref, "k1").item() == pytest.approx(0.5)
    assert kl_penalty(logp, ref, "k2").item() == pytest.approx(0.125)
    assert kl_penalty(logp, ref, "k3").item() == pytest.approx(math.exp(-0.5) + 0.5 - 1)
    with pytest.raises(ValueError, match="unknown KL estimator 'k9'"):
        kl_penalty(logp, ref, "k9")


# Two sequences; the second has one padding token. ratios: e^0.5, e^-0.5, 1 | 1, 1, (pad).
LOGP = torch.tensor([[0.5, -0.5, 0.0], [0.0, 0.0, 9.0]])
OLD = torch.zeros(2, 3)
REF = torch.zeros(2, 3)
ADV = torch.tensor([[1.0, 1.0, -1.0], [2.0, -2.0, 5.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def per_token_expected(beta):
    r1, r2 = math.exp(0.5), math.exp(-0.5)
    # token (0,0): A=1, rho=1.6487 -> min(1.6487, 1.2) = 1.2; (0,1): A=1, rho=.6065 -> min(.6065, .8) = .6065
    pg = [[-1.2, -r2, 1.0], [-2.0, 2.0]]
    kl = [[math.exp(-0.5) + 0.5 - 1, math.exp(0.5) - 0.5 - 1, 0.0], [0.0, 0.0]]
    return [[p + beta * k for p, k in zip(pr, kr)] for pr, kr in zip(pg, kl)], r1, r2


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_loss_matches_hand_computation(agg):
    beta = 0.1
    rows, _, _ = per_token_expected(beta)
    expected = {
        "token-mean": sum(map(sum, rows)) / 5,
        "seq-mean-token-mean": (sum(rows[0]) / 3 + sum(rows[1]) / 2) / 2,
        "seq-mean-token-sum": (sum(rows[0]) + sum(rows[1])) / 2,
    }[agg]
    loss, stats = grpo_loss(LOGP, OLD, REF, ADV, MASK, clip_eps=0.2, beta=beta, agg=agg)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert stats["clip_frac"] == pytest.approx(1 / 5)  # only token (0,0) is clipped


def test_clip_eps_high_widens_the_upper_bound():
    loss, stats = grpo_loss(LOGP, OLD, REF, ADV, MASK, clip_eps=0.2, clip_eps_high=1.0, beta=0.0)
    r1, r2 = math.exp(0.5), math.exp(-0.5)
    assert loss.item() == pytest.approx((-r1 - r2 + 1.0 - 2.0 + 2.0) / 5, rel=1e-5)
    assert stats["clip_frac"] == 0.0


def test_gradient_flows_to_logp_only():
    logp = LOGP.clone().requires_grad_(True)
    old = OLD.clone().requires_grad_(True)
    ref = REF.clone().requires_grad_(True)
    loss, _ = grpo_loss(logp, old, ref, ADV, MASK)
    loss.backward()
    assert logp.grad is not None and logp.grad[1, 2] == 0  # padding gets no gradient
    assert old.grad is None and ref.grad is None


def test_stats_report_kl_and_ratio_over_real_tokens():
    _, stats = grpo_loss(LOGP, OLD, REF, ADV, MASK, beta=0.04)
    r1, r2 = math.exp(0.5), math.exp(-0.5)
    assert stats["ratio"] == pytest.approx((r1 + r2 + 3) / 5, rel=1e-5)
    assert stats["kl"] == pytest.approx((math.exp(-0.5) + 0.5 - 1 + math.exp(0.5) - 0.5 - 1) / 5, rel=1e-5)
