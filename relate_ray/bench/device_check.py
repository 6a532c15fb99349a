"""`python -m relate_ray.bench.device_check`: the accelerator paths that CPU CI cannot run, in one short script.

    python -m relate_ray.bench.device_check [--backend nccl|gloo] [--device cuda|cpu] [--out FILE.json]

1. Weight sync: the collective publisher (`relate_ray.sync.broadcast.BroadcastPublisher`, learner
   side) broadcasts a real state dict, bucketed, to a plain torch receiver process on the same
   device, once in float32 and once cast to bf16 with stochastic rounding; the receiver rebuilds the
   expected tensors from the same seed and checks each received tensor is exactly equal.
2. One learner step: DeepSpeed ZeRO-2 over one rank (the learner's backend: NCCL on CUDA, gloo on
   CPU) on a small causal LM built from torch alone, with the GRPO loss of `relate_ray.algo.loss`;
   it checks the loss is finite, the gradient norm positive and the weights moved.

Needs torch (and deepspeed for part 2; without it part 2 reports `skipped`), not Ray or vLLM, so it
runs on a bare accelerator machine. Defaults: nccl on cuda when CUDA is there, else gloo on cpu (what
tests/test_device_check.py runs). Writes one JSON report and exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import torch

from relate_ray.sync.broadcast import BroadcastPublisher, free_port, open_group, plan_buckets, receive_buckets
from relate_ray.sync.rounding import cast_weights, sync_generator

log = logging.getLogger("relate_ray.bench.device_check")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class TinyCausalLM(torch.nn.Module):
    """Embedding, two transformer layers and a tied head: a causal LM with no transformers dependency."""

    def __init__(self, vocab: int = 4096, width: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        layer = torch.nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=4 * width, batch_first=True)
        self.body = torch.nn.TransformerEncoder(layer, layers)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        causal = torch.nn.Transformer.generate_square_subsequent_mask(ids.shape[1], device=ids.device)
        return self.body(self.embed(ids), mask=causal, is_causal=True) @ self.embed.weight.T


def state_dict(seed: int, device: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {name: t.detach().to(device) for name, t in TinyCausalLM().state_dict().items()}


def _receiver(backend: str, device: str, port: int, seed: int, dtype: str, rounding: str, version: int, queue) -> None:
    """Group rank 1: receive every bucket and compare it with the cast the sender must have made."""
    try:
        group = open_group(backend, "127.0.0.1", port, 1, 2, 120)
        expected = state_dict(seed, device)
        layout = plan_buckets([(n, tuple(t.shape)) for n, t in expected.items()], dtype, 1)
        generator = sync_generator(seed, version, device)
        target = {n: cast_weights(t.reshape(-1), _DTYPES[dtype], rounding, generator).view(t.shape)
                  for n, t in expected.items()}
        mismatched = [name for name, tensor in receive_buckets(group, layout, device)
                      if not torch.equal(tensor, target[name])]
        queue.put({"tensors": len(target), "mismatched": mismatched})
    except Exception as err:  # reported to the parent, which fails the check with it
        queue.put({"error": f"{type(err).__name__}: {err}"})


def check_broadcast(backend: str, device: str, dtype: str, rounding: str, seed: int = 0,
                    receiver_rounding: str | None = None) -> dict:
    """receiver_rounding: what the receiver expects (default: what was sent); tests set it apart to
    see the check fail."""
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    queue, port, version = context.Queue(), free_port(), 1
    receiver = context.Process(target=_receiver, args=(backend, device, port, seed, dtype, receiver_rounding or rounding, version, queue))
    receiver.start()
    weights = state_dict(seed, device)
    group = open_group(backend, "127.0.0.1", port, 0, 2, 120)
    layout = plan_buckets([(n, tuple(t.shape)) for n, t in weights.items()], dtype, 1)
    publisher = BroadcastPublisher(backend, group, layout, device, rounding=rounding, seed=seed)
    t = time.perf_counter()
    manifest = publisher.publish(weights.items(), version)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    got = queue.get(timeout=300)
    receiver.join(timeout=60)
    result = {"backend": backend, "device": device, "dtype": dtype, "rounding": rounding,
              "buckets": len(layout.buckets), "bytes": manifest.num_bytes, "seconds": round(seconds, 4), **got}
    result["ok"] = "error" not in got and not got["mismatched"] and got["tensors"] == manifest.num_tensors
    return result


def check_learner_step(device: str) -> dict:
    """One ZeRO-2 optimizer step with the GRPO loss on TinyCausalLM, one rank."""
    try:
        import deepspeed
    except ImportError:
        # Not run is not passed: the report says which check is missing and exits 1.
        return {"ok": False, "skipped": "deepspeed is not installed (bring its wheel to check the learner step)"}
    rank_env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "RANK": "0", "WORLD_SIZE": "1",
                "LOCAL_RANK": "0"}
    saved = {key: os.environ.get(key) for key in rank_env}
    os.environ.update(rank_env)
    # A process that already has a default group (an in-process vLLM engine makes one) keeps it, and
    # DeepSpeed joins it; destroying it would take the engine's groups down with it.
    had_group = torch.distributed.is_initialized()
    try:
        return _learner_step(deepspeed, device)
    finally:
        # Leave the process as it was: no group of ours, no rank environment for later work.
        if torch.distributed.is_initialized() and not had_group:
            torch.distributed.destroy_process_group()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _learner_step(deepspeed, device: str) -> dict:
    from relate_ray.algo.logprobs import token_logprobs
    from relate_ray.algo.loss import grpo_loss
    from relate_ray.workers.clipped_adamw import ClippedAdamW
    from relate_ray.workers.deepspeed_config import zero2_config
    from relate_ray.workers.extension_builds import skip_unused_shm_op

    backend = "nccl" if device.startswith("cuda") else "gloo"
    skip_unused_shm_op()  # as the learner: init_distributed would compile an op only inference calls
    deepspeed.init_distributed(dist_backend=backend)
    model = TinyCausalLM()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    optimizer = ClippedAdamW(model.parameters(), max_norm=1.0, lr=1e-3)
    config = zero2_config(micro_batch_size=4, accumulation=1, world_size=1, bf16=False)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    torch.manual_seed(1)
    ids = torch.randint(0, 4096, (4, 24), device=engine.device)
    mask = torch.ones(4, 23, device=engine.device)
    logp = token_logprobs(engine(ids)[:, :-1], ids[:, 1:], mask, 1.0)
    advantages = torch.tensor([[1.0], [-1.0], [0.5], [-0.5]], device=engine.device).expand(4, 23)
    loss, stats = grpo_loss(logp, logp.detach(), logp.detach() - 0.01, advantages, mask, beta=0.04)
    engine.backward(loss)
    engine.step()
    norm = optimizer.last_grad_norm
    after = torch.cat([p.detach().flatten().float().cpu() for p in engine.module.parameters()])
    moved = float((after - before.float().cpu()).abs().max())
    return {"ok": bool(torch.isfinite(loss).item() and norm > 0 and moved > 0), "backend": backend,
            "device": str(engine.device), "loss": loss.item(), "grad_norm": norm, "max_weight_change": moved,
            "deepspeed": deepspeed.__version__}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(prog="python -m relate_ray.bench.device_check", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("nccl", "gloo"), default="nccl" if cuda else "gloo")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--out", default="", help="write the JSON report here too")
    args = parser.parse_args(argv)
    if args.backend == "nccl" and not args.device.startswith("cuda"):
        sys.stderr.write("error: --backend nccl needs --device cuda\n")
        return 2
    report = {"torch": torch.__version__, "cuda": torch.version.cuda if cuda else None,
              "gpu": torch.cuda.get_device_name(0) if cuda else None,
              "broadcast": [check_broadcast(args.backend, args.device, "float32", "nearest"),
                            check_broadcast(args.backend, args.device, "bfloat16", "stochastic")],
              "learner_step": check_learner_step(args.device)}
    report["ok"] = all(r["ok"] for r in report["broadcast"]) and report["learner_step"]["ok"]
    text = json.dumps(report, indent=2)
    sys.stdout.write(text + "\n")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
