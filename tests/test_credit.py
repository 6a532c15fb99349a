"""Credit assignment for a preset: sentence components -> eq. 8, token components -> eq. 5, 7, 9."""

import pytest
import torch

from relate_ray.algo.credit import ComponentSpec, assign_credit

SCORES = {"ctcvr": torch.tensor([0.1, 0.3, 0.2, 0.2]), "format": torch.tensor([1.0, 1.0, -1.0, 1.0]),
          "risk": torch.tensor([0.0, -0.5, 0.0, 0.0])}
FLAGS = {"risk": torch.tensor([[0, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 0]]),
         "diversity": torch.tensor([[1, 1, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]])}
MASK = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]])


def test_sentence_only_preset_is_group_normalized_weighted_sum():
    specs = [ComponentSpec("ctcvr", weight=2.0), ComponentSpec("format", weight=0.5),
             ComponentSpec("risk", weight=1.0)]
    credit = assign_credit(SCORES, FLAGS, MASK, specs, group_size=2, alpha=1.0, eps=0.0)
    r = torch.tensor([0.2 + 0.5, 0.6 + 0.5 - 0.5, 0.4 - 0.5, 0.4 + 0.5])
    assert torch.allclose(credit.sentence_rewards, r)
    # Groups of 2 with distinct rewards normalize to -1/sqrt(2), +1/sqrt(2) (Bessel std = |diff|/sqrt 2).
    a = 2 ** -0.5
    assert torch.allclose(credit.sentence_advantages, torch.tensor([a, -a, -a, a]), atol=1e-6)
    assert torch.count_nonzero(credit.token_rewards) == 0
    assert torch.allclose(credit.advantages[0], torch.full((3,), a), atol=1e-6)
    assert credit.advantages[2, 2] == 0  # padding


def test_token_components_add_alpha_times_minus_lambda_flags():
    specs = [ComponentSpec("ctcvr"), ComponentSpec("risk", granularity="token", token_coef=1.0),
             ComponentSpec("diversity", granularity="token", token_coef=0.5)]
    credit = assign_credit(SCORES, FLAGS, MASK, specs, group_size=2, alpha=0.2, eps=0.0)
    expected_token = torch.tensor([[-0.5, -0.5, 0.0], [0.0, -1.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(credit.token_rewards, expected_token)  # the padded diversity flag is dropped
    # Sentence part: ctcvr only. Group 2 has equal rewards -> 0 advantage, token part only.
    a = 2 ** -0.5
    expected = torch.tensor([[-a - 0.1, -a - 0.1, -a], [a, a - 0.2, a - 0.2], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(credit.advantages, expected, atol=1e-6)
    assert torch.allclose(credit.total_rewards, torch.tensor([0.1 - 1.0, 0.3 - 2.0, 0.2, 0.2]))


def test_missing_component_output_is_named():
    with pytest.raises(KeyError, match="judge"):
        assign_credit(SCORES, FLAGS, MASK, [ComponentSpec("judge")], group_size=2, alpha=1.0)


def test_bad_granularity_is_rejected():
    with pytest.raises(ValueError, match="granularity must be sentence or token"):
        ComponentSpec("risk", granularity="word")
