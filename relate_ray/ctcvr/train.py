"""`python -m relate_ray.ctcvr.train`: fit the CTCVR reward model on impression logs.

    python -m relate_ray.ctcvr.train [--logs FILE.jsonl] [--out DIR] [--embedder SPEC] [--epochs N]

Defaults: the embedded simulator logs and a cache folder. Reports CTR and CTCVR AUC on requests held
out from training, and saves the model (model.pt + ctcvr.json) atomically.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from relate_ray.assets import DEFAULT_EMBEDDER, ModelNotFoundError, cache_dir, resolve_model
from relate_ray.ctcvr.features import FeatureEncoder, ad_text, meta_text
from relate_ray.ctcvr.logs import ImpressionLog, is_held_out, read_impressions
from relate_ray.ctcvr.metrics import roc_auc
from relate_ray.ctcvr.model import SharedBottomESMM, esmm_loss, log_ctcvr
from relate_ray.data.readers import DataFileError
from relate_ray.fsutil import atomic_dir

log = logging.getLogger("relate_ray.ctcvr.train")


@dataclass
class TrainOptions:
    epochs: int = 6
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    held_out: float = 0.2
    seed: int = 0


class IndexedFeatures:
    """Feature rows assembled on demand from a table of unique embeddings (no N x D copy)."""

    def __init__(self, encoder: FeatureEncoder, logs: ImpressionLog) -> None:
        queries = logs.query
        metas = [meta_text(b, c) for b, c in zip(logs.bidword, logs.category)]
        ads = [ad_text(t, d) for t, d in zip(logs.title, logs.description)]
        table = encoder.embed_unique([*queries, *metas, *ads], show_progress=True)
        keys = list(table)
        position = {k: i for i, k in enumerate(keys)}
        self.vectors = torch.from_numpy(np.stack([table[k] for k in keys]))
        self.q = torch.tensor([position[s] for s in queries])
        self.m = torch.tensor([position[s] for s in metas])
        self.a = torch.tensor([position[s] for s in ads])

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        q, m, a = self.vectors[self.q[index]], self.vectors[self.m[index]], self.vectors[self.a[index]]
        return torch.cat([q, m, a, q * a, m * a], dim=1)


def predict(model: SharedBottomESMM, features: IndexedFeatures, index: torch.Tensor,
            batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(pCTR, pCTCVR) for the given rows."""
    model.eval()
    ctr, ctcvr = [], []
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            ctr_logit, cvr_logit = model(features.rows(index[start:start + batch_size]))
            ctr.append(torch.sigmoid(ctr_logit))
            ctcvr.append(torch.exp(log_ctcvr(ctr_logit, cvr_logit)))
    return torch.cat(ctr).numpy(), torch.cat(ctcvr).numpy()


def fit(features: IndexedFeatures, logs: ImpressionLog, input_dim: int, opts: TrainOptions):
    """Train on the training requests; returns (model, metrics on held-out requests)."""
    torch.manual_seed(opts.seed)
    held = torch.tensor([is_held_out(r, opts.held_out, opts.seed) for r in logs.request_id])
    train_idx, test_idx = torch.nonzero(~held).squeeze(1), torch.nonzero(held).squeeze(1)
    click = torch.tensor(logs.click, dtype=torch.float32)
    conversion = torch.tensor(logs.conversion, dtype=torch.float32)
    model = SharedBottomESMM(input_dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    generator = torch.Generator().manual_seed(opts.seed)
    for epoch in range(opts.epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        total = 0.0
        for start in range(0, len(order), opts.batch_size):
            batch = order[start:start + opts.batch_size]
            ctr_logit, cvr_logit = model(features.rows(batch))
            loss = esmm_loss(ctr_logit, cvr_logit, click[batch], conversion[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        log.info("epoch %d/%d: train loss %.5f", epoch + 1, opts.epochs, total / max(len(order), 1))
    p_ctr, p_ctcvr = predict(model, features, test_idx)
    y_click = click[test_idx].numpy()
    y_conv = (click[test_idx] * conversion[test_idx]).numpy()
    metrics = {
        "train_impressions": int(len(train_idx)), "held_out_impressions": int(len(test_idx)),
        "held_out_clicks": int(y_click.sum()), "held_out_conversions": int(y_conv.sum()),
        "ctr_auc": roc_auc(y_click, p_ctr), "ctcvr_auc": roc_auc(y_conv, p_ctcvr),
    }
    return model, metrics


def save(out: Path, model: SharedBottomESMM, embedder: str, metrics: dict, source: str) -> None:
    """Write model.pt + ctcvr.json into `out` via a temporary folder (never half a model)."""
    with atomic_dir(out) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        meta = {"embedder": embedder, "model": model.config, "metrics": metrics, "trained_on": source}
        (tmp / "ctcvr.json").write_text(json.dumps(meta, indent=2))


def train(logs_path: Path, out: Path, embedder: str = DEFAULT_EMBEDDER, opts: TrainOptions | None = None) -> dict:
    """Read logs, embed, fit, evaluate, save; returns the held-out metrics."""
    opts = opts or TrainOptions()
    logs = read_impressions(logs_path)
    for line in logs.shown:
        log.warning("skipped bad row: %s", line)
    if logs.bad_rows:
        log.warning("%s: skipped %d bad rows of %d", logs_path, logs.bad_rows, logs.bad_rows + len(logs))
    encoder = FeatureEncoder(str(resolve_model(embedder)))
    features = IndexedFeatures(encoder, logs)
    model, metrics = fit(features, logs, encoder.input_dim, opts)
    save(out, model, embedder, metrics, str(logs_path))
    log.info("held-out CTR AUC %.4f, CTCVR AUC %.4f; saved to %s", metrics["ctr_auc"], metrics["ctcvr_auc"], out)
    return metrics


def default_paths(cache: str | None = None) -> tuple[Path, Path]:
    """The embedded impression logs (generated if missing) and where their model goes."""
    from relate_ray.data.embedded import ensure_embedded_data

    data = ensure_embedded_data(cache=cache)
    return data.impressions, cache_dir(cache) / "ctcvr" / data.root.name


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m relate_ray.ctcvr.train", description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, help="impression log (JSONL); default: the embedded simulator logs")
    parser.add_argument("--out", type=Path, help="output folder; default: under the cache directory")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="sentence-transformers model (name or folder)")
    parser.add_argument("--epochs", type=int, default=TrainOptions.epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        sys.stderr.write(f"error: --epochs must be at least 1, got {args.epochs}\n")
        return 2
    try:
        logs_path, out = default_paths() if args.logs is None else (args.logs, None)
        out = args.out or out or args.logs.with_suffix(".ctcvr")
        metrics = train(logs_path, out, args.embedder, TrainOptions(epochs=args.epochs, seed=args.seed))
    except (DataFileError, ModelNotFoundError) as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    sys.stdout.write(json.dumps({"out": str(out), **metrics}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
