"""How a step's samples reach the learner ranks, and how the ranks' statistics come back together.

A step's B*G samples are cut into `mini_batches` mini-batches (one optimizer step each, repeated for
`ppo_epochs`), and each mini-batch is spread evenly over the ranks. Every mini-batch carries its
totals over all ranks (tokens, sequences), so each rank's loss shares add up to the mini-batch's
loss whatever the micro-batch size and the rank count (relate_ray.algo.loss.StepNormalizer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def learner_shards(prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]],
                   advantages: Sequence[Sequence[float]], rollout_logprobs: Sequence[Sequence[float]],
                   num_ranks: int, mini_batches: int) -> list[dict]:
    """One `LearnerWorker.train_step` shard per rank: its samples' token lists and per-token values,
    its positions of each mini-batch, and every mini-batch's totals over all ranks.

    Args: per-sample lists, N of each (advantages and rollout_logprobs: one float per response token).
    """
    plan, normalizers = plan_minibatches([len(r) for r in response_ids], num_ranks, mini_batches)
    shards = []
    for minibatches in plan:
        rows = [i for mb in minibatches for i in mb]
        local = {i: k for k, i in enumerate(rows)}
        shards.append({"prompt_ids": [list(prompt_ids[i]) for i in rows],
                       "response_ids": [list(response_ids[i]) for i in rows],
                       "advantages": [list(advantages[i]) for i in rows],
                       "rollout_logprobs": [list(rollout_logprobs[i]) for i in rows],
                       "minibatches": [[local[i] for i in mb] for mb in minibatches],
                       "normalizers": normalizers})
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
