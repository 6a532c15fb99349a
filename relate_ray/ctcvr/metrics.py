"""ROC AUC from ranks (Mann-Whitney U), ties averaged: no sklearn needed."""

from __future__ import annotations

import numpy as np


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUC of `scores` for binary `labels` [N]; NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(labels.size, dtype=np.float64)
    # Average ranks (1-based) over runs of tied scores.
    boundaries = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1], True])
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        ranks[order[start:end]] = 0.5 * (start + end - 1) + 1.0
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
