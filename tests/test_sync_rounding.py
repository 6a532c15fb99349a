"""fp32 -> bf16 weight casting for the sync: stochastic rounding is unbiased, so a small update
reaches a bf16 engine in expectation; round-to-nearest drops it (the bf16 learning failure)."""

import pytest
import torch

from relate_ray.sync.rounding import cast_weights, stochastic_round_bf16, sync_generator


def bf16_grid_weights(n=200_000, seed=0):
    """Weights exactly on the bf16 grid, as the bundled (bf16-stored) checkpoint's are."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * 0.05).to(torch.bfloat16).float()


def test_a_small_update_is_lost_to_nearest_and_kept_by_stochastic_rounding():
    weights = bf16_grid_weights()
    update = torch.full_like(weights, 2e-5)  # one Adam step at lr 2e-5, far below half a bf16 ulp here
    moved = weights + update
    nearest = cast_weights(moved, torch.bfloat16, "nearest").float()
    stochastic = cast_weights(moved, torch.bfloat16, "stochastic", sync_generator(0, 1)).float()
    # Round-to-nearest gives most weights their old value back: the engine barely follows.
    assert (nearest - weights).mean().item() < 0.5 * 2e-5
    # Stochastic rounding carries the update in expectation.
    assert (stochastic - weights).mean().item() == pytest.approx(2e-5, rel=0.05)


def test_stochastic_rounding_picks_a_neighbour_and_keeps_representable_values():
    exact = bf16_grid_weights(1000)
    assert torch.equal(stochastic_round_bf16(exact).float(), exact)
    values = torch.randn(10_000) * 3
    rounded = stochastic_round_bf16(values, torch.Generator().manual_seed(1)).float()
    down = values.to(torch.bfloat16).float()
    # Each result is one of the two bf16 numbers around the value, on the value's side of zero.
    ulp = (down.abs() * 2**-7).clamp(min=2**-133)
    assert ((rounded - values).abs() <= ulp * 1.01).all()
    assert (torch.sign(rounded) == torch.sign(values)).all()


def test_stochastic_rounding_is_unbiased_for_negative_values_too():
    value = torch.full((100_000,), -0.30001)
    rounded = stochastic_round_bf16(value, torch.Generator().manual_seed(2)).float()
    # 5 standard errors of 100k draws; round-to-nearest would be off by 7.7e-4 here.
    assert rounded.mean().item() == pytest.approx(value[0].item(), abs=1.5e-5)
    assert len(torch.unique(rounded)) == 2


def test_the_draws_depend_only_on_seed_and_version():
    values = torch.randn(1000) * 0.05 + 1e-5
    first = stochastic_round_bf16(values, sync_generator(3, 7))
    again = stochastic_round_bf16(values, sync_generator(3, 7))
    other = stochastic_round_bf16(values, sync_generator(3, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_other_casts_are_plain_copies():
    values = torch.randn(100)
    out = cast_weights(values, torch.float32, "stochastic")
    assert torch.equal(out, values) and out.data_ptr() != values.data_ptr()
    with pytest.raises(ValueError, match="rounding must be one of"):
        cast_weights(values, torch.bfloat16, "floor")
