"""Risk and diversity rewards: sentence scores plus flags on exactly the offending policy tokens."""

import pytest

from relate_ray.data.adformat import render_ad
from relate_ray.data.schema import AdRequest
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.registry import build_reward
from relate_ray.rewards.tokens import spans_to_token_flags, token_char_spans


@pytest.fixture(scope="module")
def tokenizer(policy_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(policy_dir)


def make_batch(tokenizer, requests, texts):
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    return RewardBatch(list(requests), list(texts), ids, [token_char_spans(tokenizer, i) for i in ids])


def flagged_text(tokenizer, batch, i, flags):
    return "".join(batch.texts[i][a:b] for (a, b), f in zip(batch.token_spans[i], flags) if f)


def test_token_spans_cover_the_text_in_order(tokenizer):
    text = "Title: 北京雅思培训 – $59!\nDescription: Café déjà vu."
    ids = tokenizer.encode(text, add_special_tokens=False)
    spans = token_char_spans(tokenizer, ids)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a <= b == c for (a, b), (c, _) in zip(spans, spans[1:]))


def test_spans_to_token_flags_marks_overlaps():
    assert spans_to_token_flags([(0, 3), (3, 7), (7, 9)], [(4, 5)]).tolist() == [0, 1, 0]
    assert spans_to_token_flags([(0, 3), (3, 7)], [(2, 4)]).tolist() == [1, 1]


def test_risk_flags_the_banned_claim_tokens(tokenizer, good_row):
    request = AdRequest.from_dict(good_row)
    risky = render_ad("Guaranteed Cheapest Lisbon Flights", "A miracle fare from $59.")
    clean = render_ad("Lisbon Flights From $59", "Fly one way with a free 23 kg bag.")
    batch = make_batch(tokenizer, [request] * 2, [risky, clean])
    out = build_reward("risk")(batch)
    assert out.scores[0] < 0 and out.scores[1] == 0
    assert not out.token_flags[1].any()
    flagged = flagged_text(tokenizer, batch, 0, out.token_flags[0])
    assert "Guaranteed" in flagged and "miracle" in flagged and "Lisbon" not in flagged


def test_risk_in_chinese(tokenizer, good_row):
    request = AdRequest.from_dict(dict(good_row, lang="zh"))
    batch = make_batch(tokenizer, [request], [render_ad("国家级专家 根治近视", "三个月保证治愈。")])
    out = build_reward("risk")(batch)
    flagged = flagged_text(tokenizer, batch, 0, out.token_flags[0])
    assert out.scores[0] == -1.0 and "国家级" in flagged and "根治" in flagged


def test_diversity_flags_a_template_shared_across_the_batch(tokenizer, good_row):
    request = AdRequest.from_dict(good_row)
    template = "Limited seats, book today and save big"
    texts = [render_ad(f"Lisbon trip {i}", f"{template}.") for i in range(3)] + [
        render_ad("Porto city break", "Trams, tiles and port wine await."),
        render_ad("Madrid weekend", "Tapas tours from the old town."),
    ]
    batch = make_batch(tokenizer, [request] * 5, texts)
    out = build_reward("diversity", delta_d=0.1, min_doc_freq=0.5)(batch)
    assert (out.scores[:3] < 0).all() and (out.scores[3:] == 0).all()
    flagged = flagged_text(tokenizer, batch, 0, out.token_flags[0])
    assert "book today and save big" in flagged
    assert "Title" not in flagged and "Description" not in flagged  # the required keys are exempt
    # Eq. 4 read over maximal spans: -delta_d per run of flagged tokens, not per nested sub-gram.
    # Two runs here: the shared ' Lisbon trip' title and the description template (the exempt
    # 'Description:' key between them splits them); nested counting gave well over 20 occurrences.
    runs = sum(1 for t, f in enumerate(out.token_flags[0]) if f and (t == 0 or not out.token_flags[0][t - 1]))
    assert runs == 2 and out.scores[0] == pytest.approx(-0.1 * runs)


def test_diversity_remembers_previous_steps(tokenizer, good_row):
    request = AdRequest.from_dict(good_row)
    reward = build_reward("diversity", min_doc_freq=0.4, window_steps=1)
    template = render_ad("Cheap flights", "Unbeatable fares on every route this week only")
    reward(make_batch(tokenizer, [request] * 2, [template, template]))
    fresh = [template, render_ad("Porto", "Tiles and trams."), render_ad("Madrid", "Tapas tours.")]
    out = reward(make_batch(tokenizer, [request] * 3, fresh))
    assert out.scores[0] < 0  # 3 of 5 sequences in the window carry it, though 1 of 3 in the batch


