"""LLM-as-judge: probabilities from the first answer token, pointwise and pairwise (slow: vLLM)."""

from dataclasses import dataclass

import numpy as np
import pytest

from relate_ray.data.adformat import parse_ad, render_ad
from relate_ray.data.schema import AdRequest
from relate_ray.rewards.judge import Judge, _choice_probability


@dataclass
class TopToken:  # the two fields of vLLM's Logprob that the judge reads
    logprob: float
    decoded_token: str


def test_choice_probability_normalizes_over_yes_and_no_variants():
    top = {1: TopToken(np.log(0.3), "Yes"), 2: TopToken(np.log(0.2), " yes"), 3: TopToken(np.log(0.25), "No"),
           4: TopToken(np.log(0.25), "Maybe")}
    assert _choice_probability(top, ("yes",), ("no",)) == pytest.approx(0.5 / 0.75)
    assert _choice_probability({1: TopToken(0.0, "Hmm")}, ("yes",), ("no",)) is None  # unanswered, counted


@pytest.mark.slow
def test_judge_scores_and_compares_through_vllm(policy_dir, policy_llm, good_row):
    from transformers import AutoTokenizer

    judge = Judge(policy_llm, AutoTokenizer.from_pretrained(policy_dir))
    request = AdRequest.from_dict(good_row)
    good = parse_ad(render_ad("Lisbon Flights From $59", "Fly to Lisbon from $59 one way with a free 23 kg bag."))
    bad = parse_ad(render_ad("asdf qwerty", "zzzz zzzz zzzz"))
    scores = judge.score([request, request], [good, bad])
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    # Yes/No appear among the judge's top tokens: real probabilities, not the 0.5 fallback.
    assert (scores != 0.5).all()
    # The judge tells a relevant ad from gibberish pointwise.
    assert scores[0] > scores[1]
    # Side by side it cannot (the clear pairs: 0 of 20 asked plainly, 1 of 20 with the answer begun;
    # tests/test_judge_calibration.py checks the opt-in judge that can): here the letters are read
    # (not the 0.5 of an unanswered question) and each pair is order-averaged, so swapping the two
    # ads gives the complement.
    forward, backward = judge.compare([request, request], [good, bad], [bad, good])
    assert forward.p_first != 0.5
    assert forward.p_first == pytest.approx(1 - backward.p_first, abs=1e-6)


@pytest.mark.slow
def test_judge_reward_reads_answers_that_missed_the_format(policy_llm, good_row):
    from relate_ray.rewards.base import RewardBatch
    from relate_ray.rewards.judge import JudgeReward

    request = AdRequest.from_dict(good_row)
    # Neither has a Title/Description line: both parse to empty fields, but they say different things.
    texts = ["Cheap flights to Lisbon from $59 one way, free 23 kg bag.", "zzzz qwerty asdf asdf asdf"]
    scores = JudgeReward(llm=policy_llm)(RewardBatch([request, request], texts)).scores
    assert scores[0] != scores[1]
