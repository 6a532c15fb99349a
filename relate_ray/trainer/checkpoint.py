"""Checkpoints: checkpoints/step_<N>/ holds a Hugging Face model (loadable by transformers and vLLM
as is), the DeepSpeed state for exact resume (optimizer, engine) and trainer_state.json (step, data
position, weight version) and reward_state.json (stateful rewards: the diversity n-gram window).
Written under a hidden name and renamed, so a killed save leaves no
step folder that looks complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import ray

STATE_FILE = "trainer_state.json"
REWARD_STATE_FILE = "reward_state.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def save_checkpoint(out_dir: Path, step: int, learners: list, tokenizer_path: str, state: dict,
                    reward_state: dict | None = None) -> Path:
    root = out_dir / "checkpoints"
    final = root / f"step_{step}"
    partial = root / f".step_{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    ray.get([learner.save_checkpoint.remote(str(partial), tokenizer_path, state) for learner in learners])
    (partial / REWARD_STATE_FILE).write_text(json.dumps(reward_state or {}))
    (partial / STATE_FILE).write_text(json.dumps(state, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    return final


def latest_checkpoint(out_dir: Path) -> tuple[Path, dict] | None:
    """The newest complete step folder and its trainer state, or None."""
    root = out_dir / "checkpoints"
    steps = sorted(((int(m.group(1)), p) for p in root.glob("step_*") if (m := _STEP_DIR.match(p.name))
                    and (p / STATE_FILE).exists()), reverse=True)
    if not steps:
        return None
    folder = steps[0][1]
    return folder, json.loads((folder / STATE_FILE).read_text())


def load_reward_state(folder: Path) -> dict:
    """The checkpoint's reward state ({} for checkpoints written before it existed)."""
    path = folder / REWARD_STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}
