"""ZeRO-2's step flattens the gradient partition into one buffer kept between steps (CPU), with the
same updates as DeepSpeed's own new tensor every step (one rank, gloo, float32 and bfloat16)."""

import textwrap

import torch

from relate_ray.workers.zero_flat_gradient import keep_flat_gradient_buffer
from own_process import run_script

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from zero2_ranks import join_gloo_group, small_model
    join_gloo_group(0, 1, int(sys.argv[1]))
    import deepspeed
    from relate_ray.workers.clipped_adamw import ClippedAdamW
    from relate_ray.workers.deepspeed_config import zero2_config
    from relate_ray.workers.zero_flat_gradient import keep_flat_gradient_buffer

    class Recording(ClippedAdamW):
        # Holds every gradient it was handed: DeepSpeed's own flatten must then allocate anew.
        def step(self, closure=None):
            self.seen = getattr(self, "seen", []) + [self.param_groups[0]["params"][0].grad]
            return super().step(closure)

    def train(dtype, keep):
        model = small_model()
        optimizer = Recording(model.parameters(), max_norm=1.0, lr=1e-2, fused=True)
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer,
                                               config=zero2_config(8, 1, 1, bf16=dtype == "bfloat16"))
        if keep:
            assert keep_flat_gradient_buffer(engine.optimizer)
        batch = torch.randn(8, 16, generator=torch.Generator().manual_seed(1)) * 5
        for step in range(3):
            engine.backward(engine(batch.to(next(engine.module.parameters()).dtype) * (step + 1)).float().square().mean())
            engine.step()
        weights = torch.cat([p.detach().float().flatten() for p in engine.module.parameters()])
        return weights, [g.data_ptr() for g in optimizer.seen]

    for dtype in ("float32", "bfloat16"):
        kept, kept_ptrs = train(dtype, keep=True)
        plain, plain_ptrs = train(dtype, keep=False)
        assert torch.equal(kept, plain), (dtype, (kept - plain).abs().max())
        if dtype == "float32":  # the fp32 partition's gradient is the flat buffer itself
            assert len(set(kept_ptrs)) == 1, kept_ptrs
            assert len(set(plain_ptrs)) == 3, plain_ptrs  # the probe tells the two apart
    torch.distributed.destroy_process_group()
    print("ok")
""")


def test_kept_buffer_gives_deepspeeds_updates_and_is_the_same_tensor_every_step(tmp_path):
    from relate_ray.sync.broadcast import free_port

    run_script(SCRIPT, tmp_path, str(free_port()))


def test_anything_but_a_zero_optimizer_is_left_alone():
    assert not keep_flat_gradient_buffer(torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1))
    assert not keep_flat_gradient_buffer(object())
