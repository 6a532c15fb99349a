"""Packing and response log-probs against a direct log_softmax computation."""

import torch

from relate_ray.algo.logprobs import pack_sequences, response_logprobs


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
