"""The weight-sync interface: one abstract pair (publisher, loader), backends behind it.

    learner rank 0                                  each RolloutWorker (vLLM engine)
    --------------                                  --------------------------------
    publisher.publish(named_tensors, version) ──►  manifest (small: paths / group info)
          │  bucketed: ~bucket_mb per bucket            │
          │                                             ▼
          └── tensors via the backend's medium ──►  engine.collective_rpc("relate_load_weights" |
              (shm: shared-memory files;              "relate_receive_weights")  # ONE call per sync
               gloo / nccl: a broadcast group)               └─► model_runner.reload_weights(...)
    publisher.release(version)   # after every worker confirmed

Never one RPC per parameter (OpenRLHF issue 533): a sync costs one RPC per rollout worker, and the
tensors travel through the backend's medium in a few large buckets. `shm` (sync/shm.py) finishes
publishing before the engines read; the collective backends (sync/broadcast.py) stream, so
publisher and receivers run at the same time (`streams = True`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch


@dataclass
class WeightManifest:
    """What a rollout worker needs to load one published version (kept small: it crosses RPCs)."""

    backend: str
    version: int
    buckets: list[str] = field(default_factory=list)
    num_tensors: int = 0
    num_bytes: int = 0


class WeightPublisher(ABC):
    """Learner side of a backend."""

    name: str
    streams: bool = False  # True: receivers must be receiving while publish() runs

    @abstractmethod
    def publish(self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int,
                rounding_key: int | None = None) -> WeightManifest:
        """Make this version's weights available to loaders; returns the manifest to send them.
        rounding_key: what the stochastic rounding draws are seeded with besides the run seed (the
        learner passes its optimizer step, so a resumed run rounds exactly as an uninterrupted one);
        None: the version."""

    @abstractmethod
    def release(self, version: int) -> None:
        """Free what `publish` allocated for `version` (all loaders are done with it)."""

    def close(self) -> None:
        """Free everything at the end of the run."""
