"""Packing prompt + response token lists into model inputs, and response-token log-probs.

The learner scores the exact tokens the rollout sampled: the sequence is prompt + response, and the
log-prob of response token t comes from the logits at the position before it. `pad_rows` turns the
ragged per-token lists that cross Ray (advantages, flags, log-probs) into [N, T] tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PackedBatch:
    """input_ids, attention_mask: [N, L] (right-padded). response_index: [N, T] positions in the
    sequence of each response token (0 on padding). response_mask: [N, T] 1 on real tokens."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_index: torch.Tensor
    response_mask: torch.Tensor


def pack_sequences(prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], pad_id: int) -> PackedBatch:
    """Concatenate each prompt with its response and pad to one length."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
    n = len(prompts)
    length = max(len(p) + len(r) for p, r in zip(prompts, responses))
    width = max((len(r) for r in responses), default=0)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, length), dtype=torch.long)
    response_index = torch.zeros((n, width), dtype=torch.long)
    response_mask = torch.zeros((n, width), dtype=torch.float32)
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        total = len(prompt) + len(response)
        input_ids[i, :total] = torch.tensor([*prompt, *response], dtype=torch.long)
        attention_mask[i, :total] = 1
        response_index[i, : len(response)] = torch.arange(len(prompt), total)
        response_mask[i, : len(response)] = 1.0
    return PackedBatch(input_ids, attention_mask, response_index, response_mask)


def response_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, response_index: torch.Tensor,
                      response_mask: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """[N, T] log pi(token | prefix) for each response token (0 on padding), at `temperature`.

    Args:
        logits: [N, L, V] model outputs for input_ids [N, L].
        response_index: [N, T] position of each response token; response_mask: [N, T].
        temperature: the rollout's sampling temperature (see `token_logprobs`).
    """
    # The token at position p is predicted by the logits at p - 1 (response tokens have p >= 1).
    previous = (response_index - 1).clamp(min=0)
    picked = torch.gather(logits, 1, previous.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
    return token_logprobs(picked, torch.gather(input_ids, 1, response_index), response_mask, temperature)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
    """[N, T] log-softmax of `logits` / `temperature` [N, T, V] at `tokens` [N, T], in float32; 0 where
    mask [N, T] is 0. Differentiable in `logits` (`_TokenLogprobs`).

    The rollout samples from softmax(logits / T), so the policy whose gradient, ratio and KL the
    learner computes must be that same distribution: every learner log-prob (policy, old, reference)
    takes the sampling temperature, as verl and OpenRLHF do.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return _TokenLogprobs.apply(logits, tokens, 1.0 / temperature) * mask


# Rows of the vocabulary at a time (about 4 MB of float32), so that each block's scaled copy, its
# exponentials and its sum stay in cache.
_BLOCK_BYTES = 4 << 20


def _rows_per_block(rows: torch.Tensor) -> int:
    """How many of rows' [V]-wide rows make one _BLOCK_BYTES block in float32 (at least one)."""
    return max(1, _BLOCK_BYTES // (4 * rows.shape[1]))


class _TokenLogprobs(torch.autograd.Function):
    """log_softmax(scale * logits)[token] over the last dimension, row block by row block.

    The same value as `torch.logsumexp` of the scaled logits subtracted from the scaled picked logit,
    and the gradient written directly: scale * g * (onehot(token) - softmax(scale * logits)). Why not
    autograd over `logits.float() / T`, gather and logsumexp: that wrote [N, T, V] float32 tensors
    some ten times over (the scaled copy, the shifted one, the exponentials, the gather's zero-filled
    gradient, the sum of the two gradients...); at a bench micro-batch (480 positions x 49,152, 94 MB
    in float32, 2 threads, the learner's heap) forward + backward took 75 ms against 30 ms this way,
    and 88 against 30 ms with bfloat16 logits (`/work/probe42/tlp.py`)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, tokens: torch.Tensor, scale: float) -> torch.Tensor:
        rows, picked_index = logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1, 1)
        block = _rows_per_block(rows)
        lse = torch.empty(rows.shape[0], dtype=torch.float32, device=rows.device)
        for start in range(0, rows.shape[0], block):
            lse[start:start + block] = torch.logsumexp(rows[start:start + block].float() * scale, dim=-1)
        picked = rows.gather(1, picked_index).squeeze(1).float() * scale
        ctx.save_for_backward(logits, tokens, lse)
        ctx.scale = scale
        return (picked - lse).view(tokens.shape)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        logits, tokens, lse = ctx.saved_tensors
        scale = ctx.scale
        rows, picked_index = logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1, 1)
        scaled_grad = grad.reshape(-1).float() * scale
        out = torch.empty_like(rows)
        block = _rows_per_block(rows)
        for start in range(0, rows.shape[0], block):
            end = start + block
            if rows.dtype == torch.float32:  # computed in place in the output's own rows
                part = torch.mul(rows[start:end], scale, out=out[start:end])
            else:
                part = rows[start:end].float().mul_(scale)
            part.sub_(lse[start:end, None]).exp_().mul_(-scaled_grad[start:end, None])
            part.scatter_add_(1, picked_index[start:end], scaled_grad[start:end, None])
            if rows.dtype != torch.float32:
                out[start:end] = part
        return out.view_as(logits), None, None


def pad_rows(rows: Sequence[Sequence[float]], width: int) -> torch.Tensor:
    """Ragged per-token rows (lists or arrays) -> [N, width] float32, zero-padded on the right."""
    out = torch.zeros(len(rows), width)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(np.asarray(row, dtype=np.float32).copy())
    return out


def pad_tokens(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged token lists -> ([N, T] int64 right-padded with pad_id, [N, T] float32 mask of real tokens)."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), width)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.as_tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1.0
    return ids, mask
