"""CPU weight-sync backend: bucketed safetensors files in shared memory (/dev/shm).

vLLM's engine core runs in its own process, so weights must cross a process boundary whatever the
driver does; shared-memory files cost one memory copy on each side and no pickling. The publisher
writes the learner's parameters in buckets of about `bucket_mb`, in the rollout dtype, straight
into the memory-mapped file, kept mapped between versions (`BucketFile`); each loader views them in place
inside the engine worker (`read_bucket`, relate_ray.sync.vllm_extension), and the engine's reload
is the one copy on that side. safetensors' own `save_file` serialized each bucket to bytes and
wrote those (two more copies); with it, publishing the 135M policy in fp32 took 0.46 s.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from relate_ray.sync.base import WeightManifest, WeightPublisher
from relate_ray.sync.rounding import cast_into, sync_generator

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# safetensors' dtype names (the file format: 8-byte header size, JSON header, raw little-endian data).
_CODES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}
_FROM_CODE = {code: dtype for dtype, code in _CODES.items()}


def _bucket_prefix(specs: list[tuple[str, tuple[int, ...]]], dtype: torch.dtype) -> tuple[bytes, list[tuple[int, int]], int]:
    """A safetensors file's header bytes for `specs` (name, shape) in `dtype`, each tensor's data
    offsets, and the data bytes."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    header, offsets, offset = {}, [], 0
    for name, shape in specs:
        nbytes = itemsize * int(torch.Size(shape).numel())
        header[name] = {"dtype": _CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offsets.append((offset, offset + nbytes))
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(encoded)) + encoded, offsets, offset


class BucketFile:
    """One bucket's safetensors file in shared memory, kept mapped from one version to the next.

    Mapping the file afresh for every version faulted in each of its pages again (fp32 135M policy:
    131 k minor faults, 0.17 s of a 0.18 s publish, README Performance); a mapping
    kept open writes into pages already in its page table. An existing file of the same layout (a
    restarted publisher's) is overwritten in place rather than recreated: a fresh tmpfs page is
    zeroed on first touch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._prefix: bytes | None = None
        self._mapped: mmap.mmap | None = None
        self._inode = -1

    def write(self, specs: list[tuple[str, tuple[int, ...]]], dtype: torch.dtype,
              fill: Callable[[int, torch.Tensor], None]) -> int:
        """Write the `specs` (name, shape) tensors in `dtype`: `fill(i, out)` writes tensor i into
        `out`, its place in the mapped file. Returns the data bytes."""
        prefix, offsets, nbytes = _bucket_prefix(specs, dtype)
        start = len(prefix)
        if self._mapped is None or prefix != self._prefix or not self._still_the_file():
            self._open(prefix, start + max(nbytes, 1))
        data = torch.frombuffer(self._mapped, dtype=torch.uint8, offset=start, count=nbytes) if nbytes else None
        try:
            for i, (_, shape) in enumerate(specs):
                begin, end = offsets[i]
                if end > begin:
                    fill(i, data[begin:end].view(dtype).view(shape))
        finally:
            del data  # no view may outlive a write: the mapping could not close
        return nbytes

    def _still_the_file(self) -> bool:
        """The path still names the file mapped (not removed or replaced since): the loaders open the
        path, so writing into an unlinked file would publish nothing."""
        try:
            return os.stat(self.path).st_ino == self._inode
        except FileNotFoundError:
            return False

    def _open(self, prefix: bytes, total: int) -> None:
        self.close()
        reuse = self.path.is_file() and self.path.stat().st_size == total and _prefix_of(self.path, len(prefix)) == prefix
        with open(self.path, "r+b" if reuse else "w+b") as handle:
            if not reuse:
                handle.truncate(total)
            self._mapped = mmap.mmap(handle.fileno(), total)  # the mapping outlives the descriptor
            self._inode = os.fstat(handle.fileno()).st_ino
        self._mapped[:len(prefix)] = prefix
        self._prefix = prefix

    def close(self) -> None:
        if self._mapped is not None:
            self._mapped.close()
        self._mapped = self._prefix = None


def _prefix_of(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


# The loaders' mappings of the bucket files, kept from one version to the next: path -> ((device,
# inode, size), mapping). Mapping a bucket afresh for every version faulted its pages in again: 8,213 faults a
# load of the fp32 135M policy (the kernel maps 16 pages a fault), 18 ms of a 513 MB read pass,
# measured here against the same pass over a mapping already faulted in (44 against 27 ms).
_READ_MAPPINGS: dict[str, tuple[tuple[int, int, int], mmap.mmap]] = {}


def _read_mapping(path: str) -> mmap.mmap:
    """A read-only shared mapping of the file at `path`, the one from the last call while the path
    names the same file of the same size (the publisher rewrites its files in place). Same file:
    same device and inode number, which a file created at the path after the old one was removed
    cannot have while the old mapping holds that inode."""
    status = os.stat(path)
    identity = (status.st_dev, status.st_ino, status.st_size)
    cached = _READ_MAPPINGS.get(path)
    if cached is not None and cached[0] == identity:
        return cached[1]
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    _READ_MAPPINGS[path] = (identity, mapped)
    # A mapping replaced here stays valid while views of it live (they hold it), and unmaps with the last.
    return mapped


def read_bucket(path: str) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of a safetensors bucket, each a read-only view of the mapped file (no copy): valid
    while the caller holds it, with the contents of the version last published there; the loader
    copies it into the engine's weights or repacks from it (DirectReload). The mapping is shared and
    read-only, so a write through a view faults at once instead of changing what the learner published."""
    mapped = _read_mapping(path)
    (length,) = struct.unpack_from("<Q", mapped, 0)
    header = json.loads(mapped[8:8 + length])
    start = 8 + length
    # One storage for the bucket's data, each tensor a slice of it: tensors written one after another
    # are then adjacent in one storage, which a loader may view as one (DirectReload's fused layers).
    data = None
    if len(mapped) > start:
        with warnings.catch_warnings():  # torch warns that a read-only buffer gives a read-only tensor: meant
            warnings.simplefilter("ignore", UserWarning)
            data = torch.frombuffer(mapped, dtype=torch.uint8, offset=start)
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = _FROM_CODE[entry["dtype"]]
        if end == begin:
            yield name, torch.empty(entry["shape"], dtype=dtype)
            continue
        yield name, data[begin:end].view(dtype).view(entry["shape"])


