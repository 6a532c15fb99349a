"""The learner's optimizer clips to a global gradient norm itself (DeepSpeed does not): its norm, its
clip and its update against torch's clip_grad_norm_ + AdamW, a non-finite norm skipping the update,
and under DeepSpeed ZeRO-2 on one rank and on two, against the same single-process reference."""

import textwrap

import pytest
import torch

from relate_ray.workers.clipped_adamw import ClippedAdamW, clip_divisor, sum_of_squares
from own_process import run_script


def test_the_clip_divisor_brings_a_norm_to_the_limit_and_leaves_a_smaller_one():
    assert clip_divisor(0.5, 1.0) == 1.0
    assert clip_divisor(4.0, 1.0) == pytest.approx(4.0)
    assert 4.0 / clip_divisor(4.0, 2.0) == pytest.approx(2.0)
    assert clip_divisor(1e6, 0.0) == 1.0  # max_norm 0: no clipping


@pytest.mark.parametrize("shape", [(3, 4096), (5, 1000), (4097,), (7,)])
def test_sum_of_squares_is_the_float64_sum_over_whole_rows_and_the_tail(shape):
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(shape, generator=generator) * 3
    assert float(sum_of_squares(values)) == pytest.approx(float(values.double().square().sum()), rel=1e-6)
    # A transposed (non-contiguous) tensor sums the same.
    if values.dim() == 2:
        assert float(sum_of_squares(values.t())) == pytest.approx(float(values.double().square().sum()), rel=1e-6)


def _model_and_grads(seed: int, scale: float) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))
    (model(torch.randn(6, 16)).square().sum() * scale).backward()
    return model


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("scale", [100.0, 1e-3])  # clipped, and under the limit
def test_a_step_is_torch_clip_grad_norm_then_adamw(fused, scale):
    ours, theirs = _model_and_grads(0, scale), _model_and_grads(0, scale)
    options = dict(lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95), fused=fused)
    optimizer = ClippedAdamW(ours.parameters(), max_norm=1.0, **options)
    reference = torch.optim.AdamW(theirs.parameters(), **options)
    expected_norm = float(torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0))
    reference.step()
    optimizer.step()
    assert optimizer.last_grad_norm == pytest.approx(expected_norm, rel=1e-6)
    assert (expected_norm > 1.0) == (scale > 1.0)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        # Adam's update hardly depends on the gradient's scale; its first moment does.
        torch.testing.assert_close(optimizer.state[a]["exp_avg"], reference.state[b]["exp_avg"], rtol=1e-6, atol=1e-9)


def test_a_non_finite_norm_skips_the_update_and_says_so(caplog):
    model = _model_and_grads(0, 1.0)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = ClippedAdamW(model.parameters(), max_norm=1.0, lr=1e-2, fused=True)
    next(model.parameters()).grad[0, 0] = float("nan")
    optimizer.step()
    assert optimizer.skipped_steps == 1 and optimizer.last_grad_norm != optimizer.last_grad_norm  # nan
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before))
    assert "update skipped" in caplog.text
    # The next finite step updates (the skipped one left no state behind).
    model.zero_grad()
    (model(torch.randn(2, 16)).sum()).backward()
    optimizer.step()
    assert not torch.equal(next(model.parameters()), before[0])


ZERO2 = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    import torch.multiprocessing as mp
    from relate_ray.sync.broadcast import free_port
    from zero2_ranks import join_gloo_group, small_model

    def model_and_batch():
        model = small_model()
        return model, torch.randn(8, 16) * 5

    def rank_main(rank, world, port, dtype, out):
        join_gloo_group(rank, world, port)
        import deepspeed
        from relate_ray.workers.clipped_adamw import ClippedAdamW
        from relate_ray.workers.deepspeed_config import zero2_config
        model, batch = model_and_batch()
        optimizer = ClippedAdamW(model.parameters(), max_norm=1.0, lr=1e-2, fused=True)
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=zero2_config(
            8 // world, 1, world, bf16=dtype == "bfloat16"))
        part = batch.chunk(world)[rank].to(next(engine.module.parameters()).dtype)
        moments = torch.zeros((), dtype=torch.float64)
        for step in range(2):
            engine.backward(engine(part).float().square().mean())  # ZeRO averages the ranks' gradients
            engine.step()
            if step == 0:  # this rank's part of (1 - beta1) x the clipped gradient
                moments += sum(s["exp_avg"].double().square().sum() for s in optimizer.state.values())
                first_norm = optimizer.last_grad_norm
        dist.all_reduce(moments)
        if rank == 0:
            weights = [p.detach().float() for p in engine.module.parameters()]
            torch.save((weights, first_norm, float(moments.sqrt())), out)
        # Every rank leaves the group together: a rank exiting with its gloo group alive aborted
        # ("terminate called without an active exception", SIGABRT) once in a suite run.
        dist.barrier()
        dist.destroy_process_group()

    if __name__ == "__main__":
        world, dtype, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        mp.spawn(rank_main, args=(world, free_port(), dtype, out), nprocs=world)
        got, norm, moment = torch.load(out)
        model, batch = model_and_batch()
        reference = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
        norms = []
        for _ in range(2):
            reference.zero_grad()
            model(batch).square().mean().backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
            reference.step()
        expected = norms[0]
        assert expected > 1.0, expected  # the clip acted
        tolerance = 1e-5 if dtype == "float32" else 2e-2
        assert abs(norm - expected) <= tolerance * expected, (norm, expected)
        # The first moment after one step is 0.1 x the gradient clipped to norm 1, over all ranks.
        assert abs(moment - 0.1) <= tolerance * 0.1, moment
        if dtype == "float32":  # in bf16 Adam's near sign-sized steps on tiny gradients differ
            for a, b in zip(got, model.parameters()):
                torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)
        print("ok")
""")


@pytest.mark.parametrize("world, dtype", [(1, "float32"), (2, "float32"), (1, "bfloat16")])
def test_under_deepspeed_zero2_the_update_is_the_clipped_one(tmp_path, world, dtype):
    """DeepSpeed hands the optimizer its flat partition of the averaged gradients; the norm must be
    summed over the ranks' partitions and the clip applied once (not by DeepSpeed too)."""
    run_script(ZERO2, tmp_path, str(world), dtype, str(tmp_path / "rank0.pt"))


def test_a_negative_clip_is_refused_in_one_line_and_zero_is_accepted():
    from hydra import compose, initialize_config_dir

    from relate_ray.config import ConfigError, register_configs
    from relate_ray.data.prompts import DEFAULT_CONF_DIR
    from relate_ray.validation import validate_config

    register_configs()
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        validate_config(compose(config_name="config", overrides=["learner.grad_clip=0"]))
        with pytest.raises(ConfigError) as err:
            validate_config(compose(config_name="config", overrides=["learner.grad_clip=-1"]))
    assert str(err.value) == "learner.grad_clip: must be >= 0 (0: no clipping), got -1.0"
