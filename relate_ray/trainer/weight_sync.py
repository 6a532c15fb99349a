"""Driver side of weight sync: set the backend up once, then one `sync(version)` after every step.

shm: learner rank 0 writes the buckets, then every rollout worker loads them (one RPC each).
gloo / nccl: learner rank 0 broadcasts while every rollout worker receives, so both are issued
together. Either way a sync is a handful of RPCs, never one per parameter (relate_ray.sync.base).
"""

from __future__ import annotations

import logging

import ray

from relate_ray.sync.shm import default_shm_root

log = logging.getLogger(__name__)


class WeightSync:
    def __init__(self, backend: str, learner, rollout: list, run_id: str, dtype: str, bucket_mb: int,
                 timeout_s: float = 300.0, shm_root: str | None = None, rounding: str = "stochastic") -> None:
        self.backend, self.learner, self.rollout = backend, learner, rollout
        self.run_id, self.shm_root = run_id, shm_root
        self.layout = None
        if backend == "shm":
            ray.get(learner.open_weight_sync.remote("shm", dtype, bucket_mb, run_id=run_id, shm_root=shm_root,
                                                    rounding=rounding))
            return
        # One group rank per rollout engine (tensor_parallel_size 1), the learner is the root (0).
        endpoint = ray.get(learner.weight_sync_endpoint.remote())
        world = 1 + len(rollout)
        self.layout, *_ = ray.get([learner.open_weight_sync.remote(backend, dtype, bucket_mb, endpoint=endpoint,
                                                                   world_size=world, timeout_s=timeout_s,
                                                                   rounding=rounding)]
                                  + [w.join_weight_group.remote(backend, endpoint, 1 + i, world, timeout_s)
                                     for i, w in enumerate(rollout)])
        log.info("weight sync: %s group of %d at %s:%d, %d buckets", backend, world, *endpoint,
                 len(self.layout.buckets))

    def sync(self, version: int) -> dict:
        """Move the learner's current weights into every rollout engine; returns sync/* metrics."""
        if self.layout is not None:
            manifest, *loaded = ray.get([self.learner.publish_weights.remote(version)]
                                        + [w.receive_weights.remote(self.layout, version) for w in self.rollout])
        else:
            manifest = ray.get(self.learner.publish_weights.remote(version))
            loaded = ray.get([w.load_weights.remote(manifest) for w in self.rollout])
            ray.get(self.learner.release_weights.remote(version))
        if any(count != manifest.num_tensors for count in loaded):
            raise RuntimeError(f"weight sync v{version}: rollout workers loaded {loaded} tensors, "
                               f"expected {manifest.num_tensors}")
        # The engine's own parameter sum: proof in the log that new weights arrived every step.
        checksum = ray.get(self.rollout[0].checksum.remote())
        return {"sync/version": version, "sync/tensors": int(loaded[0]), "sync/buckets": len(manifest.buckets),
                "sync/megabytes": manifest.num_bytes / 2**20, "sync/rollout_checksum": checksum}

    def close(self) -> None:
        """Free the backend; the driver also removes shm files itself in case the learner is gone."""
        try:
            ray.get(self.learner.close_weight_sync.remote(), timeout=30)
        except (ray.exceptions.RayError, TimeoutError) as err:
            log.warning("weight sync: learner could not close the %s backend (%s)", self.backend, err)
        if self.backend == "shm" and self.shm_root is None:
            import shutil

            shutil.rmtree(default_shm_root() / self.run_id, ignore_errors=True)
