"""The shared-prompt forward gives the full forward's log-probs and gradients (tiny random Llama)."""

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from relate_ray.algo.logprobs import pad_tokens
from relate_ray.workers.learner_forward import attention_backend, full_logprobs, shared_prefix_logprobs


@pytest.fixture(scope="module")
def tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).float()


def _batch():
    # Two prompts of different lengths, interleaved rows, responses of different lengths (padding).
    p1, p2 = [5, 9, 14, 3, 22, 7], [40, 41, 42]
    prompts = [p1, p2, p1, p2, p1]
    responses = [[11, 12, 13, 14], [50], [60, 61], [70, 71, 72, 73, 74], [80, 81, 82]]
    return prompts, responses


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_shared_prefix_matches_full_forward_values_and_grads(tiny_llama):
    prompts, responses = _batch()
    tiny_llama.zero_grad()
    full = full_logprobs(tiny_llama, prompts, *pad_tokens(responses, 0), pad_id=0)
    (full * torch.arange(1.0, 6.0)[:, None]).sum().backward()
    full_grads = _grads(tiny_llama)
    tiny_llama.zero_grad()
    shared = shared_prefix_logprobs(tiny_llama, prompts, *pad_tokens(responses, 0), pad_id=0)
    (shared * torch.arange(1.0, 6.0)[:, None]).sum().backward()
    assert shared.shape == (5, 5)
    assert torch.allclose(shared, full, atol=1e-5)
    assert torch.allclose(_grads(tiny_llama), full_grads, atol=1e-5)
    # Padding positions are exactly zero and real tokens have finite negative log-probs.
    assert shared[1, 1:].abs().sum() == 0
    assert (shared[3] < 0).all()


def test_shared_prefix_keeps_row_order_for_a_single_row(tiny_llama):
    with torch.no_grad():
        one = shared_prefix_logprobs(tiny_llama, [[1, 2, 3]], *pad_tokens([[4, 5]], 0), pad_id=0)
        full = full_logprobs(tiny_llama, [[1, 2, 3]], *pad_tokens([[4, 5]], 0), pad_id=0)
    assert torch.allclose(one, full, atol=1e-5)


def test_one_token_responses_are_scored_by_the_prompt_pass_alone(tiny_llama):
    with torch.no_grad():
        one = shared_prefix_logprobs(tiny_llama, [[1, 2, 3], [1, 2, 3]], *pad_tokens([[4], [6]], 0), pad_id=0)
        full = full_logprobs(tiny_llama, [[1, 2, 3], [1, 2, 3]], *pad_tokens([[4], [6]], 0), pad_id=0)
    assert one.shape == (2, 1) and torch.allclose(one, full, atol=1e-5)
    with torch.no_grad():  # a one-token prompt has no prompt pass: its token opens the responses' pass
        one = shared_prefix_logprobs(tiny_llama, [[7], [7]], *pad_tokens([[4, 5], [6]], 0), pad_id=0)
        full = full_logprobs(tiny_llama, [[7], [7]], *pad_tokens([[4, 5], [6]], 0), pad_id=0)
    assert torch.allclose(one, full, atol=1e-5)


def test_a_batch_of_several_prompts_takes_two_passes_with_the_full_forwards_numbers(tiny_llama):
    # All prompts in one padded pass, all responses in one more, whatever the number of prompts: a
    # pass per prompt (the earlier loop) ran five here. A one-token prompt (no prompt tokens
    # in the cache, only the padding, which its row must not attend to) rides along with the others.
    prompts = [[5, 9, 14, 3, 22, 7], [7], [40, 41, 42], [7], [5, 9, 14, 3, 22, 7]]
    responses = [[11, 12, 13], [4, 5], [50, 51, 52, 53], [6], [80]]
    calls = []
    hook = tiny_llama.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        with torch.no_grad():
            shared = shared_prefix_logprobs(tiny_llama, prompts, *pad_tokens(responses, 0), pad_id=0)
    finally:
        hook.remove()
    with torch.no_grad():
        full = full_logprobs(tiny_llama, prompts, *pad_tokens(responses, 0), pad_id=0)
    assert len(calls) == 2
    assert torch.allclose(shared, full, atol=1e-5)


def test_a_frozen_models_output_matrix_is_never_copied_per_response(tiny_llama):
    # The reference model's weights do not require grad. With the response pass's logits taken from a
    # slice of its hidden states, torch.matmul ran the output projection as a batched matmul over a
    # copy of the vocabulary x d matrix per response (the bf16 reference pass took 1.7x the policy's).
    from torch.profiler import ProfilerActivity, profile

    tiny_llama.requires_grad_(False)
    try:
        prompts, responses = _batch()
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
            frozen = shared_prefix_logprobs(tiny_llama, prompts, *pad_tokens(responses, 0), pad_id=0)
    finally:
        tiny_llama.requires_grad_(True)
    ops = {event.key: event.count for event in prof.key_averages()}
    assert ops.get("aten::bmm", 0) == 0, ops.get("aten::bmm")
    with torch.no_grad():
        assert torch.allclose(frozen, full_logprobs(tiny_llama, prompts, *pad_tokens(responses, 0), pad_id=0), atol=1e-5)


def _graph_nodes(tensor) -> set[str]:
    seen, names, stack = set(), set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_math_attention_replaces_flash_with_the_same_values_and_grads(tiny_llama):
    # The learner's bf16 trained pass (learner.math_attention): no flash-attention node may be left
    # in its graph (else its slow CPU backward runs), and the numbers are attention's all the same.
    prompts, responses = _batch()
    model = copy.deepcopy(tiny_llama).to(torch.bfloat16)
    results = {}
    for math in (False, True):
        model.zero_grad()
        with attention_backend(math=math):
            logp = shared_prefix_logprobs(model, prompts, *pad_tokens(responses, 0), pad_id=0)
        flash = {name for name in _graph_nodes(logp) if "Flash" in name}
        (logp.float() * torch.arange(1.0, 6.0)[:, None]).sum().backward()
        results[math] = (logp.float(), _grads(model).float(), flash)
    assert results[False][2] and not results[True][2]  # torch's choice is flash; the math backend is not
    assert torch.allclose(results[True][0], results[False][0], atol=0.05)
    # bf16 gradients: within 2 % of the largest one (both backends differ from fp32's by about 1 %; a
    # wrong attention is off by the gradient's own size). Element by element, rounding lands one of
    # 21,696 outside any fixed tolerance by chance.
    difference = (results[True][1] - results[False][1]).abs().max()
    assert difference <= 0.02 * results[False][1].abs().max(), difference
