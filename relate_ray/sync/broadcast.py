"""Collective weight-sync backends: the learner broadcasts flat buckets to every rollout engine.

One process group joins learner rank 0 (group rank 0, the root) and each rollout engine's worker
(group ranks 1..N). Both ends know the bucket layout up front (names, shapes, offsets; it never
changes during a run), so a sync is: the root packs each bucket into one flat buffer and broadcasts
it; each engine receives into a buffer of the same size and hands views of it to vLLM's loader.
`gloo` runs it on CPU (tested here); `nccl` is the same code with CUDA buffers for GPU clusters.

The group is built straight from a TCPStore (no torch.distributed.init_process_group), because the
learner already has DeepSpeed's default group and each vLLM worker has vLLM's.
"""

from __future__ import annotations

import math
import random
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import torch

from relate_ray.sync.base import WeightManifest, WeightPublisher
from relate_ray.sync.rounding import cast_weights, sync_generator

COLLECTIVE_BACKENDS = ("gloo", "nccl")
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass
class TensorSlot:
    name: str
    shape: tuple[int, ...]
    offset: int  # in elements, within its bucket
    numel: int


@dataclass
class BucketLayout:
    """Where every parameter sits in the flat buckets; identical on the sender and the receivers."""

    dtype: str
    buckets: list[list[TensorSlot]] = field(default_factory=list)

    def bucket_numel(self, index: int) -> int:
        last = self.buckets[index][-1]
        return last.offset + last.numel

    def to_wire(self) -> dict:
        """Plain lists and strings: vLLM's collective_rpc serializes arguments without pickle."""
        return {"dtype": self.dtype,
                "buckets": [[[t.name, list(t.shape), t.offset, t.numel] for t in bucket] for bucket in self.buckets]}

    @classmethod
    def from_wire(cls, wire: dict) -> BucketLayout:
        return cls(wire["dtype"], [[TensorSlot(name, tuple(shape), offset, numel)
                                    for name, shape, offset, numel in bucket] for bucket in wire["buckets"]])

    @property
    def num_tensors(self) -> int:
        return sum(len(bucket) for bucket in self.buckets)

    @property
    def num_bytes(self) -> int:
        size = torch.empty((), dtype=_DTYPES[self.dtype]).element_size()
        return sum(self.bucket_numel(i) for i in range(len(self.buckets))) * size


def plan_buckets(named_shapes: Iterable[tuple[str, tuple[int, ...]]], dtype: str, bucket_mb: int) -> BucketLayout:
    """Greedy packing in parameter order: a bucket closes once it holds at least bucket_mb."""
    if dtype not in _DTYPES:
        raise ValueError(f"sync dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    element = torch.empty((), dtype=_DTYPES[dtype]).element_size()
    limit = max(1, (bucket_mb << 20) // element)
    layout, current, offset = BucketLayout(dtype), [], 0
    for name, shape in named_shapes:
        numel = math.prod(int(d) for d in shape)
        current.append(TensorSlot(name, tuple(int(d) for d in shape), offset, numel))
        offset += numel
        if offset >= limit:
            layout.buckets.append(current)
            current, offset = [], 0
    if current:
        layout.buckets.append(current)
    return layout


# Below the kernel's ephemeral ports and above Ray's worker ports (10002-19999 by default).
_FIRST_PORT = 20_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port nothing listens on now, for a rendezvous store that binds it a little later.

    Outside the kernel's ephemeral range where it can be: a port from `bind(("", 0))` is one the
    kernel also hands to every other process's `bind(0)` (Ray's raylets and agents, gloo's pairs), and
    in the seconds before the store binds it another process took it (EADDRINUSE in a learner's
    rendezvous while the suite's other worker started Ray clusters). Ports in [20000, the ephemeral
    range's start) are only taken by a process asking for that very number. Elsewhere (no such range
    to read, or none below it) the kernel picks, as before.
    """
    try:
        ephemeral_start = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux: let the kernel choose
        ephemeral_start = _FIRST_PORT
    chooser = random.SystemRandom()
    for _ in range(64 if ephemeral_start > _FIRST_PORT else 0):
        port = chooser.randrange(_FIRST_PORT, ephemeral_start)
        with socket.socket() as sock:
            try:
                sock.bind(("", port))
            except OSError:  # taken: try another
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def open_group(backend: str, host: str, port: int, rank: int, world_size: int, timeout_s: float):
    """A standalone process group over a TCPStore; rank 0 hosts the store. Blocks until all join."""
    import torch.distributed as dist

    if backend not in COLLECTIVE_BACKENDS:
        raise ValueError(f"collective sync backend must be one of {', '.join(COLLECTIVE_BACKENDS)}, got {backend!r}")
    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(host, port, world_size, is_master=rank == 0, timeout=timeout)
    store = dist.PrefixStore("relate_ray_weight_sync", store)
    if backend == "gloo":
        return dist.ProcessGroupGloo(store, rank, world_size, timeout)
    options = dist.ProcessGroupNCCL.Options()
    options.is_high_priority_stream = False
    options._timeout = timeout
    return dist.ProcessGroupNCCL(store, rank, world_size, options)


def receive_buckets(group, layout: BucketLayout, device: torch.device | str) -> Iterator[tuple[str, torch.Tensor]]:
    """Receiver side: yields (name, tensor view) bucket by bucket, receiving each bucket lazily."""
    dtype = _DTYPES[layout.dtype]
    for index, bucket in enumerate(layout.buckets):
        buffer = torch.empty(layout.bucket_numel(index), dtype=dtype, device=device)
        group.broadcast(buffer, 0).wait()
        for slot in bucket:
            yield slot.name, buffer[slot.offset: slot.offset + slot.numel].view(slot.shape)


class BroadcastPublisher(WeightPublisher):
    """Sender side, living in learner rank 0 next to the weights (group rank 0)."""

    streams = True

    def __init__(self, backend: str, group, layout: BucketLayout, device: torch.device | str,
                 rounding: str = "stochastic", seed: int = 0) -> None:
        self.name, self.group, self.layout, self.device = backend, group, layout, torch.device(device)
        self.rounding, self.seed = rounding, seed

    def publish(self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int,
                rounding_key: int | None = None) -> WeightManifest:
        tensors = dict(named_tensors)
        dtype = _DTYPES[self.layout.dtype]
        generator = sync_generator(self.seed, version if rounding_key is None else rounding_key, self.device)
        for index, bucket in enumerate(self.layout.buckets):
            buffer = torch.empty(self.layout.bucket_numel(index), dtype=dtype, device=self.device)
            for slot in bucket:
                if slot.name not in tensors:
                    raise KeyError(f"weight sync: parameter {slot.name} is in the layout but not in the model")
                value = cast_weights(tensors[slot.name].detach().reshape(-1), dtype, self.rounding, generator)
                buffer[slot.offset: slot.offset + slot.numel].copy_(value)
            self.group.broadcast(buffer, 0).wait()
        return WeightManifest(self.name, version, [f"bucket_{i:04d}" for i in range(len(self.layout.buckets))],
                              self.layout.num_tensors, self.layout.num_bytes)

    def release(self, version: int) -> None:
        """Nothing to free: buckets are transient buffers."""

    def close(self) -> None:
        self.group = None
