"""CSV, Parquet and datasets-folder readers feed the same validator as JSONL."""

import json

import pytest

from relate_ray.data.loading import BadRowError, load_requests
from relate_ray.data.schema import AdRequest
from relate_ray.data.writers import write_requests


def requests_from(good_row, n=4):
    return [AdRequest.from_dict(dict(good_row, id=f"r{i}")) for i in range(n)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_round_trip_every_format(tmp_path, good_row, suffix):
    original = requests_from(good_row)
    path = tmp_path / f"data{suffix}"
    write_requests(path, original)
    loaded, report = load_requests(path)
    assert loaded == original and report.good == 4 and report.bad == 0


def test_datasets_folder(tmp_path, good_row):
    import datasets

    rows = [r.to_dict() for r in requests_from(good_row, 3)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    loaded, report = load_requests(tmp_path / "ds")
    assert [r.id for r in loaded] == ["r0", "r1", "r2"] and report.bad == 0


def test_csv_pipe_separated_selling_points_and_bad_rows(tmp_path):
    path = tmp_path / "ads.csv"
    path.write_bytes(
        b"id,query,bidword,selling_points,category,lang\n"
        b"a,yoga mats,yoga mat,Non-slip|6 mm thick,ecommerce,en\n"
        b"b,,yoga mat,Non-slip,ecommerce,en\n"
        b"c,yoga,yoga,x,ecommerce\n"
        b"d,caf\xe9,yoga,x,ecommerce,en\n"
    )
    loaded, report = load_requests(path)
    assert [r.id for r in loaded] == ["a"] and loaded[0].selling_points == ["Non-slip", "6 mm thick"]
    assert report.shown == [
        f"{path}:3: field 'query': empty",
        f"{path}:4: expected 6 cells, got 5",
        f"{path}:5: field 'query': invalid UTF-8",
    ]


def test_stop_mode_raises_on_the_first_bad_row(tmp_path, good_row):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good_row) + "\n" + json.dumps(dict(good_row, id="x", bidword="")) + "\n")
    with pytest.raises(BadRowError, match=r"d.jsonl:2: field 'bidword': empty"):
        load_requests(path, on_bad_row="stop")


def test_large_jsonl_streams(tmp_path, good_row):
    path = tmp_path / "big.jsonl"
    with open(path, "w") as handle:
        for i in range(20_000):
            handle.write(json.dumps(dict(good_row, id=f"r{i}")) + "\n")
    loaded, report = load_requests(path)
    assert report.good == 20_000 and loaded[-1].id == "r19999"
