"""The shm weight-sync buckets: safetensors files written in place, read as views, reused per sync."""

import resource
import shutil

import torch
from safetensors.torch import load_file

from relate_ray.sync.shm import BucketFile, SharedMemoryPublisher, read_bucket


def named(seed: int) -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [("embed.weight", torch.randn(50, 8, generator=g)), ("norm.weight", torch.randn(8, generator=g)),
            ("layer.0.bias", torch.randn(3, 1, 2, generator=g))]


def test_a_bucket_is_a_safetensors_file_and_reads_back_as_written(tmp_path):
    tensors = named(0)
    path = tmp_path / "b.safetensors"
    bucket = BucketFile(path)
    nbytes = bucket.write([(n, tuple(t.shape)) for n, t in tensors], torch.float32,
                          lambda i, out: out.copy_(tensors[i][1]))
    bucket.close()
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
    # The values are the new version's, each rounded to one of its two bf16 neighbours (computed
    # here from the float32 bits, independently of the publisher's cast), up or down at random
    # with no bias.
    loaded = {n: t for path in second.buckets for n, t in read_bucket(path)}
    assert loaded.keys() == {n for n, _ in named(1)}
    steps, nearest = [], []
    for name, value in named(1):
        got = loaded[name].float()
        toward_zero = (value.view(torch.int32) & ~0xFFFF).view(torch.float32)
        away = ((value.view(torch.int32) & ~0xFFFF) + 0x10000).view(torch.float32)
        assert torch.all((got == toward_zero) | (got == away)), name
        steps.append(((got - value) / (away - toward_zero)).flatten())
        nearest.append(got == value.to(torch.bfloat16).float())
    assert abs(float(torch.cat(steps).mean())) < 0.1  # unbiased: E[rounded] = value
    assert not bool(torch.cat([n.flatten() for n in nearest]).all())  # not round-to-nearest
    publisher.close()
    assert not (tmp_path / "run").exists()


def test_two_runs_in_folders_of_the_same_name_never_share_their_buckets(tmp_path, monkeypatch):
    # Two sweeps' `0/` at once: one run's end removes its bucket folder, which must not be the other's;
    # a resumed run (the same folder, named relatively or not) finds its own.
    from relate_ray.trainer.weight_sync import sync_run_id

    first, second = tmp_path / "sweep_a" / "0", tmp_path / "sweep_b" / "0"
    assert sync_run_id(first) != sync_run_id(second)
    monkeypatch.chdir(tmp_path)
    assert sync_run_id(first) == sync_run_id(first.relative_to(tmp_path)) and sync_run_id(first).startswith("0-")


def test_a_publisher_writes_later_versions_into_pages_it_already_mapped(tmp_path):
    # Mapping the bucket afresh each version faulted in every page again (131 k faults, 0.17 s for
    # the 135M policy in fp32); the kept mapping writes the second version with next to none.
    weights = [("w", torch.randn(2**21))]  # 8 MB: 2,048 pages of 4 KB
    publisher = SharedMemoryPublisher("run", "float32", bucket_mb=16, root=tmp_path)
    publisher.publish(weights, version=1)
    second = weights[0][1] + 1
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    manifest = publisher.publish([("w", second)], version=2)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 512, faults
    assert torch.equal(dict(read_bucket(manifest.buckets[0]))["w"], second)
    publisher.close()


def test_a_bucket_file_removed_behind_the_publisher_is_written_again(tmp_path):
    # The engines open the path: a kept mapping of a removed file would publish into nothing.
    publisher = SharedMemoryPublisher("run", "float32", bucket_mb=16, root=tmp_path)
    first = publisher.publish([("w", torch.zeros(16))], version=1)
    shutil.rmtree(tmp_path / "run")
    second = publisher.publish([("w", torch.ones(16))], version=2)
    assert second.buckets == first.buckets
    assert torch.equal(dict(read_bucket(second.buckets[0]))["w"], torch.ones(16))
    publisher.close()


def test_a_loader_reads_later_versions_through_pages_it_already_mapped(tmp_path):
    # Mapping the bucket afresh each version faulted its pages in again (8,213 faults a load of the
    # 135M policy in fp32); the kept mapping reads the next version's values with next to none.
    weights = [("w", torch.randn(2**21))]  # 8 MB: 2,048 pages of 4 KB
    publisher = SharedMemoryPublisher("run", "float32", bucket_mb=16, root=tmp_path)
    manifest = publisher.publish(weights, version=1)
    assert torch.equal(dict(read_bucket(manifest.buckets[0]))["w"], weights[0][1])
    second = weights[0][1] * 2
    publisher.publish([("w", second)], version=2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    loaded = dict(read_bucket(manifest.buckets[0]))["w"]
    total = float(loaded.sum())  # reads every page
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert torch.equal(loaded, second) and total == float(second.sum())
    assert faults < 64, faults
    # A file replaced behind the path (another publisher, a new layout) is mapped anew.
    publisher.close()
    other = SharedMemoryPublisher("run", "float32", bucket_mb=16, root=tmp_path)
    replaced = other.publish([("w", torch.arange(8.0)), ("v", torch.ones(3))], version=1)
    assert replaced.buckets == manifest.buckets
    again = dict(read_bucket(replaced.buckets[0]))
    assert torch.equal(again["w"], torch.arange(8.0)) and torch.equal(again["v"], torch.ones(3))
    # Removed and written again with the same layout and size: the new file's values, not the
    # mapped old file's.
    shutil.rmtree(tmp_path / "run")
    other.publish([("w", torch.arange(8.0) + 5), ("v", torch.zeros(3))], version=2)
    latest = dict(read_bucket(replaced.buckets[0]))
    assert torch.equal(latest["w"], torch.arange(8.0) + 5) and torch.equal(latest["v"], torch.zeros(3))
    other.close()


def test_a_write_through_a_loaded_view_faults_instead_of_changing_the_published_weights(tmp_path):
    import subprocess
    import sys

    publisher = SharedMemoryPublisher("run", "float32", bucket_mb=16, root=tmp_path)
    manifest = publisher.publish([("w", torch.zeros(1024))], version=1)
    code = ("from relate_ray.sync.shm import read_bucket\n"
            f"dict(read_bucket({manifest.buckets[0]!r}))['w'].add_(1)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode < 0, (result.returncode, result.stderr[-500:])  # killed by the fault's signal
    assert torch.equal(dict(read_bucket(manifest.buckets[0]))["w"], torch.zeros(1024))
    publisher.close()
