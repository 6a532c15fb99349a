"""`python -m relate_ray.bench.gloo_receiver_death [--timeout-s 60]`: what a gloo broadcast's root and
a surviving receiver see when another receiver is killed (SIGKILL) between broadcasts.

Why the weight sync stops the run when an engine is lost during a gloo broadcast
(relate_ray/trainer/weight_sync.py): measured here, the root's next broadcast neither fails nor
returns; it waits out the group's whole timeout, and so does the survivor. Torch only, no Ray.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import signal
import time
from datetime import timedelta

log = logging.getLogger("relate_ray.bench.gloo_receiver_death")
NUMEL = 16 << 20  # 64 MB of float32 a broadcast


def _group(port: int, rank: int, world: int, timeout_s: float):
    import torch.distributed as dist

    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore("127.0.0.1", port, world, is_master=rank == 0, timeout=timeout)
    return dist.ProcessGroupGloo(dist.PrefixStore("probe", store), rank, world, timeout)


def _receiver(port: int, rank: int, world: int, timeout_s: float, events) -> None:
    import torch
    import torch.distributed as dist

    group, buffer, start = _group(port, rank, world, timeout_s), torch.empty(NUMEL), time.monotonic()
    received = 0
    try:
        while True:
            group.broadcast([buffer], dist.BroadcastOptions()).wait()
            received += 1
    except RuntimeError as err:
        events.put(f"receiver {rank}: {received} broadcasts, then after {time.monotonic() - start:.1f} s: "
                   f"{str(err).splitlines()[0][:160]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=60.0, help="the group's timeout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    import torch
    import torch.distributed as dist

    from relate_ray.sync.broadcast import free_port

    port, world, context = free_port(), 3, mp.get_context("fork")
    events = context.Queue()
    receivers = [context.Process(target=_receiver, args=(port, r, world, args.timeout_s, events)) for r in (1, 2)]
    for process in receivers:
        process.start()
    group, data = _group(port, 0, world, args.timeout_s), torch.randn(NUMEL)
    for _ in range(3):
        group.broadcast([data], dist.BroadcastOptions()).wait()
    log.info("3 broadcasts to 2 receivers done; killing receiver 1")
    os.kill(receivers[0].pid, signal.SIGKILL)
    start = time.monotonic()
    try:
        for n in range(5):
            group.broadcast([data], dist.BroadcastOptions()).wait()
            log.info("root: broadcast %d returned after %.1f s", n + 1, time.monotonic() - start)
    except RuntimeError as err:
        log.info("root: after %.1f s: %s", time.monotonic() - start, str(err).splitlines()[0][:160])
    receivers[1].join(timeout=args.timeout_s + 10)
    while not events.empty():
        log.info(events.get())
    receivers[1].kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
