"""How a step's samples reach the learner ranks, and how the ranks' statistics come back together.

`LearnerBatch` is the one typed value that crosses from the controller to a rank: padded tensors
(tokens, mask, advantages, the sampler's log-probs), the sampling temperature and the step's token
count, padded once on the controller; a rank only slices it.

A step's B*G samples are cut into `mini_batches` mini-batches (one optimizer step each, repeated for
`ppo_epochs`), and each mini-batch is spread evenly over the ranks. Every mini-batch carries its
totals over all ranks (tokens, sequences), so each rank's loss shares add up to the mini-batch's
loss whatever the micro-batch size and the rank count (relate_ray.algo.loss.StepNormalizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from relate_ray.algo.logprobs import pad_rows, pad_tokens

# Keys the ranks report as token-weighted means (combined with the ranks' token counts).
_TOKEN_MEANS = ("kl", "clip_frac", "ratio", "tis_weight", "mismatch/kl", "mismatch/abs_log_ratio")


def plan_minibatches(lengths: Sequence[int], num_ranks: int, mini_batches: int
                     ) -> tuple[list[list[list[int]]], list[tuple[float, float]]]:
    """Split samples (in order) into mini-batches, then each mini-batch over the ranks.

    Args:
        lengths: [N] response lengths in tokens.
        num_ranks, mini_batches: M ranks and K mini-batches; N must be a multiple of M * K.
    Returns:
        (plan, normalizers): plan[rank][k] = the global sample indices rank `rank` trains on in
        mini-batch k; normalizers[k] = (tokens, sequences) of mini-batch k over all ranks.
    """
    n = len(lengths)
    if n % (num_ranks * mini_batches):
        raise ValueError(f"{n} samples do not split into {mini_batches} mini-batches over {num_ranks} ranks")
    plan: list[list[list[int]]] = [[] for _ in range(num_ranks)]
    normalizers = []
    for part in np.array_split(np.arange(n), mini_batches):
        normalizers.append((float(sum(lengths[i] for i in part)), float(len(part))))
        for rank, share in enumerate(np.array_split(part, num_ranks)):
            plan[rank].append([int(i) for i in share])
    return plan, normalizers


@dataclass
class LearnerBatch:
    """Samples as they cross from the controller to a learner rank: padded once, on the controller.

    prompt_ids: [N] token lists (prompts differ in length, and each repeats G times: the learner's
        forward runs every distinct prompt once, so they stay unpadded).
    response_ids: [N, T] int64, the sampled tokens, right-padded with pad_id.
    response_mask: [N, T] float32, 1 on response tokens.
    advantages: [N, T] float32, each token's advantage (eq. 7 / 9), 0 on padding.
    rollout_logprobs: [N, T] float32, the sampler's log-probs, 0 on padding.
    temperature: the sampling temperature; every learner log-prob is of softmax(logits / temperature).
    minibatches: positions (rows of this batch) of each mini-batch, one optimizer step each.
    normalizers: (tokens, sequences) of each mini-batch over all ranks (see StepNormalizer): the
        step's token and sequence counts, which every rank's loss shares are divided by.
    """

    prompt_ids: list[list[int]]
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    advantages: torch.Tensor
    rollout_logprobs: torch.Tensor
    temperature: float
    minibatches: list[list[int]] = field(default_factory=list)
    normalizers: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        shape = tuple(self.response_ids.shape)
        if len(shape) != 2 or len(self.prompt_ids) != shape[0]:
            raise ValueError(f"response_ids {shape} for {len(self.prompt_ids)} prompts")
        for name in ("response_mask", "advantages", "rollout_logprobs"):
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} {tuple(getattr(self, name).shape)}, response_ids {shape}")
        if not self.minibatches:
            self.minibatches = [list(range(shape[0]))]
        if not self.normalizers:
            self.normalizers = [(float(self.response_mask.sum()), float(shape[0]))]

    @classmethod
    def from_ragged(cls, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]],
                    advantages: Sequence[Sequence[float]], rollout_logprobs: Sequence[Sequence[float]],
                    pad_id: int, temperature: float) -> LearnerBatch:
        """From per-sample lists (N of each; advantages and rollout_logprobs one float per response token)."""
        ids, mask = pad_tokens(response_ids, pad_id)
        width = ids.shape[1]
        return cls([list(p) for p in prompt_ids], ids, mask, pad_rows(advantages, width) * mask,
                   pad_rows(rollout_logprobs, width) * mask, float(temperature))

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def lengths(self) -> list[int]:
        return [int(n) for n in self.response_mask.sum(dim=1).tolist()]

    def rows(self, index: Sequence[int]) -> LearnerBatch:
        """The samples at `index` (one mini-batch plan), trimmed to their longest response."""
        picked = torch.as_tensor(list(index), dtype=torch.long)
        lengths = self.lengths()
        width = max((lengths[i] for i in index), default=0)
        return LearnerBatch([self.prompt_ids[i] for i in index], self.response_ids[picked, :width],
                            self.response_mask[picked, :width], self.advantages[picked, :width],
                            self.rollout_logprobs[picked, :width], self.temperature)


def learner_shards(batch: LearnerBatch, num_ranks: int, mini_batches: int) -> list[LearnerBatch]:
    """One `LearnerWorker.train_step` batch per rank: its samples, its positions of each mini-batch,
    and every mini-batch's totals over all ranks."""
    plan, normalizers = plan_minibatches(batch.lengths(), num_ranks, mini_batches)
    shards = []
    for minibatches in plan:
        rows = [i for mb in minibatches for i in mb]
        local = {i: k for k, i in enumerate(rows)}
        shard = batch.rows(rows)
        shard.minibatches = [[local[i] for i in mb] for mb in minibatches]
        shard.normalizers = normalizers
        shards.append(shard)
    return shards


def informative_groups_first(zero_std: Sequence[bool], keep: int, group_size: int) -> list[int]:
    """Sample indices of `keep` groups for DAPO's dynamic sampling: groups with a non-zero sentence
    advantage first, then zero-std groups to fill; kept groups stay in sampling order.

    Args:
        zero_std: [B'] True where group k's rewards are all equal (it teaches nothing).
        keep: B <= B' groups to train on; group_size: G.
    Returns:
        [B * G] indices into the sampled batch (groups are G consecutive samples).
    """
    if keep > len(zero_std):
        raise ValueError(f"cannot keep {keep} of {len(zero_std)} sampled groups")
    ranked = [k for k, z in enumerate(zero_std) if not z] + [k for k, z in enumerate(zero_std) if z]
    return [k * group_size + j for k in sorted(ranked[:keep]) for j in range(group_size)]


def combine_rank_stats(stats: Sequence[dict]) -> dict:
    """One dict of learner metrics from every rank's `train_step` result.

    Token means are weighted by each rank's tokens, maxima take the max, the loss shares add up
    (each rank reports its share of the step's loss), timings and the grad norm (ZeRO's global
    norm, the same on every rank) are averaged.
    """
    tokens = [s["tokens"] for s in stats]
    total = sum(tokens) or 1.0
    out = {}
    for key in stats[0]:
        values = [s[key] for s in stats]
        if key in _TOKEN_MEANS:
            out[key] = float(sum(v * t for v, t in zip(values, tokens)) / total)
        elif key.startswith("mismatch/max"):
            out[key] = float(max(values))
        elif key in ("loss", "tokens"):
            out[key] = float(sum(values))
        else:
            out[key] = float(np.mean(values))
    return out
