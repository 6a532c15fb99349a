"""Validated reading of request files: the stream training uses and the report `validate` prints.

Both go through `scan_requests`, so the CLI and the trainer agree on every row. Bad rows are either
skipped (counted, the first few kept for the report) or stop the read, by the caller's choice.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from relate_ray.data.readers import DataFileError, iter_raw_rows
from relate_ray.data.schema import AdRequest
from relate_ray.data.validate import RowProblem, check_row

OnBadRow = Literal["skip", "stop"]


class BadRowError(DataFileError):
    """Raised when `on_bad_row='stop'` meets a bad row; the message names FILE:LINE and the field."""


@dataclass
class ScanReport:
    """What a pass over a file found. `shown` keeps one line for each of the first `max_shown` bad rows."""

    source: str
    max_shown: int = 20
    rows: int = 0
    good: int = 0
    bad: int = 0
    shown: list[str] = field(default_factory=list)
    languages: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)

    def add_bad_row(self, problems: list[RowProblem]) -> None:
        self.bad += 1
        if len(self.shown) < self.max_shown:
            self.shown.append(format_row_problems(problems))

    @property
    def not_shown(self) -> int:
        return self.bad - len(self.shown)


def format_row_problems(problems: list[RowProblem]) -> str:
    """One line for one bad row: `FILE:LINE: field 'a': problem; field 'b': problem`."""
    return f"{problems[0].where}: " + "; ".join(p.what for p in problems)


def scan_requests(
    path: str | os.PathLike[str],
    on_bad_row: OnBadRow = "skip",
    report: ScanReport | None = None,
) -> Iterator[AdRequest]:
    """Yield the good requests of a file; record every row's fate in `report`.

    Raises DataFileError for file-level problems (including a file with no rows) and BadRowError on
    the first bad row when on_bad_row == 'stop'. Duplicate ids are bad rows.
    """
    if on_bad_row not in ("skip", "stop"):
        raise ValueError(f"on_bad_row must be 'skip' or 'stop', got {on_bad_row!r}")
    source = str(path)
    report = report if report is not None else ScanReport(source)
    first_line_of_id: dict[str, int] = {}
    for raw in iter_raw_rows(Path(path)):
        report.rows += 1
        if raw.problem is not None:
            problems = [RowProblem(source, raw.line, None, raw.problem)]
            request = None
        else:
            request, found = check_row(raw.row)
            problems = [RowProblem(source, raw.line, f, p) for f, p in found]
            if request is not None and request.id in first_line_of_id:
                problems = [RowProblem(source, raw.line, "id",
                                       f"duplicate id {request.id!r} (first at line {first_line_of_id[request.id]})")]
                request = None
        if request is None:
            report.add_bad_row(problems)
            if on_bad_row == "stop":
                raise BadRowError(format_row_problems(problems))
            continue
        first_line_of_id[request.id] = raw.line
        report.good += 1
        report.languages[request.lang] += 1
        report.categories[request.category] += 1
        yield request
    if report.rows == 0:
        raise DataFileError(f"{source}: empty (no rows)")


def load_requests(path: str | os.PathLike[str], on_bad_row: OnBadRow = "skip") -> tuple[list[AdRequest], ScanReport]:
    """All good requests of a file as a list, plus the scan report."""
    report = ScanReport(str(path))
    requests = list(scan_requests(path, on_bad_row, report))
    if not requests:
        first = "; ".join(report.shown[:2])
        raise DataFileError(f"{path}: no usable row ({report.bad} bad of {report.rows}; first: {first}); "
                            f"see python -m relate_ray.data validate {path}")
    return requests, report
