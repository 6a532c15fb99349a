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
    mask [N, T] is 0.

    The rollout samples from softmax(logits / T), so the policy whose gradient, ratio and KL the
    learner computes must be that same distribution: every learner log-prob (policy, old, reference)
    takes the sampling temperature, as verl and OpenRLHF do.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    picked = torch.gather(logits, 2, tokens.unsqueeze(-1)).squeeze(-1)
    return (picked - torch.logsumexp(logits, dim=-1)) * mask


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
