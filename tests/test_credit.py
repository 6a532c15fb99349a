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


# ---- reward.aggregation, per-component spread, groups without signal ----------------------------

from relate_ray.algo.advantages import normalize_then_sum  # noqa: E402

# Groups of 2: group 0 format decides, group 1 format constant (ctcvr decides), group 2 nothing varies.
AGG_SCORES = {"ctcvr": torch.tensor([0.27, 0.29, 0.28, 0.30, 0.25, 0.25]),
              "format": torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])}
AGG_FLAGS = {"risk": torch.tensor([[0, 1], [0, 0], [1, 1], [0, 0], [0, 0], [1, 0]])}
AGG_MASK = torch.ones(6, 2)
AGG_SPECS = [ComponentSpec("ctcvr", weight=2.0), ComponentSpec("format", weight=1.0),
             ComponentSpec("risk", granularity="token", token_coef=0.5)]


def agg_credit(aggregation):
    return assign_credit(AGG_SCORES, AGG_FLAGS, AGG_MASK, AGG_SPECS, group_size=2, alpha=0.3,
                         eps=0.0, aggregation=aggregation)


def test_normalize_then_sum_changes_only_the_sentence_advantage():
    stn, nts = agg_credit("sum_then_normalize"), agg_credit("normalize_then_sum")
    raw_sum = 2.0 * AGG_SCORES["ctcvr"] + AGG_SCORES["format"]
    # reward/total keeps reporting the weighted raw sum r_i under both aggregations.
    assert torch.allclose(stn.sentence_rewards, raw_sum) and torch.allclose(nts.sentence_rewards, raw_sum)
    expected = normalize_then_sum(torch.stack([AGG_SCORES["ctcvr"], AGG_SCORES["format"]]), [2.0, 1.0], 2, eps=0.0)
    assert torch.allclose(nts.sentence_advantages, expected)
    assert not torch.allclose(nts.sentence_advantages, stn.sentence_advantages, atol=1e-3)
    # Group 0: format dominates the sum (sample 0 ahead); decoupled, 2 x ctcvr outweighs it.
    assert stn.sentence_advantages[0] > 0 > nts.sentence_advantages[0]
    # Token-level credit (eq. 5, 7) is the same under both.
    assert torch.equal(nts.token_rewards, stn.token_rewards)
    for credit in (stn, nts):
        token_part = credit.advantages - credit.sentence_advantages.unsqueeze(1) * AGG_MASK
        assert torch.allclose(token_part, 0.3 * -0.5 * AGG_FLAGS["risk"].float())


def test_component_group_std_is_the_mean_within_group_std_of_raw_sentence_scores():
    credit = agg_credit("normalize_then_sum")
    s = 2 ** -0.5  # Bessel std of a pair is |diff| / sqrt 2
    # ctcvr unweighted (its weight 2 not applied): pairs differ by 0.02, 0.02, 0.
    assert credit.component_group_std.keys() == {"ctcvr", "format"}  # token-level risk has none
    assert credit.component_group_std["ctcvr"] == pytest.approx(s * (0.02 + 0.02 + 0.0) / 3, rel=1e-4)
    assert credit.component_group_std["format"] == pytest.approx(s * 2.0 / 3, rel=1e-6)


def test_zero_std_frac_counts_the_groups_whose_sentence_advantage_is_zero():
    for aggregation in ("sum_then_normalize", "normalize_then_sum"):
        credit = agg_credit(aggregation)
        assert credit.zero_std_mask.tolist() == [False, False, True]
        assert credit.zero_std_frac == pytest.approx(1 / 3)
        assert torch.equal(credit.sentence_advantages[4:], torch.zeros(2))


def test_zero_std_mask_follows_the_signal_each_aggregation_normalizes():
    # ctcvr's rise cancels format's fall in r_i = 2 ctcvr + format (r = 1, 1): eq. 8 sees no
    # spread, but decoupled, ctcvr (weight 2) outweighs format (weight 1), so that group teaches.
    scores = {"ctcvr": torch.tensor([0.0, 1.0]), "format": torch.tensor([1.0, -1.0])}
    specs = [ComponentSpec("ctcvr", weight=2.0), ComponentSpec("format", weight=1.0)]
    mask = torch.ones(2, 1)
    stn = assign_credit(scores, {}, mask, specs, group_size=2, alpha=1.0)
    nts = assign_credit(scores, {}, mask, specs, group_size=2, alpha=1.0, aggregation="normalize_then_sum")
    assert stn.zero_std_mask.tolist() == [True] and torch.equal(stn.sentence_advantages, torch.zeros(2))
    assert nts.zero_std_mask.tolist() == [False] and nts.sentence_advantages[1] > 0 > nts.sentence_advantages[0]


def test_unknown_aggregation_is_rejected():
    with pytest.raises(ValueError, match="aggregation must be one of"):
        agg_credit("sum")
