"""Writers for request files (JSONL, CSV, Parquet), atomic: a killed write leaves no half file."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from relate_ray.data.schema import ALL_FIELDS, AdRequest

WRITABLE_SUFFIXES = (".jsonl", ".csv", ".parquet")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` that is renamed onto it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
