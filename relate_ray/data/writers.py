"""Writers for request files (JSONL, CSV, Parquet), atomic: a killed write leaves no half file."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from relate_ray.data.schema import ALL_FIELDS, AdRequest
from relate_ray.fsutil import atomic_path

WRITABLE_SUFFIXES = (".jsonl", ".csv", ".parquet")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write dict rows as JSONL (UTF-8, one object per line); returns the row count."""
    count = 0
    with atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _write_csv(handle: IO[str], requests: Iterable[AdRequest]) -> None:
    writer = csv.DictWriter(handle, fieldnames=list(ALL_FIELDS))
    writer.writeheader()
    for request in requests:
        row = request.to_dict()
        row["selling_points"] = json.dumps(row["selling_points"], ensure_ascii=False)
        writer.writerow(row)


def write_requests(path: str | os.PathLike[str], requests: Iterable[AdRequest]) -> int:
    """Write requests in the format the suffix names; returns the row count."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ValueError(f"{path}: cannot write format '{suffix}' (use {', '.join(WRITABLE_SUFFIXES)})")
    if suffix == ".jsonl":
        return write_jsonl(path, (r.to_dict() for r in requests))
    requests = list(requests)
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                _write_csv(handle, requests)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist([{k: getattr(r, k) for k in ALL_FIELDS} for r in requests])
            pq.write_table(table, tmp)
    return len(requests)
