"""The one ad parser every reward and evaluation shares."""

from relate_ray.data.adformat import parse_ad, render_ad


def test_exact_format_parses_ok():
    ad = parse_ad(render_ad("Lisbon Flights From $59", "Book now and fly with a free 23 kg bag."))
    assert ad.ok and ad.problems == ()
    assert ad.title == "Lisbon Flights From $59"
    assert ad.description == "Book now and fly with a free 23 kg bag."


def test_chatter_and_markdown_are_format_problems_but_fields_survive():
    ad = parse_ad("Sure! Here is your ad:\n**Title:** Cheap Flights\nDescription: Fly today.")
    assert not ad.ok
    assert "extra text" in ad.problems and "markdown" in ad.problems
    assert ad.title == "Cheap Flights"


def test_missing_repeated_and_empty_fields():
    assert parse_ad("Title: A").problems == ("missing description",)
    assert "repeated title" in parse_ad("Title: A\nTitle: B\nDescription: C").problems
    assert "empty description" in parse_ad("Title: A\nDescription:   ").problems


def test_full_width_colon_and_chinese_values():
    ad = parse_ad("Title：北京雅思培训\nDescription：小班授课，首课免费试听。")
    assert ad.ok
    assert ad.title == "北京雅思培训"
