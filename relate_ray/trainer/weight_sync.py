"""Driver side of weight sync: set the backend up once, then one `sync(version)` after every step.

shm: learner rank 0 writes the buckets, then every rollout worker loads them (one RPC each).
gloo / nccl: learner rank 0 broadcasts while every rollout worker receives, so both are issued
together. Either way a sync is a handful of RPCs, never one per parameter (relate_ray.sync.base).

An engine lost during a shm sync is caught up once Ray has restarted it. An engine lost during a
broadcast stops the run at once, in one line (resume=true continues from the last checkpoint): a
gloo broadcast whose receiver died neither fails nor can be aborted, its root and the surviving
receivers wait out the group's timeout (sync.timeout_s), and a restarted engine holds no place in
the group, so there is no member to catch up until every member has left the old one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import ray

from relate_ray.fsutil import folder_hash
from relate_ray.sync.shm import default_shm_root
from relate_ray.trainer.recovery import WORKER_DIED, WorkerLostError, death_cause, lost

log = logging.getLogger(__name__)


def sync_run_id(out_dir: Path) -> str:
    """The run's name for its shm buckets (/dev/shm/relate_ray-UID/<id>, removed when the run ends):
    the folder's name and a hash of its path, since two runs at once may share a folder name (two
    sweeps' `0/`), and a resumed run must find its own."""
    return f"{Path(out_dir).name}-{folder_hash(out_dir)}"


