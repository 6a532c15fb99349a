"""Each aggregation means the same over the whole step whatever the micro-batches and ranks
(relate_ray.algo.loss.StepNormalizer), and truncated importance weights (pure tensors, milliseconds)."""

import math

import pytest
import torch

from relate_ray.algo.loss import AGGREGATIONS, StepNormalizer, grpo_loss, truncated_is_weights

# Six responses of very different lengths, so a per-micro-batch mean would weight tokens unevenly.
LENGTHS = [1, 7, 2, 9, 3, 6]
T = max(LENGTHS)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(LENGTHS), T)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1
    theta = torch.randn(len(LENGTHS), T, generator=g)
    old = theta.detach() + 0.05 * torch.randn(len(LENGTHS), T, generator=g)
    ref = theta.detach() + 0.1 * torch.randn(len(LENGTHS), T, generator=g)
    adv = torch.randn(len(LENGTHS), T, generator=g) * mask
    return theta, old, ref, adv, mask


def _grad(theta, old, ref, adv, mask, rows_per_part, agg, normalizer, scale=1.0):
    """Accumulated gradient of the per-part losses, as gradient accumulation does it."""
    theta = theta.detach().clone().requires_grad_(True)
    for rows in rows_per_part:
        loss, _ = grpo_loss(theta[rows], old[rows], ref[rows], adv[rows], mask[rows], beta=0.1, agg=agg,
                            normalizer=normalizer)
        (loss * scale).backward()
    return theta.grad


@pytest.mark.parametrize("agg", list(AGGREGATIONS))
def test_micro_batches_give_the_whole_batch_gradient(agg):
    theta, old, ref, adv, mask = _batch()
    whole = _grad(theta, old, ref, adv, mask, [list(range(6))], agg, None)
    step = StepNormalizer.of(mask)
    one_by_one = _grad(theta, old, ref, adv, mask, [[i] for i in range(6)], agg, step)
    uneven = _grad(theta, old, ref, adv, mask, [[0, 1, 2, 3], [4, 5]], agg, step)
    assert torch.allclose(one_by_one, whole, atol=1e-6)
    assert torch.allclose(uneven, whole, atol=1e-6)


def test_per_micro_batch_token_mean_would_not():
    # The bug this guards against: each micro-batch divided by its own token count.
    theta, old, ref, adv, mask = _batch()
    whole = _grad(theta, old, ref, adv, mask, [list(range(6))], "token-mean", None)
    local = torch.zeros_like(theta)
    for i in range(6):
        local += _grad(theta, old, ref, adv, mask, [[i]], "token-mean", None) / 6
    assert not torch.allclose(local, whole, atol=1e-4)


@pytest.mark.parametrize("agg", list(AGGREGATIONS))
def test_ranks_averaged_by_zero_give_the_whole_batch_gradient(agg):
    # Two ranks, each accumulating its micro-batches; ZeRO averages the ranks' gradients, which the
    # learner undoes by scaling each loss by the world size.
    theta, old, ref, adv, mask = _batch(seed=3)
    whole = _grad(theta, old, ref, adv, mask, [list(range(6))], agg, None)
    step = StepNormalizer.of(mask)
    rank0 = _grad(theta, old, ref, adv, mask, [[0], [1, 2]], agg, step, scale=2.0)
    rank1 = _grad(theta, old, ref, adv, mask, [[3, 4], [5]], agg, step, scale=2.0)
    assert torch.allclose((rank0 + rank1) / 2, whole, atol=1e-6)


def test_normalizer_counts_tokens_and_sequences():
    _, _, _, _, mask = _batch()
    assert StepNormalizer.of(mask) == StepNormalizer(float(sum(LENGTHS)), 6.0)


def test_truncated_is_weights_are_ratios_capped():
    old = torch.log(torch.tensor([[0.5, 0.2, 0.9]]))
    rollout = torch.log(torch.tensor([[0.25, 0.4, 0.1]]))
    weights = truncated_is_weights(old, rollout, cap=2.0)
    assert weights[0].tolist() == pytest.approx([2.0, 0.5, 2.0], rel=1e-5)
    with pytest.raises(ValueError, match="cap must be positive"):
        truncated_is_weights(old, rollout, cap=0.0)


def test_is_weights_scale_the_policy_term_not_the_kl():
    logp = torch.zeros(1, 2, requires_grad=True)
    old, ref = torch.zeros(1, 2), torch.tensor([[0.5, 0.5]])
    adv, mask = torch.ones(1, 2), torch.ones(1, 2)
    plain, _ = grpo_loss(logp, old, ref, adv, mask, beta=0.1)
    weighted, _ = grpo_loss(logp, old, ref, adv, mask, beta=0.1, is_weights=torch.tensor([[0.5, 0.5]]))
    kl = math.exp(0.5) - 0.5 - 1
    assert plain.item() == pytest.approx(-1.0 + 0.1 * kl, rel=1e-5)
    assert weighted.item() == pytest.approx(-0.5 + 0.1 * kl, rel=1e-5)
