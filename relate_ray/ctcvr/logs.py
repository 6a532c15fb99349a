"""Impression logs for the CTCVR model: reading and validating rows, and the held-out split.

A row is one impression: `query`, `bidword`, `category`, `title`, `description`, `click` (0/1),
`conversion` (0/1, only with a click), optionally `request_id` (the split key; the query otherwise).
The simulator writes this schema (relate_ray.sim.history); a user's own logs in it work the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from relate_ray.data.readers import DataFileError

TEXT_FIELDS = ("query", "bidword", "category", "title", "description")


@dataclass
class ImpressionLog:
    """Column lists of the good rows, plus the problems of the bad ones (first 20 kept)."""

    request_id: list[str] = field(default_factory=list)
    query: list[str] = field(default_factory=list)
    bidword: list[str] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    click: list[int] = field(default_factory=list)
    conversion: list[int] = field(default_factory=list)
    bad_rows: int = 0
    shown: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.click)


def _row_problem(row) -> str | None:
    if not isinstance(row, dict):
        return "row is not an object"
    for name in TEXT_FIELDS:
        value = row.get(name)
        if not isinstance(value, str) or (name != "description" and not value.strip()):
            return f"field '{name}': expected a non-empty string"
    for name in ("click", "conversion"):
        if row.get(name) not in (0, 1):  # JSON true/false are accepted as 1/0
            return f"field '{name}': expected 0 or 1, got {row.get(name)!r}"
    if row["conversion"] and not row["click"]:
        return "field 'conversion': a conversion without a click"
    return None


def read_impressions(path: str | os.PathLike[str], max_shown: int = 20) -> ImpressionLog:
    """Read a JSONL impression log; bad rows are skipped and reported as FILE:LINE lines."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    log = ImpressionLog()
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
                problem = _row_problem(row)
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                problem = f"unreadable row ({type(err).__name__})"
            if problem:
                log.bad_rows += 1
                if len(log.shown) < max_shown:
                    log.shown.append(f"{path}:{line_no}: {problem}")
                continue
            log.request_id.append(str(row.get("request_id") or row["query"]))
            for name in TEXT_FIELDS:
                getattr(log, name).append(row[name])
            log.click.append(int(row["click"]))
            log.conversion.append(int(row["conversion"]))
    if not len(log):
        raise DataFileError(f"{path}: no usable impression rows ({log.bad_rows} bad)")
    return log


def is_held_out(request_id: str, share: float, seed: int) -> bool:
    """Deterministic split by request: a request's impressions are all train or all held out."""
    digest = hashlib.sha256(f"{seed}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