class WeightSync:
    def __init__(self, backend: str, learner, rollout: list, run_id: str, dtype: str, bucket_mb: int,
                 timeout_s: float = 300.0, shm_root: str | None = None, rounding: str = "stochastic") -> None:
        self.backend, self.learner, self.rollout = backend, learner, rollout
        self.run_id, self.shm_root = run_id, shm_root
        self.dtype, self.bucket_mb, self.timeout_s, self.rounding = dtype, bucket_mb, timeout_s, rounding
        self.layout = None
        self.broken = False  # a broadcast lost a receiver: the learner is left waiting in it
        self._open()

    def _open(self) -> None:
        if self.backend == "shm":
            ray.get(self.learner.open_weight_sync.remote("shm", self.dtype, self.bucket_mb, run_id=self.run_id,
                                                         shm_root=self.shm_root, rounding=self.rounding))
            return
        # One group rank per rollout engine (tensor_parallel_size 1), the learner is the root (0).
        endpoint = ray.get(self.learner.endpoint.remote())
        world = 1 + len(self.rollout)
        self.layout, *_ = ray.get([self.learner.open_weight_sync.remote(
            self.backend, self.dtype, self.bucket_mb, endpoint=endpoint, world_size=world, timeout_s=self.timeout_s,
            rounding=self.rounding)] + [w.join_weight_group.remote(self.backend, endpoint, 1 + i, world, self.timeout_s)
                                        for i, w in enumerate(self.rollout)])
        log.info("weight sync: %s group of %d at %s:%d, %d buckets", self.backend, world, *endpoint,
                 len(self.layout.buckets))

    def resync(self, index: int, version: int) -> None:
        """Give rollout worker `index` (restarted) the current weights as `version`. shm: publish again
        and load there. gloo / nccl: the group lost a member, so it is formed anew with every
        engine and the weights broadcast to all (the others receive what they already hold)."""
        if self.backend == "shm":
            self._shm_sync([index], version)
        else:
            self._open()
            self.sync(version)

    def sync(self, version: int) -> dict:
        """Move the learner's current weights into every rollout engine; returns sync/* metrics.
        shm: an engine that dies while loading is skipped here; once Ray has restarted it, it
        answers with weight version 0 and the rollout catches it up (RolloutFleet). gloo / nccl: an
        engine lost during the broadcast raises WorkerLostError (see the module's docstring)."""
        times: dict[str, float] = {}
        if self.layout is not None:
            t = time.perf_counter()
            published = self.learner.publish_weights.remote(version)
            loaded = self._received([w.receive_weights.remote(self.layout, version) for w in self.rollout], version)
            manifest = _from_learner(published)
            times["time/sync_transfer"] = time.perf_counter() - t  # streamed: publish and load overlap
            _check_counts(manifest, loaded, version)
        else:
            manifest, loaded = self._shm_sync(range(len(self.rollout)), version, times)
        # The fingerprint of what the engine loaded, as it loaded it (relate_ray.sync.fingerprint): in
        # the log, new weights arrived every step; tests compare it with the learner's saved weights'.
        t = time.perf_counter()
        alive = [w for w, count in zip(self.rollout, loaded) if count is not None]
        checksum = ray.get(alive[0].checksum.remote()) if alive else float("nan")
        times["time/sync_checksum"] = time.perf_counter() - t
        return {"sync/version": version, "sync/tensors": manifest.num_tensors, "sync/buckets": len(manifest.buckets),
                "sync/megabytes": manifest.num_bytes / 2**20, "sync/rollout_checksum": checksum, **times}

    def _shm_sync(self, indices, version: int, times: dict | None = None):
        """Publish `version` to shm, load it into the rollout workers at `indices`, free it:
        (manifest, tensors loaded per worker, None for one that died meanwhile). times: gets
        time/sync_publish and time/sync_load (seconds)."""
        t = time.perf_counter()
        manifest = _from_learner(self.learner.publish_weights.remote(version))
        t_publish, t = time.perf_counter() - t, time.perf_counter()
        loaded = [self._loaded(i, self.rollout[i].load_weights.remote(manifest), version) for i in indices]
        _from_learner(self.learner.release_weights.remote(version))
        if times is not None:
            times.update({"time/sync_publish": t_publish, "time/sync_load": time.perf_counter() - t})
        _check_counts(manifest, loaded, version)
        return manifest, loaded

    def _received(self, refs: list, version: int) -> list[int]:
        """Tensors each engine received of a broadcast, as they finish; the first engine that died or
        failed (a restarted one is in no group) stops the run with WorkerLostError, in seconds."""
        counts: dict = {}
        index_of = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            (ref,), pending = ray.wait(pending, num_returns=1)
            try:
                counts[index_of[ref]] = int(ray.get(ref))
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as err:
                self.broken = True
                cause = death_cause(err) if isinstance(err, WORKER_DIED) else f"{type(err.cause).__name__}: {err.cause}"
                raise WorkerLostError(
                    f"rollout-{index_of[ref]} was lost during the {self.backend} weight sync of version {version} "
                    f"({cause}); a broadcast group cannot take a restarted engine mid-transfer, so the run stops "
                    f"(resume=true continues from the last checkpoint)") from None
        return [counts[i] for i in range(len(refs))]

    @staticmethod
    def _loaded(index: int, ref, version: int) -> int | None:
        try:
            return int(ray.get(ref))
        except WORKER_DIED as err:
            log.warning("rollout-%d died while loading weights v%d (%s); it is caught up when it is back",
                        index, version, death_cause(err))
            return None

    def close(self) -> None:
        """Free the backend; the driver also removes shm files itself in case the learner is gone."""
        if self.broken:
            log.warning("weight sync: the learner is still in the broken %s broadcast; Ray's shutdown ends it",
                        self.backend)
            return
        try:
            ray.get(self.learner.close_weight_sync.remote(), timeout=30)
        except (ray.exceptions.RayError, TimeoutError) as err:
            log.warning("weight sync: learner could not close the %s backend (%s)", self.backend, err)
        if self.backend == "shm" and self.shm_root is None:
            import shutil

            shutil.rmtree(default_shm_root() / self.run_id, ignore_errors=True)


def _from_learner(ref):
    """ray.get of a call on learner rank 0; its death ends the run with one line (never restarted)."""
    try:
        return ray.get(ref)
    except WORKER_DIED as err:
        raise lost("learner-rank0", err) from None


def _check_counts(manifest, loaded: list, version: int) -> None:
    """Every engine that is alive loaded every published tensor (None: it died meanwhile)."""
    if any(count is not None and count != manifest.num_tensors for count in loaded):
        raise RuntimeError(f"weight sync v{version}: rollout workers loaded {loaded} tensors, "
                           f"expected {manifest.num_tensors}")
