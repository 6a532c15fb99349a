"""A build lock left by a killed extension build is removed; one of a build in progress is not
(a learner would otherwise wait on the dead one forever, at 0 % CPU)."""

import os
import time

from relate_ray.workers.extension_locks import clear_stale_locks


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
