"""DeepSpeed's shared-memory op, which only inference calls, is not built. A build lock left by a
killed extension build is removed; one of a build in progress is not (a learner would otherwise wait
on the dead one forever, at 0 % CPU). Every learner builds with the environment's ninja, whatever
ninja comes first on the PATH it was started with."""

import os
import shutil
import time

from relate_ray.workers.extension_builds import clear_stale_locks, skip_unused_shm_op, use_environment_ninja


def test_deepspeed_starts_without_building_its_shm_op(monkeypatch):
    # Before the change DeepSpeed's torch backend compiled it here (or loaded the cached build).
    import deepspeed.ops
    from deepspeed.comm.torch import build_shm_op

    monkeypatch.setitem(deepspeed.ops.__compatible_ops__, "deepspeed_shm_comm", True)  # restored after
    assert skip_unused_shm_op() == "deepspeed_shm_comm"
    assert build_shm_op() is None


def test_only_a_stale_build_lock_is_removed(tmp_path):
    stale = tmp_path / "py311_cpu" / "deepspeed_shm_comm" / "lock"
    fresh = tmp_path / "py311_cpu" / "other_op" / "lock"
    built = tmp_path / "py311_cpu" / "deepspeed_shm_comm" / "deepspeed_shm_comm.so"
    for path in (stale, fresh, built):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(built, (old, old))
    assert clear_stale_locks(tmp_path, max_age_s=900) == [stale]
    assert not stale.exists() and fresh.exists() and built.exists()


def _fake_ninja(folder):
    folder.mkdir()
    ninja = folder / "ninja"
    ninja.write_text("#!/bin/sh\n")
    ninja.chmod(0o755)
    return ninja


def test_the_environments_ninja_comes_first_whatever_the_path_held(tmp_path, monkeypatch):
    # Two ninja versions hash build commands differently: one found first on PATH here and the
    # environment's there would rebuild DeepSpeed's op in turns.
    other, ours = _fake_ninja(tmp_path / "system_bin"), _fake_ninja(tmp_path / "venv_bin")
    monkeypatch.setenv("PATH", f"{other.parent}{os.pathsep}{ours.parent}")
    assert use_environment_ninja(ours.parent) == str(ours)
    assert shutil.which("ninja") == str(ours)
    path = os.environ["PATH"]
    assert use_environment_ninja(ours.parent) == str(ours) and os.environ["PATH"] == path  # once is enough
    assert use_environment_ninja(tmp_path / "no_bin") is None and os.environ["PATH"] == path
