"""The shm weight-sync buckets: safetensors files written in place, read as views, reused per sync."""

import torch
from safetensors.torch import load_file

from relate_ray.sync.rounding import cast_weights, sync_generator
from relate_ray.sync.shm import SharedMemoryPublisher, read_bucket, write_bucket


def named(seed: int) -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [("embed.weight", torch.randn(50, 8, generator=g)), ("norm.weight", torch.randn(8, generator=g)),
            ("layer.0.bias", torch.randn(3, 1, 2, generator=g))]


def test_a_bucket_is_a_safetensors_file_and_reads_back_as_written(tmp_path):
    tensors = named(0)
    path = tmp_path / "b.safetensors"
    nbytes = write_bucket(path, [(n, tuple(t.shape)) for n, t in tensors], torch.float32,
                          lambda i, out: out.copy_(tensors[i][1]))
    assert nbytes == sum(t.numel() * 4 for _, t in tensors)
    by_safetensors = load_file(path)  # the library's own reader agrees with the layout
    by_view = dict(read_bucket(str(path)))
    for name, tensor in tensors:
        assert torch.equal(by_safetensors[name], tensor)
        assert torch.equal(by_view[name], tensor) and by_view[name].shape == tensor.shape


def test_each_sync_overwrites_the_same_files_with_the_new_rounded_weights(tmp_path):
    publisher = SharedMemoryPublisher("run", "bfloat16", bucket_mb=1, root=tmp_path, rounding="stochastic", seed=3)
    first = publisher.publish(named(0), version=1, rounding_key=1)
    inodes = [(tmp_path / "run" / p.split("/")[-1]).stat().st_ino for p in first.buckets]
    publisher.release(1)
    second = publisher.publish(named(1), version=2, rounding_key=2)
    assert second.buckets == first.buckets and second.num_tensors == 3
    assert [(tmp_path / "run" / p.split("/")[-1]).stat().st_ino for p in second.buckets] == inodes  # reused
    # The values are the new version's, rounded exactly as cast_weights rounds them in order.
    generator = sync_generator(3, 2)
    expected = {n: cast_weights(t, torch.bfloat16, "stochastic", generator) for n, t in named(1)}
    loaded = {n: t for path in second.buckets for n, t in read_bucket(path)}
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[n], expected[n]) for n in expected)
    publisher.close()
    assert not (tmp_path / "run").exists()
