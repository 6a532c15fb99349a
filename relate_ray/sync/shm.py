"""CPU weight-sync backend: bucketed safetensors files in shared memory (/dev/shm).

vLLM's engine core runs in its own process, so weights must cross a process boundary whatever the
driver does; shared-memory files cost one memory copy on each side and no pickling. The publisher
writes the learner's parameters in buckets of about `bucket_mb`, in the rollout dtype; each loader
reads them memory-mapped inside the engine worker (relate_ray.sync.vllm_extension).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch

from relate_ray.sync.base import WeightManifest, WeightPublisher
from relate_ray.sync.rounding import cast_weights, sync_generator

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


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

    def _version_dir(self, version: int) -> Path:
        return self.root / f"v{version:06d}"

    def publish(self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int,
                rounding_key: int | None = None) -> WeightManifest:
        from safetensors.torch import save_file

        folder = self._version_dir(version)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = WeightManifest(self.name, version)
        bucket: dict[str, torch.Tensor] = {}
        size = 0

        def flush() -> None:
            nonlocal bucket, size
            path = folder / f"bucket_{len(manifest.buckets):04d}.safetensors"
            save_file(bucket, str(path))
            manifest.buckets.append(str(path))
            bucket, size = {}, 0

        generator = sync_generator(self.seed, version if rounding_key is None else rounding_key)
        for name, tensor in named_tensors:
            # A fresh tensor per name: tied weights share storage, which safetensors refuses to save twice.
            value = cast_weights(tensor.detach().to("cpu"), self.dtype, self.rounding, generator).contiguous()
            bucket[name] = value
            size += value.numel() * value.element_size()
            manifest.num_tensors += 1
            manifest.num_bytes += value.numel() * value.element_size()
            if size >= self.bucket_bytes:
                flush()
        if bucket:
            flush()
        return manifest

    def release(self, version: int) -> None:
        shutil.rmtree(self._version_dir(version), ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
