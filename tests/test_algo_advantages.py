"""Eq. 7-9 against hand-computed values."""

import math

import pytest
import torch

from relate_ray.algo import combine_advantages, group_advantages


def test_group_advantages_hand_computed():
    rewards = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 6.0])
    adv = group_advantages(rewards, group_size=3, eps=0.0)
    # Group 1: mean 2, Bessel std 1.  Group 2: mean 2, std sqrt(((4+4+16)/2)) = sqrt(12).
    s = math.sqrt(12.0)
    expected = torch.tensor([-1.0, 0.0, 1.0, -2 / s, -2 / s, 4 / s])
    assert torch.allclose(adv, expected, atol=1e-6)


def test_eps_is_added_to_the_std():
    adv = group_advantages(torch.tensor([0.0, 2.0]), group_size=2, eps=0.5)
    # mean 1, Bessel std sqrt(2): (0 - 1) / (sqrt 2 + 0.5)
    assert adv[0].item() == pytest.approx(-1 / (math.sqrt(2) + 0.5), rel=1e-6)


def test_group_without_spread_gets_zero():
    adv = group_advantages(torch.tensor([0.3, 0.3, 0.3, 1.0, 0.0, 0.5]), group_size=3)
    assert torch.equal(adv[:3], torch.zeros(3))
    assert adv[3:].abs().sum() > 0


def test_rewards_that_do_not_split_into_groups_are_rejected():
    with pytest.raises(ValueError, match="do not split into groups of 3"):
        group_advantages(torch.zeros(5), group_size=3)


