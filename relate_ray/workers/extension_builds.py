"""torch C++ extension builds in the learner: DeepSpeed's one op a learner does not need, not built;
stale build locks, which would make a learner wait forever; and the one ninja every process builds with.

DeepSpeed compiles its CPU ops with torch's JIT extension loader the first time a process needs them
on a machine (and again when the build command changes). On CPU `init_distributed` used to build
its shared-memory op (`deepspeed_shm_comm`), which training never calls; it is skipped now, and the
other two guard any op a DeepSpeed version or setting does build. The builder holds a lock file for
the build; a process killed mid-build (a run stopped with Ctrl-C or kill while it starts) leaves the
file, and every later learner then waits on it at 0 % CPU, with no message. Seen here: a zh run
waited 17 minutes behind a lock left by a run killed 20 minutes before. A build takes one to three
minutes on 2 cores, so a lock older than `max_age_s` is a dead builder's.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def clear_stale_locks(root: Path | None = None, max_age_s: float = 900.0) -> list[Path]:
    """Remove extension build locks under `root` (torch's build root by default) untouched for more
    than `max_age_s`; returns the ones removed. A fresh lock (a build in progress) is left alone."""
    if root is None:
        from torch.utils.cpp_extension import get_default_build_root

        root = Path(get_default_build_root())
    removed = []
    for lock in root.glob("*/*/lock"):
        age = time.time() - lock.stat().st_mtime
        if age > max_age_s:
            log.warning("removing %s, a build lock %.0f min old (its build was killed); the extension is rebuilt",
                        lock, age / 60)
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


def use_environment_ninja(bin_dir: Path | None = None) -> str | None:
    """Put this interpreter's bin folder (`bin_dir`) first on PATH when it holds ninja, so every
    learner builds DeepSpeed's ops with the same ninja; returns the ninja found, or None if there is none.

    ninja 1.12 changed the hash it logs of each build command (`.ninja_log`), so a build made by
    another ninja version looks stale and is redone. The environment has ninja 1.13 (a dependency of
    deepspeed) and a machine may have an older one on PATH: a process started from an activated
    environment (or a Ray node started with `ray start` from it) used one, a plain
    `.venv/bin/python -m relate_ray.launch` the other, and each rebuilt the op the other had built
    (40-110 s, 75 CPU-seconds on 2 cores; three builds in one run of the test suite).
    """
    bin_dir = Path(sys.executable).parent if bin_dir is None else bin_dir
    ninja = bin_dir / "ninja"
    if not (ninja.is_file() and os.access(ninja, os.X_OK)):
        return None
    if shutil.which("ninja") != str(ninja):
        os.environ["PATH"] = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    return str(ninja)


def skip_unused_shm_op() -> str | None:
    """Keep DeepSpeed from building its shared-memory all-reduce op in `init_distributed`; returns
    the op's name, or None where this accelerator has no such op.

    On CPU DeepSpeed's torch backend builds `deepspeed_shm_comm` when it starts, but only its
    `inference_all_reduce` (tensor-parallel inference) calls the op: ZeRO-2 reduces gradients
    through torch.distributed. The build is C++ compiled on the spot, 40-110 s (75 CPU-seconds on
    2 cores) the first time a machine starts a learner, every learner waiting on its lock. DeepSpeed
    asks `deepspeed.ops.__compatible_ops__` whether to build it, a dict kept for edits like this one.
    """
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is None:
        return None
    deepspeed.ops.__compatible_ops__[builder.NAME] = False
    return builder.NAME
