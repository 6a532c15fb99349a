"""The engine's load checksum (`_chunked_sum`): a float64 sum of each loaded tensor, whatever its dtype."""

import pytest
import torch

from relate_ray.sync.vllm_extension import _chunked_sum


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("numel", [7, 4096, 4096 * 256, 4096 * 256 * 2 + 4096 * 3 + 17])
def test_the_sum_is_the_float64_sum_of_every_value(dtype, numel):
    # Sizes: a tail alone, one row, one block exactly, and two blocks + a short block + a tail (a
    # dropped block, a dropped tail or a reused buffer's stale values from the block before would
    # all move the sum by at least one value, 1e4 times float32 row sums' rounding here).
    values = (torch.randn(numel, generator=torch.Generator().manual_seed(numel)) + 0.5).to(dtype)
    exact = float(values.double().sum())
    scale = float(values.double().abs().sum())
    assert abs(float(_chunked_sum(values)) - exact) <= 1e-7 * scale
    assert abs(float(_chunked_sum(values.view(-1, 1) if numel > 1 else values)) - exact) <= 1e-7 * scale
