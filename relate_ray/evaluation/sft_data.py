"""The SFT baseline's training set: the historical ads with the best logged outcomes (the paper's
"online posterior samples with high click signals"), selected from the impression logs.

Per logged ad (request, title, description) the posterior rate of the chosen signal is
(events + k * mean) / (impressions + k), a Beta prior of strength k impressions at the log's mean
rate: with ~30 impressions an ad, one lucky conversion must not outrank a steady performer. A
request keeps its `per_request` best ads whose posterior beats `min_lift` x the log's mean.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from relate_ray.data.readers import DataFileError

SIGNALS = ("ctcvr", "ctr")


@dataclass(frozen=True)
class LoggedAd:
    request_id: str
    title: str
    description: str
    impressions: int
    clicks: int
    conversions: int
    posterior: float = 0.0


def aggregate_logs(rows: Iterable[dict]) -> list[LoggedAd]:
    """One LoggedAd per distinct (request_id, title, description) with its counts."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    for row in rows:
        c = counts.setdefault((row["request_id"], row["title"], row["description"]), [0, 0, 0])
        c[0] += 1
        c[1] += int(row["click"])
        c[2] += int(row["conversion"])
    return [LoggedAd(*key, *c) for key, c in counts.items()]


def select_best(ads: list[LoggedAd], signal: str = "ctcvr", prior_impressions: float = 200.0,
                per_request: int = 1, min_lift: float = 1.0) -> list[LoggedAd]:
    """Each request's best ads by posterior rate (see the module docstring), best first overall."""
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
    events = (lambda a: a.conversions) if signal == "ctcvr" else (lambda a: a.clicks)
    total = sum(a.impressions for a in ads)
    mean = sum(events(a) for a in ads) / total if total else 0.0
    scored = [LoggedAd(a.request_id, a.title, a.description, a.impressions, a.clicks, a.conversions,
                       (events(a) + prior_impressions * mean) / (a.impressions + prior_impressions)) for a in ads]
    by_request: dict[str, list[LoggedAd]] = {}
    for a in sorted(scored, key=lambda a: (-a.posterior, a.request_id, a.title)):
        kept = by_request.setdefault(a.request_id, [])
        if len(kept) < per_request and a.posterior > min_lift * mean:
            kept.append(a)
    return sorted((a for kept in by_request.values() for a in kept), key=lambda a: (-a.posterior, a.request_id))


def read_logs(path: Path) -> list[dict]:
    """The impression rows of a JSON-lines log; a malformed line is one error naming file and line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not all(k in row for k in ("request_id", "title", "description", "click", "conversion")):
                    raise KeyError("request_id, title, description, click and conversion")
            except (json.JSONDecodeError, KeyError) as err:
                raise DataFileError(f"{path}:{number}: not an impression row ({err})") from None
            rows.append(row)
    return rows
