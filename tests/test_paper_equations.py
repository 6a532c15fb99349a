"""The paper's equations that are not the GRPO loss or the advantages, each as a named function
checked against a hand-worked case: eq. 4 (diversity penalty), eq. 5 (token rewards), eq. 11
(compliance rate), eq. 12 (diversity on [0, 1])."""

import numpy as np
import pytest
import torch

from relate_ray.algo.credit import token_rewards
from relate_ray.evaluation.metrics import compliance_rate, diversity_unit
from relate_ray.rewards.token_level import diversity_penalty


def test_eq4_one_delta_d_per_template_span_capped():
    # 0, 1, 3 and 6 spans at delta_d 0.25, cap 1: 0, -0.25, -0.75, -1 (not -1.5).
    assert diversity_penalty(np.array([0, 1, 3, 6]), 0.25, 1.0).tolist() == [0.0, -0.25, -0.75, -1.0]
    assert diversity_penalty(np.array([6]), 0.25, None).tolist() == [-1.5]


def test_eq5_each_flag_costs_its_coefficient_and_padding_nothing():
    risk = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 1]])       # lambda1 = 0.5
    template = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 1]])   # lambda2 = 0.1
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])        # sample 1's last token is padding
    r = token_rewards([(0.5, risk), (0.1, template)], mask)
    expected = torch.tensor([[-0.5, -0.6, -0.1, 0.0], [-0.1, 0.0, 0.0, 0.0]])
    assert torch.allclose(r, expected)


def test_eq11_share_of_approved_ads():
    assert compliance_rate([True, False, True, True]) == 0.75
    assert compliance_rate([]) == 0.0


def test_eq12_mean_diversity_reward_on_the_unit_scale():
    # r_div -0.25, 0, -1, 0 -> mean -0.3125 -> 0.6875 with the default cap; with cap 2 -> 0.84375.
    scores = np.array([-0.25, 0.0, -1.0, 0.0])
    assert diversity_unit(scores) == pytest.approx(0.6875)
    assert diversity_unit(scores, max_penalty=2.0) == pytest.approx(0.84375)
