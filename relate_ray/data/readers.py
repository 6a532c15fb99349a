"""Streaming readers for request files: JSONL, CSV, Parquet and Hugging Face `datasets` folders.

Each reader yields `RawRow`s (1-based line or row number, the raw dict, or a parse problem) one at a
time, so a 400,000-row file is never held in memory twice. File-level trouble (missing, a directory,
an unknown format, an unreadable Parquet file, missing CSV columns) raises `DataFileError` whose
message is the one line a user sees.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relate_ray.data.schema import OPTIONAL_FIELDS, REQUIRED_FIELDS

# One JSONL line longer than this is certainly not an ad request (and could exhaust memory).
MAX_LINE_BYTES = 1 << 20
_BATCH_ROWS = 2048


class DataFileError(Exception):
    """A whole file cannot be read; str(error) is a complete one-line message naming the file."""


@dataclass(frozen=True)
class RawRow:
    """One row as read: `row` when it parsed, else `problem` (and row None)."""

    line: int
    row: Any = None
    problem: str | None = None


def detect_format(path: Path) -> str:
    """'jsonl', 'csv', 'parquet' or 'hf' (a datasets folder); raises DataFileError otherwise."""
    if not path.exists():
        raise DataFileError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return "hf"
        if (path / "dataset_dict.json").exists():
            raise DataFileError(f"{path}: a DatasetDict folder; point at one split's folder instead")
        raise DataFileError(f"{path}: is a directory, not a data file or a Hugging Face datasets folder")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".parquet"):
        return suffix[1:]
    raise DataFileError(
        f"{path}: unknown format '{suffix or '(no extension)'}' "
        "(expected .jsonl, .csv, .parquet or a Hugging Face datasets folder)"
    )


def iter_raw_rows(path: str | os.PathLike[str]) -> Iterator[RawRow]:
    """Yield every row of a request file, whatever its format."""
    path = Path(path)
    fmt = detect_format(path)
    if not os.access(path, os.R_OK):
        raise DataFileError(f"{path}: permission denied")
    reader = {"jsonl": _iter_jsonl, "csv": _iter_csv, "parquet": _iter_parquet, "hf": _iter_hf}[fmt]
    yield from reader(path)


def _iter_jsonl(path: Path) -> Iterator[RawRow]:
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield RawRow(line_no, problem=f"line too long ({len(raw)} bytes > {MAX_LINE_BYTES})")
                continue
            if not raw.strip():
                continue  # blank lines (a trailing newline, a spacer) carry no row
            if b"\x00" in raw:
                yield RawRow(line_no, problem="contains a NUL byte")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRow(line_no, problem=f"invalid UTF-8 (byte {err.start})")
                continue
            try:
                yield RawRow(line_no, row=json.loads(text))
            except json.JSONDecodeError as err:
                hint = " (a JSON array? expected one object per line)" if text.lstrip()[:1] == "[" else ""
                yield RawRow(line_no, problem=f"invalid JSON: {err.msg} at column {err.colno}{hint}")
            except RecursionError:
                yield RawRow(line_no, problem="invalid JSON: nested too deeply")


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise DataFileError(f"{path}: missing columns: {', '.join(missing)}")


def _split_selling_points(cell: str) -> Any:
    """CSV cells hold selling points as a JSON list, or as text separated by '|'."""
    text = cell.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # reported by the validator as a string where a list belongs
    return [part for part in (p.strip() for p in text.split("|")) if part] if text else []


def _iter_csv(path: Path) -> Iterator[RawRow]:
    # surrogateescape keeps undecodable bytes visible to the validator, which names the row.
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataFileError(f"{path}:1: unreadable CSV header: {err}") from err
        header = [name.strip().lstrip("\ufeff") for name in header]
        _check_columns(path, header)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield RawRow(start, problem=f"malformed CSV: {err}")
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                yield RawRow(start, problem=f"expected {len(header)} cells, got {len(cells)}")
                continue
            row: dict[str, Any] = dict(zip(header, cells))
            if "selling_points" in row:
                row["selling_points"] = _split_selling_points(row["selling_points"])
            for name in OPTIONAL_FIELDS:
                if row.get(name) == "":
                    row[name] = None
            yield RawRow(start, row=row)


def _iter_parquet(path: Path) -> Iterator[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataFileError(f"{path}: not a readable Parquet file ({err})") from err
    _check_columns(path, parquet.schema_arrow.names)
    line = 0
    try:
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
            for row in batch.to_pylist():
                line += 1
                yield RawRow(line, row=row)
    except (pa.ArrowException, OSError) as err:
        raise DataFileError(f"{path}: Parquet data unreadable after row {line} ({err})") from err


def _iter_hf(path: Path) -> Iterator[RawRow]:
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as err:  # datasets raises many types; all mean "not a loadable folder"
        raise DataFileError(f"{path}: not a loadable Hugging Face datasets folder ({err})") from err
    if not isinstance(dataset, datasets.Dataset):
        raise DataFileError(f"{path}: a DatasetDict folder; point at one split's folder instead")
    _check_columns(path, dataset.column_names)
    line = 0
    # Arrow-backed and memory-mapped: batches are read on demand, no copy of the table.
    for batch in dataset.iter(batch_size=_BATCH_ROWS):
        names = list(batch)
        for values in zip(*(batch[name] for name in names)):
            line += 1
            yield RawRow(line, row=dict(zip(names, values)))
