"""The learner's forward pass: log-probs of sampled responses under a causal LM.

GRPO samples G responses per prompt, so a batch repeats every prompt G times, and prompts are most
of the tokens (about 150 prompt vs 64 response tokens by default). `shared_prefix_logprobs` runs each
distinct prompt once (all of a batch's prompts in one padded pass), keeps the KV cache, gives each
response its prompt's cache and runs only the response tokens on top (all responses in one pass):
the same numbers as the full forward (`full_logprobs`) for about half the compute, and gradients
flow through the cache into each prompt's single pass. Logits are computed only where a
response token is predicted, never over the prompt (the vocabulary projection is ~20% of a small
model's FLOPs per position).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

from relate_ray.algo.logprobs import pack_sequences, pad_tokens, response_logprobs, token_logprobs


def attention_backend(math: bool):
    """The context a pass runs in: math=True sends its attention (torch SDPA) to the math backend,
    two batched matmuls around a softmax, whose backward is autograd's; otherwise torch picks (on CPU,
    its flash-attention kernel).

    Why the learner's trained pass takes the math backend in bfloat16 on CPU: CPU flash attention's
    backward there takes 4-5x its forward, while the math backend's backward is bf16 GEMMs. One
    bench group (150-token prompt, 5 x 48 responses, SmolLM2-135M, 2 threads, AMD EPYC Zen 4),
    alternated in one process: forward + backward 1.53 s against 1.67 s (forward 0.57 against 0.50,
    backward 0.98 against 1.16). No-grad passes stay with flash (0.49 against 0.57 s), and in
    float32 the two were equal (2.39 s each)."""
    if not math:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def full_logprobs(model, prompts: Sequence[Sequence[int]], response_ids: torch.Tensor, response_mask: torch.Tensor,
                  pad_id: int, device: torch.device | str = "cpu", temperature: float = 1.0) -> torch.Tensor:
    """[N, T] response-token log-probs (at the sampling `temperature`) from one padded forward of
    every prompt + response. response_ids, response_mask: [N, T], right-padded."""
    lengths = response_mask.sum(dim=1).long().tolist()
    responses = [response_ids[i, :n].tolist() for i, n in enumerate(lengths)]
    packed = pack_sequences(prompts, responses, pad_id)
    logits = model(input_ids=packed.input_ids.to(device), attention_mask=packed.attention_mask.to(device)).logits
    out = response_logprobs(logits, packed.input_ids.to(device), packed.response_index.to(device),
                            packed.response_mask.to(device), temperature)
    return _to_width(out, response_ids.shape[1])


def shared_prefix_logprobs(model, prompts: Sequence[Sequence[int]], response_ids: torch.Tensor,
                           response_mask: torch.Tensor, pad_id: int, device: torch.device | str = "cpu",
                           temperature: float = 1.0) -> torch.Tensor:
    """[N, T] response-token log-probs at the sampling `temperature` (0 on padding), rows in input
    order. response_ids, response_mask: [N, T], right-padded (pad_id: the fill of the padding).

    Two passes for the whole batch, whatever its prompts: the distinct prompts once each, right-padded
    to one length, for their KV cache; then every response on its prompt's cache. Needs a Hugging Face
    causal LM that accepts `use_cache`, `past_key_values`, `position_ids` and `logits_to_keep` (Llama,
    Qwen, Mistral...).

    Why one pass over all prompts and not a pass per prompt: at a GRPO group's size (5 x 48 response
    tokens, SmolLM2-135M, 2 threads) each pass's GEMMs are small and its hundreds of other kernels
    cost about as much per call at any batch; two groups' forward + backward took 4.15 s in one pass
    each against 4.55 s in a pass per prompt (fp32; bf16 2.55 against 2.84 s; four groups without
    grad 2.62 against 3.00 s; AMD EPYC Zen 4, alternated in one process). The prompts' padding is
    masked out of the responses' attention and never scored.

    Every position of the responses' pass is scored: it is fed the prompt's last token (which
    predicts response token 0) and the response tokens but the last (which predicts nothing scored),
    and keeps all its logits. Why not feed whole responses and keep a slice of the logits (as
    `logits_to_keep` offers): torch.matmul cannot fold a sliced [k, t, d] hidden state into one GEMM,
    and unless the output matrix requires grad (the frozen reference's does not) it runs a batched
    matmul over a copy of the vocabulary x d matrix per row. Measured on SmolLM2 (2 threads, bf16):
    324 ms for 5 responses against 37 ms, and 66 ms for a prompt's one kept position.
    """
    if len(prompts) != response_ids.shape[0] or response_ids.shape != response_mask.shape:
        raise ValueError(f"{len(prompts)} prompts for responses {tuple(response_ids.shape)}, "
                         f"mask {tuple(response_mask.shape)}")
    n, width = response_ids.shape
    if width == 0:
        return torch.zeros(n, 0, device=device)
    index_of: dict[tuple[int, ...], int] = {}
    row_prompt = torch.tensor([index_of.setdefault(tuple(p), len(index_of)) for p in prompts], device=device)
    distinct = list(index_of)
    lengths = torch.tensor([len(p) for p in distinct], device=device)[row_prompt]  # [N]
    cache = _prompt_cache(model, distinct, pad_id, device)
    prefix = 0
    if cache is not None:
        prefix = cache.get_seq_length()
        _select_rows(cache, row_prompt)  # each row on its own prompt's cache
    tokens = response_ids.to(device)
    mask = response_mask.to(device=device, dtype=torch.float32)
    last = torch.tensor([p[-1] for p in distinct], dtype=tokens.dtype, device=device)[row_prompt]
    fed = torch.cat([last[:, None], tokens[:, :-1]], dim=1)
    fed_mask = torch.cat([torch.ones(n, 1, device=device), mask[:, :-1]], dim=1)
    # A row attends to its own prompt's positions (not the padding after a shorter prompt) and its fed tokens.
    own_prompt = torch.arange(prefix, device=device)[None, :] < (lengths - 1)[:, None]
    attention = torch.cat([own_prompt.long(), fed_mask.long()], dim=1)
    positions = (lengths - 1)[:, None] + torch.arange(width, device=device)[None, :]
    out = model(input_ids=fed, attention_mask=attention, position_ids=positions, past_key_values=cache,
                use_cache=True, logits_to_keep=0)
    return token_logprobs(out.logits, tokens, mask, temperature)


def _prompt_cache(model, prompts: list[tuple[int, ...]], pad_id: int, device):
    """The KV cache of every prompt but its last token, one row per prompt, right-padded to the longest;
    None when every prompt is one token. No logits (an empty slice folds into an empty GEMM), and no
    attention mask: causal attention keeps each prompt's positions from the padding after them."""
    ids, _ = pad_tokens([prompt[:-1] for prompt in prompts], pad_id)
    if ids.shape[1] == 0:
        return None
    cache = model(input_ids=ids.to(device), use_cache=True, logits_to_keep=slice(0, 0)).past_key_values
    if cache is None:
        raise RuntimeError("the model returned no KV cache (gradient checkpointing disables it): "
                           "use the full forward")
    return cache


def _select_rows(cache, rows: torch.Tensor) -> None:
    """The cache's `batch_select_indices(rows)` (each layer's [P, ...] states -> [N, ...]) through the
    layers' `reorder_cache` (transformers' beam-search reorder: index_select) instead of advanced
    indexing: the same values, and a backward (index_add) that took a fifth of advanced indexing's
    (index_put with accumulation) at a bench micro-batch's rows ([2, 3, 150, 64] -> 10), where
    those 60 backwards were 44 ms of an fp32 group's 2.6 s."""
    for layer in cache.layers:
        layer.reorder_cache(rows)


def _to_width(values: torch.Tensor, width: int) -> torch.Tensor:
    """[N, T'] -> [N, width], zero-padded (the packed batch is as wide as its longest response)."""
    if values.shape[1] >= width:
        return values[:, :width]
    return torch.nn.functional.pad(values, (0, width - values.shape[1]))
