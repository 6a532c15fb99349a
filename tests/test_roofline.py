"""The FLOP count behind the bench's roofline, against a hand count and against the parameters a
real model holds; the memory bandwidth's kinds."""

import pytest

from relate_ray.bench.roofline import ModelShape, backward_flops, causal_attended, forward_flops, memory_bandwidth

# SmolLM2-135M's shapes (its config.json).
SMOLLM2 = ModelShape(hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, head_dim=64, vocab=49152)


def test_linear_parameters_match_the_model():
    # q 576x576, k and v 576x192, o 576x576, gate/up/down 576x1536 each: 3,538,944 per layer, and with
    # the tied 49152 x 576 embedding and the norms the model's 134.5 M parameters.
    assert SMOLLM2.linear_params_per_layer == 3_538_944
    total = 30 * SMOLLM2.linear_params_per_layer + 49152 * 576 + (2 * 30 + 1) * 576
    assert total == pytest.approx(134.5e6, rel=0.001)


def test_a_hand_counted_forward():
    # A 2-layer toy: hidden 4, 1 head of 4, MLP 8, vocab 10; 3 tokens of one causal sequence with
    # logits at the last 2.
    toy = ModelShape(hidden=4, intermediate=8, layers=2, heads=1, kv_heads=1, head_dim=4, vocab=10)
    assert toy.linear_params_per_layer == 4 * 16 + 3 * 32  # q, k, v, o 4x4; three 4x8
    attended = causal_attended([3])  # 1 + 2 + 3
    expected = 2 * (2 * 160 * 3 + 4 * 1 * 4 * 6) + 2 * 4 * 10 * 2
    assert forward_flops(toy, tokens=3, attended=attended, logit_tokens=2) == expected
    assert backward_flops(expected) == 2 * expected


def test_the_learner_forward_of_a_group_is_about_twice_the_parameters_per_token():
    # 5 responses of 40 tokens on one 150-token prompt (shared): 350 positions, logits at 200.
    attended = causal_attended([150]) + 5 * sum(150 + t for t in range(1, 41))
    flops = forward_flops(SMOLLM2, tokens=150 + 200, attended=attended, logit_tokens=200)
    dense = 2 * 30 * SMOLLM2.linear_params_per_layer * 350 + 2 * 576 * 49152 * 200
    assert dense < flops < 1.1 * dense  # attention adds a few percent at these lengths


def test_memory_bandwidth_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="copy or read"):
        memory_bandwidth(megabytes=1, seconds=0.01, kind="write")
