"""DirectReload's view of a fused layer's checkpoint tensors (relate_ray/sync/direct_reload.py,
`stacked_view`): q/k/v or gate/up that lie one after another in one buffer are the fused layer's
weight without a copy; anything else (out of order, a gap, two buffers, another dtype or shape) is
refused, so the engine's loader copies them instead."""

import torch

from relate_ray.sync.direct_reload import stacked_view
from relate_ray.sync.shm import SharedMemoryPublisher, read_bucket

COLS = 8
ROWS = [6, 2, 2]  # q, k, v of a grouped-query layer: 3 query heads to 1 key/value head


def qkv_in_one_buffer(gap: int = 0) -> list[torch.Tensor]:
    """q, k, v as consecutive slices of one flat buffer (as a weight bucket holds them), `gap`
    elements between k and v."""
    flat = torch.arange(float(sum(ROWS) * COLS + gap))
    q_end, k_end = ROWS[0] * COLS, (ROWS[0] + ROWS[1]) * COLS
    q, k = flat[:q_end].view(ROWS[0], COLS), flat[q_end:k_end].view(ROWS[1], COLS)
    v = flat[k_end + gap:k_end + gap + ROWS[2] * COLS].view(ROWS[2], COLS)
    return [q, k, v]


def meta(rows: int = sum(ROWS), dtype=torch.float32) -> torch.Tensor:
    return torch.empty(rows, COLS, dtype=dtype, device="meta")


def test_adjacent_tensors_are_the_fused_weight_without_a_copy():
    q, k, v = qkv_in_one_buffer()
    fused = stacked_view([q, k, v], meta(), torch.device("cpu"), ROWS)
    assert fused is not None and fused.shape == (sum(ROWS), COLS)
    assert torch.equal(fused, torch.cat([q, k, v]))  # q's rows, then k's, then v's
    assert fused.data_ptr() == q.data_ptr()  # a view: nothing copied


def test_tensors_that_are_not_one_run_of_one_buffer_are_refused():
    q, k, v = qkv_in_one_buffer()
    cpu = torch.device("cpu")
    assert stacked_view([k, q, v], meta(), cpu, [2, 6, 2]) is None  # out of order
    assert stacked_view(qkv_in_one_buffer(gap=COLS), meta(), cpu, ROWS) is None  # a gap between k and v
    assert stacked_view([q, k.clone(), v], meta(), cpu, ROWS) is None  # k in a buffer of its own
    assert stacked_view([q, k, v], meta(dtype=torch.bfloat16), cpu, ROWS) is None  # the layer's dtype differs
    assert stacked_view([q, k, v], meta(), cpu, [4, 4, 2]) is None  # the layer's shards are sized otherwise
    assert stacked_view([q, k], meta(), cpu, None) is None  # v missing: fewer rows than the layer's
    assert stacked_view([q.t(), k, v], meta(), cpu, None) is None  # not [rows, cols] row-major


def test_tensors_published_one_after_another_read_back_adjacent(tmp_path):
    # The shm bucket's reader gives its tensors as slices of one storage, so a layer's q/k/v written
    # one after another (the learner's module order) can be viewed as the fused weight.
    g = torch.Generator().manual_seed(0)
    tensors = [(name, torch.randn(rows, COLS, generator=g)) for name, rows in zip("qkv", ROWS)]
    publisher = SharedMemoryPublisher("stacked", "float32", bucket_mb=1, root=tmp_path, rounding="nearest")
    manifest = publisher.publish([("norm.weight", torch.ones(3))] + tensors, 1)
    loaded = dict(read_bucket(manifest.buckets[0]))
    fused = stacked_view([loaded[name] for name in "qkv"], meta(), torch.device("cpu"), ROWS)
    assert fused is not None and torch.equal(fused, torch.cat([t for _, t in tensors]))
    publisher.close()
