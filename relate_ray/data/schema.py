"""The ad request: the one record type every reader, generator and trainer shares.

A request is the policy's input x = (query, bidword, selling points, landing page) from the paper
(section 3.1), plus bookkeeping (id, category, lang) and an optional human-written reference ad.
Validation lives in `relate_ray.data.validate`; this module only says what a valid request is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

LANGS = ("en", "zh")

# Sane upper bounds (characters). A search query is a few words; a landing-page excerpt can be long,
# but a prompt must still fit a small model's context, so anything beyond these is a data error.
MAX_LEN = {
    "id": 128,
    "query": 256,
    "bidword": 128,
    "selling_point": 300,
    "landing_page": 8000,
    "category": 64,
    "ref_title": 200,
    "ref_description": 600,
}
MIN_SELLING_POINTS = 1
MAX_SELLING_POINTS = 12

REQUIRED_FIELDS = ("id", "query", "bidword", "selling_points", "category", "lang")
OPTIONAL_FIELDS = ("landing_page", "ref_title", "ref_description")
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS


@dataclass(frozen=True)
class AdRequest:
    """One search-ad generation request (one prompt of the policy)."""

    id: str
    query: str
    bidword: str
    selling_points: list[str]
    category: str
    lang: str
    landing_page: str | None = None
    ref_title: str | None = None
    ref_description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready row; None optionals and the empty extra are left out."""
        row = {k: getattr(self, k) for k in ALL_FIELDS if getattr(self, k) is not None}
        row["selling_points"] = list(self.selling_points)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "AdRequest":
        """Build from an already validated row (see `relate_ray.data.validate.check_row`)."""
        known = {k: row.get(k) for k in ALL_FIELDS}
        known["selling_points"] = list(known["selling_points"])
        return cls(**known)

    def replace(self, **changes: Any) -> "AdRequest":
        return dataclasses.replace(self, **changes)
