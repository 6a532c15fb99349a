"""Checkpoint folder bookkeeping: which folder resume picks, pruning, and the free-space check."""

import json

import pytest
import torch
from safetensors.torch import save_file

from relate_ray.trainer.checkpoint import (RESUME_DIR, STATE_FILE, CheckpointSpaceError, check_free_space,
                                           checkpoint_nbytes, latest_checkpoint, model_numel, prune_checkpoints)


def make_step(root, step, resumable=True):
    folder = root / "checkpoints" / f"step_{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / STATE_FILE).write_text(json.dumps({"step": step}))
    if resumable:
        (folder / RESUME_DIR).mkdir()
        (folder / RESUME_DIR / "optim_states.pt").write_bytes(b"adam")
    return folder


def test_resume_picks_the_newest_folder_with_optimizer_state(tmp_path):
    make_step(tmp_path, 2)
    make_step(tmp_path, 10)  # numerically newest, not lexically
    make_step(tmp_path, 12, resumable=False)
    (tmp_path / "checkpoints" / ".step_14.partial").mkdir()  # a save that never finished
    folder, state = latest_checkpoint(tmp_path)
    assert folder.name == "step_10" and state == {"step": 10}


def test_no_checkpoint_folder_means_nothing_to_resume(tmp_path):
    assert latest_checkpoint(tmp_path) is None


def test_pruning_keeps_newest_resume_states_and_newest_folders(tmp_path):
    for step in (5, 10, 15, 20):
        make_step(tmp_path, step)
    root = tmp_path / "checkpoints"
    prune_checkpoints(root, keep=3, keep_resume_states=1)
    assert sorted(p.name for p in root.iterdir()) == ["step_10", "step_15", "step_20"]
    assert (root / "step_20" / RESUME_DIR).is_dir()
    for name in ("step_10", "step_15"):
        assert not (root / name / RESUME_DIR).exists() and (root / name / "model.safetensors").exists()
    assert latest_checkpoint(tmp_path)[0].name == "step_20"


def test_zero_keeps_everything(tmp_path):
    for step in (1, 2, 3):
        make_step(tmp_path, step)
    prune_checkpoints(tmp_path / "checkpoints", keep=0, keep_resume_states=0)
    assert all((tmp_path / "checkpoints" / f"step_{s}" / RESUME_DIR).is_dir() for s in (1, 2, 3))


def test_size_estimate_counts_stored_parameters(tmp_path):
    save_file({"embed": torch.zeros(10, 4), "norm": torch.zeros(4)}, str(tmp_path / "model.safetensors"))
    assert model_numel(tmp_path) == 44
    # fp32: HF model + DeepSpeed module copy (4 + 4) + fp32 master and two Adam moments (12)
    assert checkpoint_nbytes(44, 4) == 44 * 20


def test_too_little_disk_is_one_line_naming_the_folder(tmp_path):
    check_free_space(tmp_path / "run", need=10, free=10)
    with pytest.raises(CheckpointSpaceError) as err:
        check_free_space(tmp_path / "run", need=2_700_000_000, free=1_200_000_000)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "run" / "checkpoints") in message
    assert "2.7 GB" in message and "1.2 GB free" in message


def test_too_little_disk_skips_a_periodic_checkpoint_and_fails_the_final_one(tmp_path, caplog):
    # The controller's checkpoint policy alone: a controller whose checkpoint needs an exabyte never
    # reaches its actors (there are none here), so a skip returns before writing anything.
    from relate_ray.trainer.controller import Controller
    from relate_ray.trainer.sampler import PromptSampler

    controller = object.__new__(Controller)
    controller.out_dir, controller.checkpoint_nbytes, controller.version = tmp_path, 10**18, 3
    controller.sampler = PromptSampler([object()], seed=0)
    with caplog.at_level("WARNING"):
        controller.checkpoint(4, final=False)
    assert "checkpoint step_4 skipped" in caplog.text and not (tmp_path / "checkpoints").exists()
    with pytest.raises(CheckpointSpaceError, match=str(tmp_path)):
        controller.checkpoint(5, final=True)
