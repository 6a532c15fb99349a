"""Packing and response log-probs against a direct log_softmax computation."""

import pytest
import torch

from relate_ray.algo.logprobs import pack_sequences, pad_rows, response_logprobs, token_logprobs


def test_pack_places_responses_after_prompts():
    packed = pack_sequences([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]], pad_id=0)
    assert packed.input_ids.tolist() == [[1, 2, 3, 5, 6], [4, 7, 8, 9, 0]]
    assert packed.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert packed.response_index.tolist() == [[3, 4, 0], [1, 2, 3]]
    assert packed.response_mask.tolist() == [[1, 1, 0], [1, 1, 1]]


def test_response_logprobs_match_log_softmax_of_the_previous_position():
    torch.manual_seed(0)
    packed = pack_sequences([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]], pad_id=0)
    logits = torch.randn(2, 5, 11)
    got = response_logprobs(logits, packed.input_ids, packed.response_index, packed.response_mask)
    full = torch.log_softmax(logits, dim=-1)
    expected = torch.tensor([[full[0, 2, 5], full[0, 3, 6], 0.0], [full[1, 0, 7], full[1, 1, 8], full[1, 2, 9]]])
    assert torch.allclose(got, expected, atol=1e-6)


def test_token_logprobs_pick_the_token_and_zero_the_padding():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 7)
    tokens = torch.tensor([[1, 2, 3], [4, 5, 0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    got = token_logprobs(logits, tokens, mask)
    full = torch.log_softmax(logits, dim=-1)
    assert torch.allclose(got[0], full[0, [0, 1, 2], [1, 2, 3]], atol=1e-6)
    assert torch.allclose(got[1, :2], full[1, [0, 1], [4, 5]], atol=1e-6) and got[1, 2] == 0


def test_pad_rows_right_pads_ragged_lists_and_arrays():
    import numpy as np

    out = pad_rows([[1.5, 2.0], np.array([3.0]), []], width=3)
    assert out.dtype == torch.float32
    assert out.tolist() == [[1.5, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_token_logprobs_take_the_sampling_temperature():
    torch.manual_seed(2)
    logits = torch.randn(2, 3, 7)
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    mask = torch.ones(2, 3)
    got = token_logprobs(logits, tokens, mask, temperature=0.7)
    full = torch.log_softmax(logits / 0.7, dim=-1)
    assert torch.allclose(got, full.gather(2, tokens.unsqueeze(-1)).squeeze(-1), atol=1e-6)
    # Not the temperature-1 values: the learner would score another distribution than it sampled.
    assert not torch.allclose(got, token_logprobs(logits, tokens, mask), atol=1e-3)


def test_response_logprobs_pass_the_temperature_through():
    torch.manual_seed(3)
    packed = pack_sequences([[1, 2]], [[3, 4]], pad_id=0)
    logits = torch.randn(1, 4, 9)
    got = response_logprobs(logits, packed.input_ids, packed.response_index, packed.response_mask, temperature=2.0)
    full = torch.log_softmax(logits / 2.0, dim=-1)
    assert torch.allclose(got, torch.tensor([[full[0, 1, 3], full[0, 2, 4]]]), atol=1e-6)


def _reference_logprobs(logits, tokens, temperature):
    """float64 autograd of log_softmax(logits / T) at the tokens: what token_logprobs must equal."""
    full = torch.log_softmax(logits.double() / temperature, dim=-1)
    return full.gather(2, tokens.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature", [1.0, 0.9])
def test_token_logprobs_gradient_is_the_log_softmax_gradient(monkeypatch, dtype, temperature):
    import relate_ray.algo.logprobs as logprobs

    # Blocks of 2 rows over 3 x 5 = 15 positions: several blocks and a short last one.
    monkeypatch.setattr(logprobs, "_BLOCK_BYTES", 2 * 4 * 50)
    generator = torch.Generator().manual_seed(4)
    base = (torch.randn(3, 5, 50, generator=generator) * 4).to(dtype)
    tokens = torch.randint(0, 50, (3, 5), generator=generator)
    mask = torch.ones(3, 5)
    mask[1, 3:] = 0
    weights = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    logits = base.clone().requires_grad_(True)
    got = token_logprobs(logits, tokens, mask, temperature)
    (got.double() * weights).sum().backward()
    reference = base.double().requires_grad_(True)
    want = _reference_logprobs(reference, tokens, temperature) * mask.double()
    (want * weights).sum().backward()
    assert got.dtype == torch.float32 and logits.grad.dtype == dtype
    assert torch.allclose(got.double(), want, atol=1e-5)
    tolerance = 1e-6 if dtype == torch.float32 else 2e-2  # bf16: the gradient's own rounding
    assert torch.allclose(logits.grad.double(), reference.grad, atol=tolerance, rtol=tolerance)
    # The masked positions get no gradient at all.
    assert logits.grad[1, 3:].abs().sum() == 0


def test_token_logprobs_of_a_non_contiguous_view_and_of_no_positions():
    torch.manual_seed(5)
    wide = torch.randn(2, 9, 7, requires_grad=True)
    logits = wide[:, 1::2]  # [2, 4, 7], strided
    tokens = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 1]])
    got = token_logprobs(logits, tokens, torch.ones(2, 4), 0.8)
    assert torch.allclose(got.double(), _reference_logprobs(logits.detach(), tokens, 0.8), atol=1e-6)
    got.sum().backward()
    assert wide.grad[:, 0::2].abs().sum() == 0 and wide.grad[:, 1::2].abs().sum() > 0
    empty = token_logprobs(torch.randn(2, 0, 7), torch.zeros(2, 0, dtype=torch.long), torch.ones(2, 0))
    assert empty.shape == (2, 0)
