"""Length, format, correctness and relevance rewards on hand-made ads."""

import pytest

from relate_ray.data.adformat import render_ad
from relate_ray.data.schema import AdRequest
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.registry import build_reward
from relate_ray.rewards.facts import judge_facts
from relate_ray.rewards.structural import interval_score


@pytest.fixture
def request_en(good_row):
    return AdRequest.from_dict(good_row)


def score(name, requests, texts, **options):
    return build_reward(name, **options)(RewardBatch(list(requests), list(texts))).scores


def test_interval_score_inside_and_by_distance():
    assert interval_score(30, 25, 60) == 1.0
    assert interval_score(60, 25, 60) == 1.0
    assert interval_score(78, 25, 60) == pytest.approx(1 - 2 * 18 / 35)
    assert interval_score(500, 25, 60) == -1.0


def test_length_rewards_ads_inside_the_intervals(request_en):
    good = render_ad("Lisbon Flights From $59 One Way Today", "Fly to Lisbon from $59 one way with a free 23 kg bag. Book now.")
    short = render_ad("Flights", "Cheap.")
    missing = "Title: Lisbon Flights From $59 One Way"
    s = score("length", [request_en] * 3, [good, short, missing])
    assert s[0] == 1.0 and s[1] < 0 and s[2] == pytest.approx(0.0)  # (1 + -1) / 2


def test_length_in_words_for_english(request_en):
    ad = render_ad("Lisbon Flights From $59 Today", "Fly to Lisbon from $59 one way with a free bag, rated 4.6 by travellers.")
    assert score("length", [request_en], [ad], en_unit="words")[0] == 1.0


def test_format_scores_exact_partial_missing(request_en):
    texts = [render_ad("A title", "A description"), "Sure!\n" + render_ad("A title", "A description"), "Title: only"]
    assert score("format", [request_en] * 3, texts).tolist() == [1.0, 0.0, -1.0]


def test_facts_supported_unsupported_contradicted():
    source = "Fares from $59 one way. Free 23 kg bag. 4.6/5 from 8,000 reviews."
    assert judge_facts("From $59 with a 23 kg bag", source) == (2, 0, 0)
    assert judge_facts("From $49, 8,000 reviews", source) == (1, 0, 1)
    assert judge_facts("Save 30% today", source) == (0, 1, 0)
    assert judge_facts("首单立减80元，7天退货", "首单立减50元，7天无理由退货") == (1, 0, 1)


def test_correctness_orders_true_over_false_facts(request_en):
    texts = [render_ad("Lisbon from $59", "Free 23 kg bag."), render_ad("Lisbon from $19", "Free 40 kg bag."),
             render_ad("Lisbon flights", "Fly to Lisbon.")]
    s = score("correctness", [request_en] * 3, texts)
    assert s[0] == 1.0 and s[1] == -1.0 and s[2] == 0.0


def test_a_rating_is_one_fact_checked_against_the_sources_rating():
    source = "Rated 4.6/5 from 8,000 reviews."
    assert judge_facts("Rated 4.6/5 by travellers", source) == (1, 0, 0)
    # Before, "4.9/5" was 4.9 (unsupported) beside a 5 that the source's "/5" supported.
    assert judge_facts("Rated 4.9/5 by travellers", source) == (0, 0, 1)


def test_correctness_flags_an_invented_number_beside_true_ones(request_en):
    """A true price does not excuse an invented rating: the answer scores below 0 and exactly the
    invented number's tokens are flagged (the token-level form)."""
    from transformers import AutoTokenizer

    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.rewards.tokens import token_char_spans

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_POLICY))
    texts = [render_ad("Lisbon from $59", "Free 23 kg bag, loved by 12,000 flyers."),
             render_ad("Lisbon from $59", "Free 23 kg bag.")]
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    spans = [token_char_spans(tokenizer, i) for i in ids]
    out = build_reward("correctness")(RewardBatch([request_en] * 2, texts, ids, spans))
    assert out.scores[0] == -0.5 and out.scores[1] == 1.0  # the old average gave (2 - 1) / 3 > 0
    flagged = "".join(texts[0][a:b] for (a, b), f in zip(spans[0], out.token_flags[0]) if f)
    assert flagged.strip() == "12,000" and not out.token_flags[1].any()


def test_relevance_prefers_on_topic_ads(request_en):
    on_topic = render_ad("Cheap Lisbon Flights", "Lisbon flights from $59 one way with a free bag.")
    off_topic = render_ad("Yoga Mats On Sale", "Non-slip 6 mm yoga mats shipped free.")
    s = score("relevance", [request_en] * 2, [on_topic, off_topic])
    assert s[0] > s[1] + 0.3


def test_unknown_reward_lists_known_ones():
    with pytest.raises(KeyError, match="unknown reward 'ctr'.*length"):
        build_reward("ctr")


def test_format_takes_an_answer_cut_by_the_token_budget_as_flawed(request_en):
    ad = render_ad("Lisbon Flights", "From $59 one way.")
    batch = RewardBatch([request_en] * 2, [ad, ad], truncated=[True, False])
    out = build_reward("format")(batch)
    assert out.scores.tolist() == [0.0, 1.0]
    assert out.info["truncated"] == 0.5
    assert batch.select([0]).truncated == [True]  # the pool's split keeps each answer's flag


def test_content_scorers_read_an_unformatted_answer_whole(request_en):
    formatted = render_ad("Lisbon Flights", "From $59 one way.")
    batch = RewardBatch([request_en] * 2, [formatted, "  Cheap Lisbon flights from $59\n"])
    ads = batch.content_ads()
    assert (ads[0].title, ads[0].description) == ("Lisbon Flights", "From $59 one way.")
    assert (ads[1].title, ads[1].description, ads[1].ok) == ("Cheap Lisbon flights from $59", "", False)
    assert batch.ads[1].title == ""  # the format reward still sees the parse as it was
