"""The synthetic ad market behaves like searchers do, and its logs are usable training data."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest

from relate_ray.data.schema import AdRequest
from relate_ray.sim import (
    LOG_FIELDS,
    TEMPLATE_TIERS,
    TEMPLATES,
    MarketSimulator,
    extract_features,
    fatigue_multiplier,
    historical_ads,
    impression_logs,
    write_impression_logs,
)
from relate_ray.sim.features import count_exaggerations, fact_check, facts, has_call_to_action

FLIGHTS = AdRequest(
    id="en-flights",
    query="cheap flights to lisbon",
    bidword="lisbon flights",
    selling_points=["Fares from $59 one way", "Free 23 kg bag", "Free cancellation within 24 hours"],
    category="travel",
    lang="en",
    landing_page="Fly to Lisbon from $59 one way with a free 23 kg bag.",
)
GOOD_TITLE = "Lisbon Flights – Fares From $59 One Way"
GOOD_DESC = "Cheap flights to Lisbon from $59 one way. Free 23 kg bag and free cancellation. Book now."

ENGLISH_BASE = [
    ("where to stay in manhattan", "times square hotel",
     ["Rooms from $149 per night", "5 minute walk to Broadway", "Rated 4.6 stars by 3,200 guests"],
     "travel"),
    ("online python course for beginners", "python course",
     ["12 weeks of live classes", "Certificate on completion", "First lesson free"], "education"),
    ("car insurance quotes", "car insurance",
     ["Save up to 25% when you bundle", "Claims answered in 48 hours", "24/7 roadside assistance"],
     "insurance"),
    ("how to consolidate credit card debt", "personal loan",
     ["Rates from 6.9% APR", "Funds in 1 business day", "No prepayment fees"], "finance"),
    ("running shoes men", "mens running shoes",
     ["Free shipping over $50", "30-day free returns", "Lightweight foam cushioning"], "retail"),
    ("headphones for long flights", "wireless headphones",
     ["Up to 30 hours of battery", "Active noise cancelling", "2-year warranty"], "electronics"),
    ("apartments for rent downtown", "downtown apartments",
     ["Studios from $1,450 per month", "Rooftop pool and gym", "Pet friendly buildings"],
     "real_estate"),
    ("project management software", "project management tool",
     ["Free for teams up to 10 users", "Gantt charts and kanban boards", "Integrates with Slack"],
     "software"),
    ("pizza delivery near me", "pizza delivery",
     ["Delivered in 30 minutes", "Large pizza for $12.99", "Fresh dough made daily"], "food"),
    ("water heater leaking what to do", "emergency plumber",
     ["Available 24/7", "Arrival within 90 minutes", "Upfront flat-rate pricing"], "home_services"),
    ("vitamin c serum", "vitamin c serum",
     ["15% pure vitamin C", "Dermatologist tested", "Vegan and cruelty free"], "beauty"),
    ("divorce lawyer consultation", "divorce lawyer",
     ["20 years of family law experience", "Flexible payment plans", "Confidential first meeting"],
     "legal"),
]


def english_requests(n: int) -> list[AdRequest]:
    """n realistic English requests (the base set repeated under distinct ids).

    Like real traffic, some queries only loosely match the bidword ("where to stay in manhattan").
    """
    return [
        AdRequest(id=f"en-{k:04d}", query=q, bidword=b, selling_points=list(sp), category=c,
                  lang="en")
        for k, (q, b, sp, c) in ((k, ENGLISH_BASE[k % len(ENGLISH_BASE)]) for k in range(n))
    ]


@pytest.fixture(scope="module")
def market() -> MarketSimulator:
    return MarketSimulator(seed=0)


@pytest.fixture(scope="module")
def logs() -> list[dict]:
    return impression_logs(english_requests(240), n_impressions=20_000, seed=7)


def test_relevant_fact_covering_ad_beats_generic_on_ctcvr(market):
    good, generic = market.score_ads(
        [FLIGHTS, FLIGHTS],
        [(GOOD_TITLE, GOOD_DESC),
         ("Great Travel Deals", "Find great options for travel. Quality service you can trust.")],
    )
    assert good["ctcvr"] > 3 * generic["ctcvr"]


def test_contradicted_price_lowers_cvr(market):
    _, right = market.ctr_cvr(FLIGHTS, GOOD_TITLE, GOOD_DESC)
    _, wrong = market.ctr_cvr(FLIGHTS, GOOD_TITLE.replace("$59", "$39"),
                              GOOD_DESC.replace("$59", "$39"))
    assert wrong < 0.5 * right


def test_exaggerated_claims_raise_ctr_but_lower_cvr(market):
    ctr, cvr = market.ctr_cvr(FLIGHTS, GOOD_TITLE, GOOD_DESC)
    hype_ctr, hype_cvr = market.ctr_cvr(
        FLIGHTS, "#1 Lisbon Flights – Guaranteed Lowest Fares",
        GOOD_DESC.replace("Book now.", "Best ever deal, 100% risk-free. Book now."))
    assert hype_ctr > ctr
    assert hype_cvr < cvr


def test_fatigue_lowers_ctr_with_exposures(market):
    ctrs = [market.ctr_cvr(FLIGHTS, GOOD_TITLE, GOOD_DESC, exposures=n)[0] for n in (0, 10, 1000)]
    assert ctrs[0] > ctrs[1] > ctrs[2]
    assert fatigue_multiplier(0) == 1.0
    # fatigue changes who clicks, not whether a click converts
    assert market.ctr_cvr(FLIGHTS, GOOD_TITLE, GOOD_DESC, exposures=1000)[1] == pytest.approx(
        market.ctr_cvr(FLIGHTS, GOOD_TITLE, GOOD_DESC)[1])


def test_length_far_outside_sweet_spot_lowers_ctr(market):
    ctr, _ = market.ctr_cvr(FLIGHTS, GOOD_TITLE, GOOD_DESC)
    short_ctr, _ = market.ctr_cvr(FLIGHTS, "Lisbon", "Fares $59.")
    long_desc = " ".join([GOOD_DESC] * 4)
    long_ctr, _ = market.ctr_cvr(FLIGHTS, GOOD_TITLE + " " + GOOD_TITLE + " Today Only", long_desc)
    assert short_ctr < 0.5 * ctr
    assert long_ctr < 0.5 * ctr


def test_score_ads_is_deterministic_and_checks_lengths(market):
    ads = [(GOOD_TITLE, GOOD_DESC)]
    assert market.score_ads([FLIGHTS], ads) == MarketSimulator(seed=0).score_ads([FLIGHTS], ads)
    with pytest.raises(ValueError):
        market.score_ads([FLIGHTS, FLIGHTS], ads)


def test_facts_are_supported_unsupported_or_contradicted():
    source = facts("Fares from $59 one way. Free 23 kg bag. Save 10% on hotels.", "en")
    ad = facts("Only $59! Save 25% today, 5,000 seats, 23 kg bag.", "en")
    supported, unsupported, contradicted = fact_check(ad, source, set())
    assert (supported, unsupported, contradicted) == (2, 1, 1)  # $59, 23 kg | 5,000 | 25%


def test_call_to_action_and_exaggerations_are_detected():
    assert has_call_to_action("Get a free quote in minutes", "en")
    assert not has_call_to_action("A workshop for teams", "en")
    assert has_call_to_action("立即预约，先到先得", "zh")
    assert count_exaggerations("#1 choice, guaranteed, 100% risk-free", "en") == 4
    # the advertiser's own "100% cotton" is a fact the landing page backs, not hype
    assert count_exaggerations("100% cotton tees", "en", "Made of 100% cotton") == 0
    assert count_exaggerations("全网最低价，第一品牌", "zh") >= 2


def test_templates_cover_every_tier_in_both_languages():
    for lang, templates in TEMPLATES.items():
        assert len(templates) >= 12, lang
        assert {t.tier for t in templates} == {"good", "mediocre", "bad", "risky"}
    assert len(TEMPLATE_TIERS) == sum(len(t) for t in TEMPLATES.values())  # ids are unique


def test_historical_ads_are_filled_for_every_template():
    for request in (FLIGHTS, ZH_REQUEST):
        ads = historical_ads(request, random.Random(0))
        assert len(ads) == len(TEMPLATES[request.lang])
        assert all(ad.title.strip() and ad.description.strip() for ad in ads)
        assert all("{" not in ad.title + ad.description for ad in ads)


def test_good_templates_earn_several_times_the_ctcvr_of_bad_ones(market):
    by_tier: dict[str, list[float]] = defaultdict(list)
    for request in english_requests(len(ENGLISH_BASE)):
        ads = historical_ads(request, random.Random(request.id))
        scores = market.score_ads([request] * len(ads), [(a.title, a.description) for a in ads])
        for ad, score in zip(ads, scores):
            by_tier[ad.tier].append(score["ctcvr"])
    mean = {tier: sum(v) / len(v) for tier, v in by_tier.items()}
    assert mean["good"] > 3 * mean["mediocre"]
    assert mean["good"] > 5 * mean["bad"]
    assert mean["good"] > 2 * mean["risky"]


def test_impression_logs_are_deterministic_per_seed():
    requests = english_requests(60)
    first = impression_logs(requests, n_impressions=3_000, seed=3)
    assert impression_logs(requests, n_impressions=3_000, seed=3) == first
    assert impression_logs(requests, n_impressions=3_000, seed=4) != first


def test_clicked_impressions_convert_at_the_markets_cvr(logs):
    # A click converts with the market's CVR of that ad for that request (post-click, unlike CTCVR,
    # which is per impression): the logged conversions of clicks match the rates' sum to sampling error.
    assert all(set(row) == set(LOG_FIELDS) for row in logs)
    requests = {r.id: r for r in english_requests(240)}
    market = MarketSimulator(seed=7)
    clicked = [row for row in logs if row["click"]]
    cvr = [market.ctr_cvr(requests[row["request_id"]], row["title"], row["description"])[1] for row in clicked]
    expected = sum(cvr)
    spread = sum(p * (1 - p) for p in cvr) ** 0.5
    converted = sum(row["conversion"] for row in clicked)
    assert abs(converted - expected) < 4 * spread, (converted, expected, spread)
    assert sum(row["conversion"] for row in logs) == converted  # no conversion without a click


def test_impression_logs_have_realistic_aggregate_rates(logs):
    clicks = sum(row["click"] for row in logs)
    conversions = sum(row["conversion"] for row in logs)
    assert 0.02 <= clicks / len(logs) <= 0.05
    assert 0.05 <= conversions / clicks <= 0.15


def test_impression_logs_show_fatigue(logs):
    half = len(logs) // 2
    early = sum(row["click"] for row in logs[:half]) / half
    late = sum(row["click"] for row in logs[half:]) / (len(logs) - half)
    assert late < early


def test_write_impression_logs_round_trips(tmp_path, logs):
    path = tmp_path / "logs" / "impressions.jsonl"
    assert write_impression_logs(path, logs[:50]) == 50
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == logs[:50]


ZH_REQUEST = AdRequest(
    id="zh-english-class",
    query="北京英语培训哪家好",
    bidword="英语培训",
    selling_points=["外教一对一授课", "首节试听课免费", "课程低至99元/节"],
    category="education",
    lang="zh",
    landing_page="英语培训课程低至99元/节，外教一对一授课。",
)


def test_chinese_relevance_uses_bigrams():
    relevant = extract_features(ZH_REQUEST, "北京英语培训-外教一对一", "外教一对一授课，课程低至99元/节，立即预约！")
    unrelated = extract_features(ZH_REQUEST, "二手车低价出售", "车况良好，价格实惠，欢迎看车。")
    assert relevant.query_relevance > 0
    assert relevant.query_relevance > unrelated.query_relevance
    assert relevant.coverage > unrelated.coverage
    assert relevant.n_supported >= 1 and relevant.has_cta


def test_chinese_contradicted_price_lowers_cvr(market):
    title = "英语培训-外教一对一授课"
    _, right = market.ctr_cvr(ZH_REQUEST, title, "外教一对一授课，课程低至99元/节，立即预约！")
    _, wrong = market.ctr_cvr(ZH_REQUEST, title, "外教一对一授课，课程低至49元/节，立即预约！")
    assert wrong < right


def test_synthetic_requests_give_realistic_rates():
    from relate_ray.data.synth import generate_requests as generate

    rows = impression_logs(generate(150, "en", 0), n_impressions=10_000, seed=0)
    clicks = sum(row["click"] for row in rows)
    assert 0.02 <= clicks / len(rows) <= 0.05
    assert 0.05 <= sum(row["conversion"] for row in rows) / clicks <= 0.15
