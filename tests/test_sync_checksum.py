"""The engine's load checksum (relate_ray.sync.fingerprint): an exact fingerprint of tensors' bits."""

import numpy as np
import pytest
import torch

from relate_ray.sync.fingerprint import MODULUS, tensor_fingerprint, weights_fingerprint


def numpy_words_sum(tensor: torch.Tensor) -> int:
    """The definition, computed another way: the bytes zero-padded to whole 64-bit little-endian words,
    summed as unsigned Python integers."""
    raw = tensor.contiguous().view(torch.uint8).numpy().tobytes()
    raw += bytes(-len(raw) % 8)
    return int(sum(int(w) for w in np.frombuffer(raw, dtype="<u8"))) % MODULUS


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("numel", [1, 3, 4, 4099, 65536])
def test_the_fingerprint_is_the_sum_of_the_tensors_64_bit_words(dtype, numel):
    # Sizes: shorter than a word, a word, a tail after whole words, and many words (where the int64 sum
    # wraps around: random bits make words beyond 2**63).
    values = torch.randn(numel, generator=torch.Generator().manual_seed(numel)).to(dtype)
    assert tensor_fingerprint(values) == numpy_words_sum(values)


def test_any_changed_bit_or_tensor_changes_it_and_the_layout_does_not():
    values = torch.randn(1030, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    base = tensor_fingerprint(values)
    for position in (0, 1027, 1029):  # a word's first, a whole word's, the tail's
        changed = values.clone()
        changed.view(torch.int16)[position] ^= 1  # the lowest bit of one value
        assert tensor_fingerprint(changed) != base
    # The same values in another storage, offset or strides give the same fingerprint; a start inside
    # a 64-bit word of its storage is read from an aligned copy.
    storage = torch.zeros(1031, dtype=torch.bfloat16)
    storage[1:] = values
    assert tensor_fingerprint(storage[1:]) == base
    assert tensor_fingerprint(values.view(103, 10).t().contiguous().t()) == base
    # Weights: every tensor counts, in any order; one left out changes the total.
    others = [torch.randn(7, 5), torch.ones(3, dtype=torch.float16)]
    assert weights_fingerprint([values, *others]) == weights_fingerprint([*others[::-1], values])
    assert weights_fingerprint([values, others[0]]) != weights_fingerprint([values, *others])
