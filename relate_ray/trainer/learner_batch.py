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
