"""Shared fixtures: a valid request row, and file writers for every supported format."""

from __future__ import annotations

import copy

import pytest


GOOD_ROW = {
    "id": "r1",
    "query": "cheap flights to lisbon",
    "bidword": "lisbon flights",
    "selling_points": ["Fares from $59 one way", "Free 23 kg bag", "4.6/5 from 8,000 reviews"],
    "landing_page": "Fly to Lisbon from $59 one way with a free 23 kg bag. Rated 4.6/5 from 8,000 reviews.",
    "category": "travel",
    "lang": "en",
}


@pytest.fixture
def good_row() -> dict:
    return copy.deepcopy(GOOD_ROW)