def test_combine_adds_alpha_times_token_rewards_on_real_tokens_only():
    sentence = torch.tensor([0.5, -1.0])
    token_rewards = torch.tensor([[0.0, -1.0, 0.0], [-2.0, 0.0, -1.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    adv = combine_advantages(sentence, token_rewards, mask, alpha=0.1)
    expected = torch.tensor([[0.5, 0.4, 0.0], [-1.2, -1.0, -1.1]])
    assert torch.allclose(adv, expected)


# ---- per-group spread, groups without signal, GDPO's normalize-then-sum -------------------------

from relate_ray.algo.advantages import (  # noqa: E402
    group_std,
    normalize_then_sum,
    scale_by_batch_std,
    weighted_group_normalized_sum,
    zero_std_groups,
)


def test_group_std_is_bessel_corrected_per_group():
    std = group_std(torch.tensor([0.0, 2.0, 1.0, 1.0, 3.0, 3.0, 6.0, 0.0]), group_size=2)
    # Bessel: |diff| / sqrt 2 (the population std would be |diff| / 2).
    assert torch.allclose(std, torch.tensor([math.sqrt(2.0), 0.0, 0.0, 6 / math.sqrt(2.0)]))
    assert torch.equal(group_std(torch.tensor([0.5, 0.7]), group_size=1), torch.zeros(2))


def test_zero_std_groups_flags_exactly_the_groups_with_equal_rewards():
    g = 7
    rewards = torch.cat([
        torch.full((g,), 0.1),
        torch.tensor([0.27, 0.28, 0.29, 0.30, 0.31, 0.32, 0.33]),
        torch.tensor([-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]),
        torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, float(torch.nextafter(torch.tensor(0.5), torch.tensor(1.0)))]),
    ])
    assert zero_std_groups(rewards, g).tolist() == [True, False, True, False]
    # The advantage agrees with it: exactly 0 where the group teaches nothing, float noise included.
    adv = group_advantages(rewards, g).reshape(-1, g)
    assert torch.equal(adv[0], torch.zeros(g)) and torch.equal(adv[2], torch.zeros(g))
    assert adv[1].abs().sum() > 0 and adv[3].abs().sum() > 0
    # Alone in a batch, seven float32 0.1s have a torch std of ~8e-9 (the value depends on the
    # reduction's layout): equal rewards must still be a group without signal, with exact zeros.
    alone = torch.full((g,), 0.1)
    assert group_std(alone, g).item() > 0  # the float artefact this guards against
    assert zero_std_groups(alone, g).tolist() == [True]
    assert torch.equal(group_advantages(alone, g), torch.zeros(g))


# Two groups of 4 with a tiny-spread component (ctcvr, a few hundredths) and a [-1, 1] one (format).
CTCVR = torch.tensor([0.27, 0.28, 0.29, 0.30, 0.27, 0.28, 0.29, 0.30])
FORMAT = torch.tensor([1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0])  # group 1: format constant
SCORES = torch.stack([CTCVR, FORMAT])


def test_sum_then_normalize_lets_format_dominate_and_normalize_then_sum_gives_ctcvr_equal_say():
    summed = group_advantages(CTCVR + FORMAT, 4, eps=0.0)
    gdpo = normalize_then_sum(SCORES, [1.0, 1.0], 4, eps=0.0)
    # Group 0, sum-then-normalize: every format pass ranks above every failure; ctcvr only breaks
    # ties, by < 0.02 of advantage.
    assert summed[0] > summed[3] and summed[1] > summed[3]
    assert 0 < summed[1] - summed[0] < 0.02
    # Normalize-then-sum: ctcvr's within-group spread counts as much as format's, so the failed
    # format with the best ctcvr (3) now beats the passed format with the worst ctcvr (0).
    assert gdpo[3] > gdpo[0] and gdpo[1] > gdpo[2]
    assert gdpo[1] - gdpo[0] > 0.5
    # Group 1 (format constant): both rank by ctcvr, with unit-scale magnitudes.
    for adv in (summed[4:], gdpo[4:]):
        assert torch.equal(torch.argsort(adv), torch.arange(4))
        assert adv[3] - adv[0] > 1.0


def test_normalize_then_sum_ignores_a_components_scale_sum_then_normalize_does_not():
    rescaled = torch.stack([100 * CTCVR, FORMAT])
    assert torch.allclose(normalize_then_sum(rescaled, [1.0, 1.0], 4, eps=0.0),
                          normalize_then_sum(SCORES, [1.0, 1.0], 4, eps=0.0), atol=1e-5)
    assert not torch.allclose(group_advantages(100 * CTCVR + FORMAT, 4, eps=0.0)[:4],
                              group_advantages(CTCVR + FORMAT, 4, eps=0.0)[:4], atol=1e-2)


def test_a_component_constant_in_a_group_contributes_exactly_zero_there():
    # eps=0: without the zero-spread guard the constant groups would be 0/0 = NaN.
    g = 7
    ctcvr = torch.cat([torch.linspace(0.27, 0.33, g), torch.full((g,), 0.1)])
    fmt = torch.cat([torch.full((g,), 0.1), torch.full((g,), -1.0)])
    s = weighted_group_normalized_sum(torch.stack([ctcvr, fmt]), [2.0, 1.0], g, eps=0.0)
    assert torch.isfinite(s).all()
    assert torch.equal(s[:g], 2.0 * group_advantages(ctcvr[:g], g, eps=0.0))  # format adds exactly 0
    assert torch.equal(s[g:], torch.zeros(g))
    adv = normalize_then_sum(torch.stack([ctcvr, fmt]), [2.0, 1.0], g, eps=0.0)
    assert torch.isfinite(adv).all() and torch.equal(adv[g:], torch.zeros(g))
    # One group alone: format's seven 0.1s have a float std of ~8e-9, which must not become signal.
    one = weighted_group_normalized_sum(torch.stack([ctcvr[:g], fmt[:g]]), [2.0, 1.0], g, eps=0.0)
    assert torch.equal(one, 2.0 * group_advantages(ctcvr[:g], g, eps=0.0))


def test_normalize_then_sum_scales_the_summed_z_scores_by_their_batch_std():
    s = weighted_group_normalized_sum(SCORES, [1.0, 0.5], 4, eps=0.0)
    adv = normalize_then_sum(SCORES, [1.0, 0.5], 4, eps=0.0)
    assert torch.allclose(adv, s / s.std(), atol=1e-6)
    assert adv.std().item() == pytest.approx(1.0, abs=1e-5)  # GDPO's batch-wise step
    assert torch.equal(scale_by_batch_std(torch.zeros(6)), torch.zeros(6))


def test_one_component_gives_eq8_times_one_batch_constant_not_the_same_values():
    # Documented definition: with K = 1, normalize-then-sum = eq. 8's advantages / their batch std
    # (the weight's size cancels; its sign flips the advantage). Same signs and order, not equal values.
    x = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 6.0])
    eq8 = group_advantages(x, 3, eps=0.0)
    expected = eq8 / eq8.std()
    assert torch.allclose(normalize_then_sum(x.unsqueeze(0), [1.0], 3, eps=0.0), expected, atol=1e-6)
    assert torch.allclose(normalize_then_sum(x.unsqueeze(0), [3.0], 3, eps=0.0), expected, atol=1e-6)
    assert torch.allclose(normalize_then_sum(x.unsqueeze(0), [-1.0], 3, eps=0.0), -expected, atol=1e-6)
    assert not torch.allclose(expected, eq8, atol=1e-3)


def test_normalize_then_sum_rejects_mismatched_weights():
    with pytest.raises(ValueError, match=r"weights must be \[K\]"):
        normalize_then_sum(SCORES, [1.0], 4)
