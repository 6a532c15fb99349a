"""Checkpoints: checkpoints/step_<N>/ holds a Hugging Face model (loadable by transformers and vLLM
as is), the DeepSpeed state for exact resume (optimizer, engine) and trainer_state.json (step, data
position, weight version) and reward_state.json (stateful rewards: the diversity n-gram window).
No random state is stored: rollout sampling is reseeded from (seed, step) every step, so these are
all an exact resume needs (tests/test_training_e2e.py compares a resumed step with an uninterrupted one).

Written under a hidden name and renamed, so a killed or failed save leaves no step folder that looks
complete. The DeepSpeed state is most of a checkpoint (Adam keeps an fp32 master copy and two
moments: 3x the weights again), so only the newest `keep_resume_states` folders keep it; older ones
stay as Hugging Face models to evaluate, and `keep_checkpoints` bounds how many folders stay at all.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from pathlib import Path

from relate_ray.checkpoint_layout import REWARD_STATE_FILE, RESUME_DIR, STATE_FILE

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"^step_(\d+)$")
# Bytes per element a DeepSpeed ZeRO checkpoint adds per parameter besides its module copy: the fp32
# master partition and Adam's two fp32 moments.
_OPTIMIZER_BYTES_PER_PARAM = 3 * 4


class CheckpointSpaceError(Exception):
    """Too little free disk for a checkpoint; str(error) is the one line a user sees."""


def model_numel(folder: Path) -> int:
    """Parameters stored in a Hugging Face folder's safetensors files (headers only, nothing loaded)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    return total


def checkpoint_nbytes(numel: int, weight_bytes: int) -> int:
    """Size of one full checkpoint: the Hugging Face model and DeepSpeed's module copy (weight_bytes
    per parameter each) plus the ZeRO optimizer state (fp32 master + two Adam moments)."""
    return numel * (2 * weight_bytes + _OPTIMIZER_BYTES_PER_PARAM)


def check_free_space(out_dir: Path, need: int, free: int | None = None) -> None:
    """Raise CheckpointSpaceError unless the disk under out_dir has `need` bytes free."""
    probe = Path(out_dir)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free if free is None else free
    if free < need:
        raise CheckpointSpaceError(
            f"checkpoints: {Path(out_dir) / 'checkpoints'} needs about {need / 1e9:.1f} GB per checkpoint, "
            f"{free / 1e9:.1f} GB free (free some disk or point hydra.run.dir at a bigger one)")


def save_checkpoint(out_dir: Path, step: int, learners: list, tokenizer_path: str, state: dict,
                    reward_state: dict | None = None) -> Path:
    root = out_dir / "checkpoints"
    final = root / f"step_{step}"
    partial = root / f".step_{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    import ray  # here, not at the top: launch imports this module and must fail on a bad override fast

    try:
        ray.get([learner.save_checkpoint.remote(str(partial), tokenizer_path, state) for learner in learners])
        (partial / REWARD_STATE_FILE).write_text(json.dumps(reward_state or {}))
        (partial / STATE_FILE).write_text(json.dumps(state, indent=2))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a failed save (a full disk) must not keep its half
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    return final


def step_folders(root: Path) -> list[tuple[int, Path]]:
    """Complete step folders under checkpoints/, newest first."""
    return sorted(((int(m.group(1)), p) for p in root.glob("step_*") if (m := _STEP_DIR.match(p.name))
                   and (p / STATE_FILE).exists()), reverse=True)


def prune_checkpoints(root: Path, keep: int, keep_resume_states: int) -> None:
    """Delete all but the newest `keep` step folders and the resume state of all but the newest
    `keep_resume_states` (0: keep all)."""
    for index, (_, folder) in enumerate(step_folders(root)):
        if keep and index >= keep:
            shutil.rmtree(folder)
            log.info("removed old checkpoint %s (trainer.keep_checkpoints=%d)", folder.name, keep)
        elif keep_resume_states and index >= keep_resume_states and (folder / RESUME_DIR).exists():
            shutil.rmtree(folder / RESUME_DIR)
            log.info("removed the optimizer state of %s, kept its model (trainer.keep_resume_states=%d)",
                     folder.name, keep_resume_states)


def latest_checkpoint(out_dir: Path) -> tuple[Path, dict] | None:
    """The newest complete step folder that can be resumed from, and its trainer state, or None."""
    for _, folder in step_folders(out_dir / "checkpoints"):
        if (folder / RESUME_DIR).is_dir():
            return folder, json.loads((folder / STATE_FILE).read_text())
    return None


def load_reward_state(folder: Path) -> dict:
    """The checkpoint's reward state ({} for checkpoints written before it existed)."""
    path = folder / REWARD_STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}
