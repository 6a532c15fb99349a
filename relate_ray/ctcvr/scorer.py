"""Loading a trained CTCVR model and scoring ads with it (the CTCVR reward, paper 3.3.3)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from relate_ray.assets import resolve_model
from relate_ray.ctcvr.features import FeatureEncoder, ad_text, meta_text
from relate_ray.ctcvr.model import SharedBottomESMM, log_ctcvr
from relate_ray.data.adformat import ParsedAd
from relate_ray.data.readers import DataFileError
from relate_ray.data.schema import AdRequest


class CTCVRScorer:
    """pCTR and pCTCVR for (request, ad) pairs, in batches."""

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 256) -> None:
        folder = Path(folder)
        meta_path = folder / "ctcvr.json"
        if not meta_path.is_file():
            raise DataFileError(f"{folder}: not a trained CTCVR model (no ctcvr.json; run python -m relate_ray.ctcvr.train)")
        self.meta = json.loads(meta_path.read_text())
        # Older models carry no dtype: they were embedded in float32.
        self.encoder = FeatureEncoder(str(resolve_model(self.meta["embedder"])), device=device,
                                      dtype=self.meta.get("embedder_dtype", "float32"))
        config = self.meta["model"]
        self.model = SharedBottomESMM(config["input_dim"], tuple(config["bottom"]), config["tower"], config["dropout"])
        self.model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        self.model.eval()
        self.batch_size = batch_size

    def predict(self, requests: Sequence[AdRequest], ads: Sequence[ParsedAd]) -> tuple[np.ndarray, np.ndarray]:
        """([N] pCTR, [N] pCTCVR)."""
        features = self.encoder.encode([r.query for r in requests],
                                       [meta_text(r.bidword, r.category) for r in requests],
                                       [ad_text(a.title, a.description) for a in ads])
        ctr, ctcvr = [], []
        with torch.no_grad():
            for start in range(0, len(features), self.batch_size):
                x = torch.from_numpy(features[start:start + self.batch_size])
                ctr_logit, cvr_logit = self.model(x)
                ctr.append(torch.sigmoid(ctr_logit).numpy())
                ctcvr.append(torch.exp(log_ctcvr(ctr_logit, cvr_logit)).numpy())
        return np.concatenate(ctr), np.concatenate(ctcvr)


def ctcvr_reward(p_ctcvr: np.ndarray, baseline: np.ndarray | None = None, scale: float = 100.0,
                 floor: float | None = None) -> np.ndarray:
    """[N] reward from [N] predicted CTCVR: in percent (scale 100) or, with a [N] baseline per
    request, the log-lift log(p / baseline) (relative to the request's reference ad), clipped
    below at `floor` when one is given (so p = 0, an ad never shown, scores `floor`)."""
    if baseline is None:
        return (scale * p_ctcvr).astype(np.float32)
    lift = np.log(np.maximum(p_ctcvr, 1e-9) / np.maximum(baseline, 1e-9))
    if floor is not None:
        lift = np.maximum(lift, floor)
    return lift.astype(np.float32)


__all__ = ["CTCVRScorer", "ctcvr_reward"]
