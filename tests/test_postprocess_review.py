"""Post-processing repairs what the policy got wrong; the platform review is its own system."""

import random
from pathlib import Path

from relate_ray.data.adformat import LENGTH_LIMITS, parse_ad
from relate_ray.data.schema import AdRequest
from relate_ray.evaluation.postprocess import postprocess, repair_format
from relate_ray.rewards.compliance import check
from relate_ray.sim.review import review

LIMITS = LENGTH_LIMITS["en"]


def _request(**kw):
    fields = dict(id="r1", query="cheap flights lisbon", bidword="lisbon flights", category="travel",
                  selling_points=["Fares from $59", "Free 23 kg bag"], lang="en",
                  landing_page="Lisbon flights from $59 one way. Free 23 kg bag on every fare.")
    return AdRequest(**{**fields, **kw})


def test_postprocessing_repairs_a_malformed_ad():
    raw = '**"Lisbon Flights From $59"**\n\nFly to Lisbon from $59 one way with a free 23 kg bag. Book now!'
    assert not parse_ad(raw).ok
    fixed = parse_ad(postprocess(raw, _request(), LIMITS))
    assert fixed.ok
    assert fixed.title == "Lisbon Flights From $59"
    assert fixed.description.startswith("Fly to Lisbon from $59")


def test_postprocessing_fills_an_empty_field_from_the_request_and_trims_to_the_limit():
    raw = "Title: Lisbon flights from $59 with a free bag, every single day of the year, from any airport\nDescription:"
    fixed = parse_ad(postprocess(raw, _request(), LIMITS))
    assert fixed.ok
    assert len(fixed.title) <= LIMITS["title"][1] and not fixed.title.endswith(" ")
    assert fixed.description == "Fares from $59. Free 23 kg bag"


def test_postprocessing_removes_what_the_blacklist_flags():
    raw = "Title: Lisbon Flights From $59\nDescription: The best deal ever, 100% guaranteed. Free 23 kg bag."
    assert not check(raw, "en").ok
    fixed = postprocess(raw, _request(), LIMITS)
    assert check(fixed, "en").ok and parse_ad(fixed).ok


def test_repair_splits_a_one_line_answer_at_its_first_sentence():
    assert repair_format("Lisbon flights from $59. Free bag on every fare.") == \
        ("Lisbon flights from $59.", "Free bag on every fare.")


def test_review_rejects_risky_historical_ads_and_approves_good_ones():
    from relate_ray.data.synth import generate_requests
    from relate_ray.sim.history import historical_ads

    for lang in ("en", "zh"):
        decisions = {}
        for request in generate_requests(60, lang, 0):
            for ad in historical_ads(request, random.Random(request.id)):
                decisions.setdefault(ad.tier, []).append(review(request, ad.title, ad.description).approved)
        assert sum(decisions["risky"]) == 0, lang
        assert sum(decisions["good"]) / len(decisions["good"]) > 0.9, lang


def test_review_reads_the_landing_page_and_the_searchers_own_words():
    request = _request()
    assert review(request, "Lisbon Flights From $59", "Free 23 kg bag on every fare.").approved
    wrong_price = review(request, "Lisbon Flights From $39", "Free 23 kg bag on every fare.")
    assert wrong_price.reasons == ("contradicts the landing page",)
    assert "contact details or link" in review(request, "Lisbon Flights", "Visit www.cheapfly.com now.").reasons
    # A brand named like its site, which the searcher typed, is not a link.
    branded = _request(query="flyaway.com lisbon", bidword="flyaway.com")
    assert review(branded, "Flyaway.com: Lisbon From $59", "Free 23 kg bag on every fare.").approved


def test_review_is_independent_of_the_training_rewards():
    """No reward reads the market (its review included), and the review does not reuse the reward's checker."""
    root = Path(__file__).resolve().parents[1] / "relate_ray"
    for path in (root / "rewards").rglob("*.py"):
        assert "relate_ray.sim" not in path.read_text(), path  # no reward reads the market
    source = (root / "sim" / "review.py").read_text()
    assert "rewards" not in source.split('"""', 2)[2]  # the docstring may name it; the code may not import it



def test_an_unparsable_answer_is_reviewed_on_its_whole_text():
    """Evaluation reviews what would be shown: rambling with banned claims is not approved for
    lacking the Title/Description fields (read as two empty fields, it would pass)."""
    from relate_ray.evaluation.scoring import review_as_shown

    request = _request()
    rambling = "Our fares are risk-free and the cheapest in the world, guaranteed results"
    assert review(request, "", "").approved
    assert not review_as_shown(request, rambling).approved
    formatted = "Title: Lisbon Flights From $59\nDescription: Free 23 kg bag on every fare."
    assert review_as_shown(request, formatted).approved
