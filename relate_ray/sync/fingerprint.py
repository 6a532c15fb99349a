"""A fingerprint of tensors' bits: the check that the engine loaded exactly the weights the learner
published (`sync/rollout_checksum` in the run's log, compared with the learner's saved weights in tests).

Integer sums of the raw bytes, not float sums of the values: exact (equal bits give equal
fingerprints, in any order of tensors), and a memory-bound pass of 64-bit adds. The float64 sum it
replaces converted every value first; in a bf16 weight load of SmolLM2-135M it was a quarter of the
load (0.045 of 0.17-0.19 s; README Performance).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

# Fingerprints are kept below 2**53, so a float64 (a JSON reader's, a metrics logger's) holds them exactly.
MODULUS = 2**53


def tensor_fingerprint(tensor: torch.Tensor) -> int:
    """The sum, modulo 2**53, of a tensor's bytes (C order) read as little-endian 64-bit words, the
    last word zero-padded. Depends on the dtype, the values' bits and their order; not on the
    tensor's storage, offset or strides."""
    raw = tensor.detach().contiguous().reshape(-1).view(torch.uint8)
    body = raw.numel() // 8 * 8
    if body and raw.storage_offset() % 8:
        raw = raw.clone()  # a 64-bit view needs a word-aligned start in its storage
    total = int(raw[:body].view(torch.int64).sum()) if body else 0  # wraps modulo 2**64
    total += int.from_bytes(bytes(raw[body:].tolist()), "little")
    return total % MODULUS


def combine(fingerprints: Iterable[int]) -> int:
    """The fingerprint of several tensors (order-free)."""
    return sum(fingerprints) % MODULUS


def weights_fingerprint(tensors: Iterable[torch.Tensor]) -> int:
    """The fingerprint of a set of tensors, e.g. a saved model's (what an engine that loaded it reports)."""
    return combine(tensor_fingerprint(t) for t in tensors)
