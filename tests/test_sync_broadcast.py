"""The broadcast weight-sync backend without Ray or vLLM: bucket planning, and a real two-process
gloo group moving named tensors bit-exactly."""

import multiprocessing as mp
import socket
from pathlib import Path

import pytest
import torch

from relate_ray.sync.broadcast import BroadcastPublisher, BucketLayout, free_port, open_group, plan_buckets, receive_buckets

SHAPES = [("embed.weight", (300, 64)), ("layer.0.weight", (64, 64)), ("layer.0.bias", (64,)),
          ("layer.1.weight", (64, 128)), ("head.scale", ())]


def test_plan_buckets_packs_in_order_without_gaps():
    layout = plan_buckets(SHAPES, "float32", bucket_mb=0)  # 0 MB: every tensor closes its own bucket
    assert [[t.name for t in b] for b in layout.buckets] == [[name] for name, _ in SHAPES]
    layout = plan_buckets(SHAPES, "float32", bucket_mb=1)
    assert len(layout.buckets) == 1
    slots = layout.buckets[0]
    assert [t.offset for t in slots] == [0, 19200, 23296, 23360, 31552]
    assert layout.bucket_numel(0) == 31553 and layout.num_tensors == 5 and layout.num_bytes == 31553 * 4
    assert BucketLayout.from_wire(layout.to_wire()) == layout


def test_plan_buckets_rejects_an_unknown_dtype():
    with pytest.raises(ValueError, match="sync dtype"):
        plan_buckets(SHAPES, "int8", 1)


def _receiver(port: int, wire: dict, queue) -> None:
    group = open_group("gloo", "127.0.0.1", port, 1, 2, timeout_s=60)
    received = {name: tensor.clone() for name, tensor in receive_buckets(group, BucketLayout.from_wire(wire), "cpu")}
    queue.put({name: tensor.tolist() for name, tensor in received.items()})


def test_gloo_broadcast_delivers_every_tensor_exactly():
    torch.manual_seed(0)
    tensors = {name: torch.randn(shape) for name, shape in SHAPES}
    layout = plan_buckets(((n, tuple(t.shape)) for n, t in tensors.items()), "float32", bucket_mb=0)
    port = free_port()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    receiver = ctx.Process(target=_receiver, args=(port, layout.to_wire(), queue))
    receiver.start()
    publisher = BroadcastPublisher("gloo", open_group("gloo", "127.0.0.1", port, 0, 2, timeout_s=60), layout, "cpu")
    manifest = publisher.publish(tensors.items(), version=3)
    got = queue.get(timeout=60)
    receiver.join(timeout=60)
    assert manifest.version == 3 and manifest.num_tensors == 5 and len(manifest.buckets) == 5
    assert set(got) == set(tensors)
    for name, tensor in tensors.items():
        assert torch.equal(torch.tensor(got[name]).reshape(tensor.shape), tensor), name


def test_publish_refuses_a_model_missing_a_layout_tensor():
    layout = plan_buckets([("a", (2,))], "float32", bucket_mb=1)
    publisher = BroadcastPublisher("gloo", group=None, layout=layout, device="cpu")
    with pytest.raises(KeyError, match="parameter a"):
        publisher.publish([("b", torch.zeros(2))], version=1)


def test_free_ports_are_outside_the_kernels_ephemeral_range():
    # A port the kernel could also hand to another process's bind(0) can be taken before the
    # rendezvous store binds it (EADDRINUSE, seen in the suite); ports below the range cannot.
    start, end = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(20)]
    assert all(20_000 <= port < start for port in ports), (ports, start, end)
    assert len(set(ports)) > 1  # chosen at random, not one fixed number every caller collides on
    with socket.socket() as sock:
        sock.bind(("", ports[0]))  # free indeed
