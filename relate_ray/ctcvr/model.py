"""Shared-Bottom ESMM: a shared MLP over the embedded (query, ad metadata, ad text), a CTR tower and a
CVR tower; pCTCVR = pCTR * pCVR. Trained on all impressions (entire space), so the CVR tower never
needs the biased click-only sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SharedBottomESMM(nn.Module):
    """x [B, D] -> (ctr_logit [B], cvr_logit [B])."""

    def __init__(self, input_dim: int, bottom: tuple[int, ...] = (256, 128), tower: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for size in bottom:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.bottom = nn.Sequential(*layers)
        self.ctr_tower = nn.Sequential(nn.Linear(width, tower), nn.ReLU(), nn.Linear(tower, 1))
        self.cvr_tower = nn.Sequential(nn.Linear(width, tower), nn.ReLU(), nn.Linear(tower, 1))
        self.config = {"input_dim": input_dim, "bottom": list(bottom), "tower": tower, "dropout": dropout}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = self.bottom(x)
        return self.ctr_tower(shared).squeeze(-1), self.cvr_tower(shared).squeeze(-1)


def log_ctcvr(ctr_logit: torch.Tensor, cvr_logit: torch.Tensor) -> torch.Tensor:
    """[B] log pCTCVR = log sigmoid(ctr) + log sigmoid(cvr), exact in log space."""
    return F.logsigmoid(ctr_logit) + F.logsigmoid(cvr_logit)


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return values.mean() if weight is None else (values * weight).sum() / weight.sum()


def bce_from_log_p(log_p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-row BCE given log p: -(y log p + (1 - y) log(1 - p)), log(1 - p) = log(-expm1(log p))."""
    log_p = log_p.clamp(max=-1e-7)  # p < 1 keeps log(1 - p) finite
    return -(target * log_p + (1.0 - target) * torch.log(-torch.expm1(log_p)))


def esmm_loss(ctr_logit: torch.Tensor, cvr_logit: torch.Tensor, click: torch.Tensor,
              converted: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """ESMM loss over all impressions: BCE(pCTR, click) + BCE(pCTCVR, clicked and converted).

    Args:
        ctr_logit, cvr_logit: [B] logits.
        click, converted: [B] per impression in {0, 1} (converted = clicked and converted); or, for
            rows that aggregate `weight` impressions of one (request, ad), the two rates. Both forms
            give the same loss for the same impressions.
        weight: [B] impressions per row (None: one each).
    """
    ctr_bce = F.binary_cross_entropy_with_logits(ctr_logit, click, reduction="none")
    ctcvr_bce_rows = bce_from_log_p(log_ctcvr(ctr_logit, cvr_logit), converted)
    return _weighted_mean(ctr_bce, weight) + _weighted_mean(ctcvr_bce_rows, weight)
