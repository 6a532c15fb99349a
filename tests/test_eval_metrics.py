"""The offline metrics on hand-made inputs: eq. 10 and its paired bootstrap, diversity, GSB."""

import numpy as np
import pytest

from relate_ray.evaluation.metrics import (
    bleu, delta_ctcvr, distinct_n, diversity_unit, gsb_counts, gsb_summary, paired_bootstrap_ci, self_bleu, unit_score,
)
from relate_ray.rewards.judge import pair_verdict
from relate_ray.rewards.token_level import DiversityOptions, DiversityReward

DISTINCT = [
    "Lisbon flights from $59, free bag included",
    "Learn Python online with a free 21-day trial",
    "Same-day plumbing repair, licensed and insured",
    "Organic skincare that ships in two days",
    "Compare car insurance quotes in five minutes",
    "Fresh pasta delivered to your door tonight",
]
IDENTICAL = ["Best deals on everything you need, shop now today"] * 6


def _diversity(texts):
    """Eq. 12 through the training's diversity reward, one document per ad (word ids as tokens)."""
    from relate_ray.rewards.base import RewardBatch
    from relate_ray.data.schema import AdRequest

    vocab: dict[str, int] = {}
    ids, spans = [], []
    for text in texts:
        words, pos, toks, sp = text.split(), 0, [], []
        for w in words:
            start = text.index(w, pos)
            toks.append(vocab.setdefault(w, len(vocab) + 1))
            sp.append((start, start + len(w)))
            pos = start + len(w)
        ids.append(toks)
        spans.append(sp)
    request = AdRequest(id="r", query="q", bidword="b", category="c", selling_points=["x"], lang="en")
    out = DiversityReward(DiversityOptions(window_steps=0))(RewardBatch([request] * len(texts), list(texts), ids, spans))
    return diversity_unit(out.scores)


def test_identical_ads_score_lower_diversity_and_higher_self_bleu_than_distinct_ones():
    assert _diversity(IDENTICAL) < _diversity(DISTINCT)
    assert _diversity(DISTINCT) == 1.0  # no phrase recurs in half the ads
    assert self_bleu(IDENTICAL) > self_bleu(DISTINCT)
    assert self_bleu(IDENTICAL) == pytest.approx(1.0)
    assert distinct_n(IDENTICAL, 2) < distinct_n(DISTINCT, 2) == 1.0


def test_bleu_matches_a_hand_count():
    hyp = "the cat sat on the mat".split()
    assert bleu(hyp, [hyp]) == pytest.approx(1.0)
    # Unigrams: "the" clipped to 1 + "cat" = 2 of 6; bigrams: "the cat" 1 of 5, smoothed (1+1)/(5+1);
    # no 3-grams (0+1)/(4+1) or 4-grams (0+1)/(3+1); longer than the reference, so no brevity penalty.
    ref = "the cat ran".split()
    expected = np.exp((np.log(2 / 6) + np.log(2 / 6) + np.log(1 / 5) + np.log(1 / 4)) / 4)
    assert bleu(hyp, [ref]) == pytest.approx(expected)


def test_a_policy_against_itself_has_zero_lift_and_an_interval_at_zero():
    rng = np.random.default_rng(0)
    ctcvr = rng.uniform(1e-4, 5e-3, size=50)
    assert delta_ctcvr(ctcvr, ctcvr) == 0.0
    low, high = paired_bootstrap_ci(ctcvr, ctcvr)
    assert low <= 0.0 <= high and high - low == pytest.approx(0.0)


def test_delta_is_eq_10_and_the_interval_covers_it():
    base = np.array([0.001, 0.002, 0.003, 0.004])
    assert delta_ctcvr(base * 1.1, base) == pytest.approx(0.1)
    low, high = paired_bootstrap_ci(base * 1.1, base)
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)  # every request lifts by 10 %


def test_the_bootstrap_interval_narrows_with_more_requests():
    rng = np.random.default_rng(1)

    def width(n):
        base = rng.uniform(1e-3, 4e-3, size=n)
        policy = base * rng.normal(1.05, 0.3, size=n).clip(0.1)
        low, high = paired_bootstrap_ci(policy, base, samples=2000, seed=3)
        return high - low

    small, large = width(20), width(500)
    assert large < small / 3  # about 1/sqrt(25) = 1/5 of the width


def test_the_interval_refuses_unpaired_arrays():
    with pytest.raises(ValueError, match="same requests"):
        paired_bootstrap_ci(np.ones(3), np.ones(4))


def test_gsb_summary_counts_verdicts_and_the_share_that_flipped_with_the_order():
    summary = gsb_summary(["good", "same", "same", "bad"], [False, True, False, False])
    assert summary == {"good": 1, "same": 2, "bad": 1, "flip_rate": 0.25}
    assert gsb_summary([], [])["flip_rate"] is None
    with pytest.raises(ValueError, match="3 verdicts for 2 flip flags"):
        gsb_summary(["good", "same", "bad"], [False, True])


def test_gsb_counts_and_the_order_swap_rule():
    assert gsb_counts(["good", "same", "good", "bad"]) == {"good": 2, "same": 1, "bad": 1}
    with pytest.raises(ValueError):
        gsb_counts(["better"])
    assert pair_verdict(0.9, 0.8).label == "good"
    assert pair_verdict(0.1, 0.2).label == "bad"
    # Position bias: the judge says "A" both times, so the first ad wins as A and loses as B.
    assert pair_verdict(1.0, 0.0).label == "same"
    # Preferred in both orders but only narrowly: still within the margin.
    assert pair_verdict(0.55, 0.56, same_margin=0.1).label == "same"
    # A large mean that flips with the order is still position bias.
    assert pair_verdict(0.99, 0.45, same_margin=0.1).label == "same"


def test_unit_score_maps_rewards_onto_zero_one():
    assert unit_score(np.array([-1.0, 0.0, 1.0, 3.0])).tolist() == [0.0, 0.5, 1.0, 1.0]
