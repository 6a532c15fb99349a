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
