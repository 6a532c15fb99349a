"""Row-level validation of ad requests: what is wrong, in which field, said in one line.

`check_row` turns one raw row (a dict from any reader) into an `AdRequest` or a list of problems.
Readers attach the file and 1-based line, so every problem prints as `FILE:LINE: field 'x': problem`.
Training and `python -m relate_ray.data validate` both go through here, so they agree on what a bad
row is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relate_ray.data.schema import (
    LANGS,
    MAX_LEN,
    MAX_SELLING_POINTS,
    MIN_SELLING_POINTS,
    AdRequest,
)


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one row (or with the whole file when `line` is None)."""

    source: str
    line: int | None
    field: str | None
    problem: str

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    @property
    def what(self) -> str:
        return f"field '{self.field}': {self.problem}" if self.field else self.problem

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _type_name(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _text_problem(value: Any, field_name: str, limit_key: str, required: bool) -> str | None:
    """What is wrong with one text field, or None if it is fine."""
    if value is None:
        return "missing or null" if required else None
    if not isinstance(value, str):
        return f"expected a string, got {_type_name(value)}"
    if "\x00" in value:
        return "contains a NUL byte"
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        # Readers decode with surrogateescape, so undecodable bytes surface here as lone surrogates.
        return "invalid UTF-8"
    if required and not value.strip():
        return "empty"
    limit = MAX_LEN[limit_key]
    if len(value) > limit:
        return f"too long ({len(value)} > {limit} characters)"
    return None


def _selling_points_problem(value: Any) -> str | None:
    if value is None:
        return "missing or null"
    if not isinstance(value, list):
        return f"expected a list of strings, got {_type_name(value)}"
    if not MIN_SELLING_POINTS <= len(value) <= MAX_SELLING_POINTS:
        return f"expected {MIN_SELLING_POINTS} to {MAX_SELLING_POINTS} items, got {len(value)}"
    for i, item in enumerate(value):
        problem = _text_problem(item, "selling_points", "selling_point", required=True)
        if problem:
            return f"item {i}: {problem}"
    return None


def check_row(row: Any) -> tuple[AdRequest | None, list[tuple[str | None, str]]]:
    """Validate one raw row.

    Returns (request, []) when the row is good, else (None, [(field or None, problem), ...]).
    An integer id is accepted and turned into a string (spreadsheets and databases make them).
    """
    if not isinstance(row, dict):
        return None, [(None, f"row is not an object (got {_type_name(row)})")]
    problems: list[tuple[str | None, str]] = []
    clean: dict[str, Any] = {}

    raw_id = row.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    for name, required in (
        ("id", True), ("query", True), ("bidword", True), ("category", True),
        ("landing_page", False), ("ref_title", False), ("ref_description", False),
    ):
        value = raw_id if name == "id" else row.get(name)
        problem = _text_problem(value, name, name, required)
        if problem:
            problems.append((name, problem))
        else:
            clean[name] = value.strip() if isinstance(value, str) else None

    problem = _selling_points_problem(row.get("selling_points"))
    if problem:
        problems.append(("selling_points", problem))
    else:
        clean["selling_points"] = [s.strip() for s in row["selling_points"]]

    lang = row.get("lang")
    if lang not in LANGS:
        shown = "missing or null" if lang is None else f"unknown language {lang!r}"
        problems.append(("lang", f"{shown} (expected one of {', '.join(LANGS)})"))
    else:
        clean["lang"] = lang

    if problems:
        return None, problems
    return AdRequest.from_dict(clean), []
