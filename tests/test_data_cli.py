"""`python -m relate_ray.data validate`: a summary for good files, FILE:LINE lines for bad ones."""

import json

import pytest

from relate_ray.data.__main__ import main


def write_lines(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_good_file_exits_zero_with_summary(tmp_path, capsys, good_row):
    rows = [dict(good_row, id=f"r{i}") for i in range(3)]
    path = tmp_path / "good.jsonl"
    write_lines(path, [json.dumps(r).encode() for r in rows])
    code, out, err = run(capsys, "validate", str(path))
    assert code == 0 and err == ""
    assert "3 rows, 3 good, 0 bad" in out and "en 3" in out and "travel 3" in out


def test_bad_rows_are_named_by_file_line_and_field(tmp_path, capsys, good_row):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [
        json.dumps(good_row).encode(),
        b"{not json",
        b"[1, 2]",
        json.dumps(dict(good_row, id="r2", query=None)).encode(),
        b"\xff\xfe\xfd",
        json.dumps(dict(good_row, id="r3", lang="de")).encode(),
        json.dumps(good_row).encode(),
    ])
    code, out, err = run(capsys, "validate", str(path))
    lines = err.strip().splitlines()
    assert code == 1
    assert lines[0].startswith(f"{path}:2: invalid JSON")
    assert lines[1] == f"{path}:3: row is not an object (got list)"
    assert lines[2] == f"{path}:4: field 'query': missing or null"
    assert lines[3].startswith(f"{path}:5: invalid UTF-8")
    assert lines[4].startswith(f"{path}:6: field 'lang': unknown language 'de'")
    assert lines[5] == f"{path}:7: field 'id': duplicate id 'r1' (first at line 1)"
    assert "7 rows, 1 good, 6 bad" in out
    assert "Traceback" not in err


def test_only_first_twenty_bad_rows_then_a_count(tmp_path, capsys):
    path = tmp_path / "many.jsonl"
    write_lines(path, [b"{}"] * 25)
    code, _, err = run(capsys, "validate", str(path))
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 21
    assert lines[-1] == "... and 5 more bad rows"


def _file(tmp_path, name, content: bytes | None):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("name, content, fragment", [
    ("missing.jsonl", None, "no such file or directory"),
    ("empty.jsonl", b"", "empty (no rows)"),
    ("blank.jsonl", b"\n\n  \n", "empty (no rows)"),
    ("notes.txt", b"hi", "unknown format '.txt'"),
    ("broken.parquet", b"not parquet", "not a readable Parquet file"),
    ("header_only.csv", b"id,query\n", "missing columns: bidword, selling_points, category, lang"),
])
def test_file_level_problems_are_one_line(tmp_path, capsys, name, content, fragment):
    path = _file(tmp_path, name, content)
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err and str(path) in err


def test_a_plain_directory_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 1 and err.strip() == f"error: {tmp_path}: is a directory, not a data file or a Hugging Face datasets folder"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_synth_output_validates_and_is_deterministic(tmp_path, capsys, lang):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run(capsys, "synth", "--n", "300", "--lang", lang, "--seed", "5", "--out", str(first))[0] == 0
    assert run(capsys, "synth", "--n", "300", "--lang", lang, "--seed", "5", "--out", str(second))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    code, out, err = run(capsys, "validate", str(first))
    assert code == 0 and err == "" and f"300 rows, 300 good, 0 bad" in out and f"{lang} 300" in out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_synth_writes_other_formats_that_validate(tmp_path, capsys, suffix):
    path = tmp_path / f"zh{suffix}"
    assert run(capsys, "synth", "--n", "50", "--lang", "zh", "--seed", "1", "--out", str(path))[0] == 0
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0 and "50 rows, 50 good" in out


def test_synth_rejects_an_unwritable_format(tmp_path, capsys):
    code, _, err = run(capsys, "synth", "--n", "5", "--out", str(tmp_path / "x.txt"))
    assert code == 2 and "use one of .jsonl, .csv, .parquet" in err
