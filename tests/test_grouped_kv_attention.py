"""The learner's grouped-K/V attention gives transformers' sdpa attention's log-probs and gradients
without copying the key/value heads (tiny random Llama, 4 query heads over 2 key/value heads)."""

import copy

import pytest
import torch
import transformers.integrations.sdpa_attention as sdpa_attention
from transformers import LlamaConfig, LlamaForCausalLM

from relate_ray.algo.logprobs import pad_tokens
from relate_ray.workers.grouped_kv_attention import GROUPED_KV_SDPA, use_grouped_kv_attention
from relate_ray.workers.learner_forward import attention_backend, full_logprobs, shared_prefix_logprobs


def _llama(kv_heads: int, attn_implementation: str = "sdpa"):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=128,
                         tie_word_embeddings=True, attn_implementation=attn_implementation)
    return LlamaForCausalLM(config).float()


def _batch():
    # Two prompts of different lengths and responses of different lengths: both passes carry a mask.
    prompts = [[5, 9, 14, 3, 22, 7], [40, 41, 42], [5, 9, 14, 3, 22, 7], [40, 41, 42]]
    responses = [[11, 12, 13, 14], [50], [60, 61, 62], [70, 71, 72, 73, 74]]
    return prompts, pad_tokens(responses, 0)


def _logprobs_and_grads(model, forward, math: bool):
    prompts, (ids, mask) = _batch()
    model.zero_grad(set_to_none=True)
    with attention_backend(math):
        logprobs = forward(model, prompts, ids, mask, pad_id=0)
    (logprobs * torch.arange(1.0, 5.0)[:, None]).sum().backward()
    return logprobs.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("math", [False, True], ids=["flash", "math"])
@pytest.mark.parametrize("forward", [shared_prefix_logprobs, full_logprobs])
def test_grouped_heads_give_sdpas_logprobs_and_gradients(forward, math):
    reference = _llama(kv_heads=2)
    grouped = copy.deepcopy(reference)
    assert use_grouped_kv_attention(grouped)
    assert grouped.config._attn_implementation == GROUPED_KV_SDPA
    want_logprobs, want_grads = _logprobs_and_grads(reference, forward, math)
    got_logprobs, got_grads = _logprobs_and_grads(grouped, forward, math)
    assert torch.allclose(got_logprobs, want_logprobs, atol=1e-6)
    # The key/value gradients are summed over their query heads in another order: rounding only.
    assert torch.allclose(got_grads, want_grads, rtol=1e-5, atol=1e-6)


def test_the_key_value_heads_are_not_copied(monkeypatch):
    """The point of it: transformers' repeat_kv (a copy of every key and value head per query head,
    and a sum in the backward) never runs in a grouped model's masked pass."""
    grouped = _llama(kv_heads=2)
    use_grouped_kv_attention(grouped)

    def refuse(*args, **kwargs):
        raise AssertionError("repeat_kv ran")

    monkeypatch.setattr(sdpa_attention, "repeat_kv", refuse)
    _logprobs_and_grads(grouped, shared_prefix_logprobs, math=False)
    with pytest.raises(AssertionError, match="repeat_kv ran"):  # the probe itself works on plain sdpa
        _logprobs_and_grads(_llama(kv_heads=2), shared_prefix_logprobs, math=False)


def test_ungrouped_heads_and_other_implementations():
    # Equal head counts: nothing to group, the same values as sdpa.
    plain = _llama(kv_heads=4)
    switched = copy.deepcopy(plain)
    assert use_grouped_kv_attention(switched)
    assert torch.equal(_logprobs_and_grads(switched, shared_prefix_logprobs, False)[0],
                       _logprobs_and_grads(plain, shared_prefix_logprobs, False)[0])
    # A model on eager attention keeps it.
    eager = _llama(kv_heads=2, attn_implementation="eager")
    assert not use_grouped_kv_attention(eager)
    assert eager.config._attn_implementation == "eager"