def test_diversity_window_survives_a_checkpoint_round_trip(tokenizer, good_row):
    import json

    request = AdRequest.from_dict(good_row)
    template = render_ad("Cheap flights", "Unbeatable fares on every route this week only")
    fresh = [template, render_ad("Porto", "Tiles and trams."), render_ad("Madrid", "Tapas tours.")]
    original = build_reward("diversity", min_doc_freq=0.4, window_steps=1)
    original(make_batch(tokenizer, [request] * 2, [template, template]))
    state = json.loads(json.dumps(original.state_dict()))  # what reward_state.json holds
    resumed = build_reward("diversity", min_doc_freq=0.4, window_steps=1)
    resumed.load_state_dict(state)
    expected = original(make_batch(tokenizer, [request] * 3, fresh))
    got = resumed(make_batch(tokenizer, [request] * 3, fresh))
    assert got.scores[0] < 0  # the template is judged against the restored past step
    assert got.scores.tolist() == expected.scores.tolist()
    assert [f.tolist() for f in got.token_flags] == [f.tolist() for f in expected.token_flags]


def test_with_groups_a_phrase_must_recur_across_requests(tokenizer, good_row):
    request = AdRequest.from_dict(good_row)
    shared_fact = "Free 23 kg bag on every fare"
    # Group 1: one request's 3 candidates share its fact. Groups 2-3 don't use it.
    texts = [render_ad(f"Lisbon {i}", shared_fact) for i in range(3)] + [
        render_ad("Porto", "Trams and tiles."), render_ad("Porto", "Port wine cellars."), render_ad("Porto", "River views."),
        render_ad("Madrid", "Tapas tours."), render_ad("Madrid", "Old town walks."), render_ad("Madrid", "Prado art."),
    ]
    batch = make_batch(tokenizer, [request] * 9, texts)
    grouped = build_reward("diversity", min_doc_freq=0.3, min_docs=2, group_size=3)(batch)
    ungrouped = build_reward("diversity", min_doc_freq=0.3, min_docs=2, group_size=1)(batch)
    assert (grouped.scores == 0).all()  # one request's shared fact is not a template
    assert (ungrouped.scores[:3] < 0).all()


def test_numbers_are_facts_not_templates():
    """Every answer quotes a price: with numbers exempt the shared digits are not a template, the
    shared phrase is; with exempt_numbers=false the digits count as well."""
    from transformers import AutoTokenizer

    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.data.schema import AdRequest
    from relate_ray.rewards.base import RewardBatch
    from relate_ray.rewards.token_level import DiversityOptions, DiversityReward
    from relate_ray.rewards.tokens import token_char_spans

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_POLICY))
    words = ["Lisbon", "Denver", "Boston", "Austin", "Dallas", "Tampa"]
    texts = [f"Title: {w} fares\nDescription: Fly {w} from $1,299 with free bags." for w in words]
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    spans = [token_char_spans(tokenizer, i) for i in ids]
    request = AdRequest(id="r", query="q", bidword="b", selling_points=["p"], category="travel", lang="en")

    def flagged(exempt: bool) -> set[str]:
        out = DiversityReward(DiversityOptions(exempt_numbers=exempt))(RewardBatch([request] * 6, texts, ids, spans))
        return {texts[0][a:b] for (a, b), f in zip(spans[0], out.token_flags[0]) if f}

    assert not any(c.isdigit() for piece in flagged(True) for c in piece)
    assert " with" in flagged(True)  # the shared phrase is still a template
    assert any(c.isdigit() for piece in flagged(False) for c in piece)


def test_a_duplicated_expression_costs_one_span_and_a_title_echo_none(tokenizer):
    """Eq. 12's 'duplicated expressions': the description's second 'Full refund within 30 days' is
    flagged (its words, not its number) and costs delta_d; the description repeating the title is not."""
    from relate_ray.rewards.token_level import DiversityOptions, DiversityReward

    request = AdRequest(id="r", query="q", bidword="b", selling_points=["p"], category="education", lang="en")
    texts = ["Title: Forgeline Academy Classes\nDescription: Full refund within 30 days. Full refund within 30 days.",
             "Title: Forgeline Academy Classes\nDescription: Forgeline Academy Classes with a free trial lesson."]
    batch = make_batch(tokenizer, [request] * 2, texts)
    out = DiversityReward(DiversityOptions(delta_d=0.25))(batch)
    assert out.scores.tolist() == [-0.25, 0.0]
    assert flagged_text(tokenizer, batch, 0, out.token_flags[0]).strip() == "Full refund within"
    assert out.info["duplicated"] == 0.5
    assert (DiversityReward(DiversityOptions(repeat_n=0))(batch).scores == 0).all()
