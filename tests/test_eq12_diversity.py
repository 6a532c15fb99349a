"""Eq. 12 in evaluation is the training's diversity reward as a training step applies it (documents
of G ads, a step's documents per batch, the window of past steps): a policy that writes the same
phrase for request after request scores clearly below one that varies, even over 200 requests."""

import random

import pytest

from relate_ray.data.schema import AdRequest
from relate_ray.evaluation.metrics import diversity_unit
from relate_ray.evaluation.scoring import diversity_as_trained
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.token_level import DiversityOptions

TEMPLATE = [7, 8, 9, 10, 11]  # "book now and save today" in every templated ad


def ads(n: int, templated: bool, seed: int = 0) -> RewardBatch:
    """n one-ad documents of 20 raw tokens (one character per token), each its own request."""
    rng = random.Random(seed)
    ids = [[rng.randrange(1000, 50_000) for _ in range(20)] for _ in range(n)]
    if templated:
        for seq in ids:
            seq[3:3 + len(TEMPLATE)] = TEMPLATE
    requests = [AdRequest(id=f"r{i}", query="q", bidword="b", selling_points=["p"], landing_page="",
                          category="travel", lang="en") for i in range(n)]
    texts = ["x" * len(seq) for seq in ids]
    spans = [[(t, t + 1) for t in range(len(seq))] for seq in ids]
    return RewardBatch(requests, texts, ids, spans)


def test_a_templated_set_scores_below_a_varied_one_over_200_requests():
    options = DiversityOptions(delta_d=0.25, group_size=5)  # training's window (8 steps) and threshold
    templated = diversity_unit(diversity_as_trained(options, ads(200, True), step_ads=20))
    varied = diversity_unit(diversity_as_trained(options, ads(200, False), step_ads=20))
    assert varied == 1.0
    # Every templated ad pays one span's penalty (delta_d = 0.25 of the unit scale).
    assert templated == pytest.approx(0.75, abs=0.02)


def test_a_template_in_two_ads_of_five_is_seen_as_training_sees_it():
    """The old reading (every ad its own document, all 200 at once) needs the phrase in half of the
    ads: one in 40 % of them passed unseen. In documents of G=5 it is in most documents."""
    batch = ads(200, False)
    for seq in batch.token_ids[::5] + batch.token_ids[1::5]:
        seq[3:3 + len(TEMPLATE)] = TEMPLATE
    whole = diversity_unit(diversity_as_trained(DiversityOptions(group_size=1, window_steps=0), batch,
                                                step_ads=len(batch)))
    stepwise = diversity_unit(diversity_as_trained(DiversityOptions(group_size=5), batch, step_ads=20))
    assert whole == 1.0
    # Each templated ad pays delta_d once: 0.4 x 0.25 off the unit scale, but for the first batches
    # (the window needs min_docs documents holding the phrase).
    assert stepwise == pytest.approx(1.0 - 0.4 * 0.25, abs=0.02)
