"""Row-level validation: each kind of bad value is named with its field."""

import pytest

from relate_ray.data.validate import check_row


def problems_of(row):
    request, problems = check_row(row)
    assert request is None
    return dict(problems)


def test_good_row_becomes_a_request(good_row):
    request, problems = check_row(good_row)
    assert problems == []
    assert request.query == "cheap flights to lisbon" and request.selling_points[0] == "Fares from $59 one way"


@pytest.mark.parametrize("value, expected", [
    (None, "missing or null"), ("", "empty"), ("   ", "empty"), (42, "expected a string, got int"),
    ("a\x00b", "contains a NUL byte"), ("x" * 300, "too long (300 > 256 characters)"),
])
def test_bad_query_values(good_row, value, expected):
    good_row["query"] = value
    assert problems_of(good_row) == {"query": expected}


def test_missing_bidword_and_unknown_lang_reported_together(good_row):
    del good_row["bidword"]
    good_row["lang"] = "fr"
    found = problems_of(good_row)
    assert found["bidword"] == "missing or null"
    assert "unknown language 'fr'" in found["lang"]


@pytest.mark.parametrize("value, fragment", [
    ("one point", "expected a list of strings, got string"), ([], "expected 1 to 12 items, got 0"),
    (["ok", 3], "item 1: expected a string, got int"), (["ok", ""], "item 1: empty"),
])
def test_bad_selling_points(good_row, value, fragment):
    good_row["selling_points"] = value
    assert fragment in problems_of(good_row)["selling_points"]


def test_not_an_object():
    assert check_row(["a", "b"])[1] == [(None, "row is not an object (got list)")]


def test_integer_id_is_accepted_as_string(good_row):
    good_row["id"] = 17
    assert check_row(good_row)[0].id == "17"


def test_invalid_utf8_surrogates_are_named(good_row):
    good_row["landing_page"] = "bad \udcff byte"
    assert problems_of(good_row) == {"landing_page": "invalid UTF-8"}
