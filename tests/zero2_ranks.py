"""What the tests that train under DeepSpeed ZeRO-2 share (tests/test_clipped_adamw.py,
tests/test_zero_flat_gradient.py): a rank joining a gloo group through DeepSpeed and the small model
they train. Imported by their scripts, which run in processes of their own (tests/own_process.py:
DeepSpeed's process group and the state it keeps would outlive the test in pytest's process)."""

from __future__ import annotations

import os

import torch


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

