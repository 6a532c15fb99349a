"""What the tests that train under DeepSpeed ZeRO-2 share (tests/test_clipped_adamw.py,
tests/test_zero_flat_gradient.py): a rank joining a gloo group through DeepSpeed, the small model
they train, and running such a test's script in a process of its own (DeepSpeed's process group
and the state it keeps would outlive the test in pytest's process). Importable by those scripts:
`run_script` puts this folder on their path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

TESTS_DIR = Path(__file__).resolve().parent


def join_gloo_group(rank: int, world: int, port: int) -> None:
    """This process as `rank` of `world` in a gloo group at 127.0.0.1:`port`, through DeepSpeed (its
    shared-memory op, which nothing here uses, not built)."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    from relate_ray.workers.extension_builds import skip_unused_shm_op

    skip_unused_shm_op()
    import deepspeed

    deepspeed.init_distributed(dist_backend="gloo")


def small_model() -> torch.nn.Module:
    """16 -> 64 -> 8 with a tanh between, the same weights at every call."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh(), torch.nn.Linear(64, 8))


def run_script(source: str, folder: Path, *args: str, timeout: int = 300) -> None:
    """Run `source` as a script in a process of its own (in `folder`, with `args`); it passes when it
    exits 0 with "ok" as its last output."""
    script = folder / "zero2_script.py"
    script.write_text(source)
    path = [str(TESTS_DIR)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(path)})
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