def default_shm_root() -> Path:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(os.environ.get("TMPDIR", "/tmp"))
    return base / f"relate_ray-{os.getuid()}"


class SharedMemoryPublisher(WeightPublisher):
    name = "shm"

    def __init__(self, run_id: str, dtype: str = "bfloat16", bucket_mb: int = 256, root: Path | None = None,
                 rounding: str = "stochastic", seed: int = 0) -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"sync dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        self.dtype = _DTYPES[dtype]
        self.rounding, self.seed = rounding, seed
        self.bucket_bytes = bucket_mb << 20
        self.root = (root or default_shm_root()) / run_id
        self._files: dict[Path, BucketFile] = {}

    def publish(self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int,
                rounding_key: int | None = None) -> WeightManifest:
        # One set of bucket files for the run, overwritten by each version (BucketFile): the
        # engines have loaded a version before the next is published.
        folder = self.root
        folder.mkdir(parents=True, exist_ok=True)
        manifest = WeightManifest(self.name, version)
        itemsize = torch.empty((), dtype=self.dtype).element_size()
        buckets, size = [[]], 0
        for name, tensor in named_tensors:
            if buckets[-1] and size >= self.bucket_bytes:
                buckets.append([])
                size = 0
            buckets[-1].append((name, tensor))
            size += tensor.numel() * itemsize
        generator = sync_generator(self.seed, version if rounding_key is None else rounding_key)
        for bucket in buckets:
            if not bucket:
                continue
            path = folder / f"bucket_{len(manifest.buckets):04d}.safetensors"
            # Each tensor is cast straight into the file, in order, so the rounding draws follow
            # the parameters' order as they always have.
            bucket_file = self._files.setdefault(path, BucketFile(path))
            manifest.num_bytes += bucket_file.write(
                [(name, tuple(t.shape)) for name, t in bucket], self.dtype,
                lambda i, out: cast_into(out, bucket[i][1].detach().to("cpu"), self.rounding, generator))
            manifest.buckets.append(str(path))
            manifest.num_tensors += len(bucket)
        return manifest

    def release(self, version: int) -> None:
        """Nothing to free per version: the bucket files are reused by the next one, and go at close
        (they hold one copy of the weights in the engines' dtype meanwhile)."""

    def close(self) -> None:
        for bucket_file in self._files.values():
            bucket_file.close()
        self._files.clear()
        shutil.rmtree(self.root, ignore_errors=True)
