"""`python -m relate_ray.ctcvr.train`: fit the CTCVR reward model on impression logs.

    python -m relate_ray.ctcvr.train [--logs FILE.jsonl] [--out DIR] [--embedder SPEC] [--max-epochs N]

Defaults: the embedded simulator logs and a cache folder. Impressions are split by request into
train / validation (early stopping) / test; training runs on impressions aggregated per distinct
(query, ad) pair, which gives the same loss far faster. Reports CTR and CTCVR AUC on the test
requests and saves the model (model.pt + ctcvr.json) atomically.
"""

from __future__ import annotations

import argparse
import copy
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
from relate_ray.ctcvr.model import SharedBottomESMM, bce_from_log_p, esmm_loss, log_ctcvr
from relate_ray.data.readers import DataFileError
from relate_ray.fsutil import atomic_dir

log = logging.getLogger("relate_ray.ctcvr.train")


@dataclass
class TrainOptions:
    max_epochs: int = 60
    # Stop after this many epochs without a better validation loss; the best epoch's weights are kept.
    patience: int = 8
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # Shares of requests held out for the final test and for early stopping (split by request).
    test_share: float = 0.2
    valid_share: float = 0.1
    seed: int = 0


class IndexedFeatures:
    """Feature rows assembled on demand from a table of unique embeddings (no N x D copy)."""

    def __init__(self, encoder: FeatureEncoder, logs: ImpressionLog) -> None:
        queries = logs.query
        metas = [meta_text(b, c) for b, c in zip(logs.bidword, logs.category)]
        ads = [ad_text(t, d) for t, d in zip(logs.title, logs.description)]
        table = encoder.embed_unique([*queries, *metas, *ads], show_progress=True)
        position = {k: i for i, k in enumerate(table)}
        self.vectors = torch.from_numpy(np.stack(list(table.values())))
        self.q = torch.tensor([position[s] for s in queries])
        self.m = torch.tensor([position[s] for s in metas])
        self.a = torch.tensor([position[s] for s in ads])

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        q, m, a = self.vectors[self.q[index]], self.vectors[self.m[index]], self.vectors[self.a[index]]
        return torch.cat([q, m, a, q * a, m * a], dim=1)


@dataclass
class PairTable:
    """Impressions aggregated per distinct (query, metadata, ad): one training row each.

    row: [P] an impression index carrying the pair's features; impressions, click_rate,
    converted_rate: [P]. The ESMM loss on these rows equals the loss on the impressions.
    """

    row: torch.Tensor
    impressions: torch.Tensor
    click_rate: torch.Tensor
    converted_rate: torch.Tensor


def aggregate_pairs(features: IndexedFeatures, index: torch.Tensor, click: torch.Tensor,
                    converted: torch.Tensor) -> PairTable:
    size = len(features.vectors)
    key = (features.q[index] * size + features.m[index]) * size + features.a[index]
    unique, inverse = torch.unique(key, return_inverse=True)
    count = torch.zeros(len(unique)).index_add_(0, inverse, torch.ones(len(index)))
    clicks = torch.zeros(len(unique)).index_add_(0, inverse, click[index])
    conversions = torch.zeros(len(unique)).index_add_(0, inverse, converted[index])
    row = torch.zeros(len(unique), dtype=torch.long).scatter_(0, inverse, index)
    return PairTable(row, count, clicks / count, conversions / count)


def pair_loss(model: SharedBottomESMM, features: IndexedFeatures, pairs: PairTable,
              batch: torch.Tensor | None = None) -> torch.Tensor:
    batch = torch.arange(len(pairs.row)) if batch is None else batch
    ctr_logit, cvr_logit = model(features.rows(pairs.row[batch]))
    return esmm_loss(ctr_logit, cvr_logit, pairs.click_rate[batch], pairs.converted_rate[batch],
                     weight=pairs.impressions[batch])


def ctcvr_log_loss(model: SharedBottomESMM, features: IndexedFeatures, pairs: PairTable) -> float:
    """Impression-weighted BCE of pCTCVR alone: the early-stopping criterion, since the reward is
    pCTCVR (the CTR tower alone keeps improving, or overfitting, longer)."""
    model.eval()
    with torch.no_grad():
        ctr_logit, cvr_logit = model(features.rows(pairs.row))
        bce = bce_from_log_p(log_ctcvr(ctr_logit, cvr_logit), pairs.converted_rate)
        return float((bce * pairs.impressions).sum() / pairs.impressions.sum())


def predict(model: SharedBottomESMM, features: IndexedFeatures, index: torch.Tensor,
            batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(pCTR, pCTCVR) for the given impression rows."""
    model.eval()
    ctr, ctcvr = [], []
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            ctr_logit, cvr_logit = model(features.rows(index[start:start + batch_size]))
            ctr.append(torch.sigmoid(ctr_logit))
            ctcvr.append(torch.exp(log_ctcvr(ctr_logit, cvr_logit)))
    return torch.cat(ctr).numpy(), torch.cat(ctcvr).numpy()


def split_requests(request_ids: list[str], opts: TrainOptions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Impression indices of the train, validation and test requests."""
    test = torch.tensor([is_held_out(r, opts.test_share, opts.seed) for r in request_ids])
    # Validation requests come from the non-test ones, split with a different salt.
    valid_share = opts.valid_share / max(1.0 - opts.test_share, 1e-9)
    valid = torch.tensor([is_held_out(r, valid_share, opts.seed + 1) for r in request_ids]) & ~test
    train = ~test & ~valid
    return (torch.nonzero(train).squeeze(1), torch.nonzero(valid).squeeze(1), torch.nonzero(test).squeeze(1))


def fit(features: IndexedFeatures, logs: ImpressionLog, input_dim: int, opts: TrainOptions):
    """Train with early stopping on validation requests; returns (model, metrics on test requests)."""
    torch.manual_seed(opts.seed)
    train_idx, valid_idx, test_idx = split_requests(logs.request_id, opts)
    click = torch.tensor(logs.click, dtype=torch.float32)
    converted = click * torch.tensor(logs.conversion, dtype=torch.float32)
    train_pairs = aggregate_pairs(features, train_idx, click, converted)
    valid_pairs = aggregate_pairs(features, valid_idx, click, converted)
    model = SharedBottomESMM(input_dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    generator = torch.Generator().manual_seed(opts.seed)
    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
    for epoch in range(1, opts.max_epochs + 1):
        model.train()
        order = torch.randperm(len(train_pairs.row), generator=generator)
        for start in range(0, len(order), opts.batch_size):
            loss = pair_loss(model, features, train_pairs, order[start:start + opts.batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        valid_loss = ctcvr_log_loss(model, features, valid_pairs)
        log.info("epoch %d: validation CTCVR log-loss %.6f", epoch, valid_loss)
        if valid_loss < best[0]:
            best = (valid_loss, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= opts.patience:
            break
    model.load_state_dict(best[2])
    p_ctr, p_ctcvr = predict(model, features, test_idx)
    y_click = click[test_idx].numpy()
    y_converted = converted[test_idx].numpy()
    metrics = {
        "train_impressions": int(len(train_idx)), "valid_impressions": int(len(valid_idx)),
        "test_impressions": int(len(test_idx)), "test_clicks": int(y_click.sum()),
        "test_conversions": int(y_converted.sum()), "best_epoch": best[1], "valid_ctcvr_log_loss": best[0],
        "ctr_auc": roc_auc(y_click, p_ctr), "ctcvr_auc": roc_auc(y_converted, p_ctcvr),
    }
    return model, metrics


def save(out: Path, model: SharedBottomESMM, embedder: str, metrics: dict, source: str,
         embedder_dtype: str = "float32") -> None:
    """Write model.pt + ctcvr.json into `out` via a temporary folder (never half a model)."""
    with atomic_dir(out) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        meta = {"embedder": embedder, "embedder_dtype": embedder_dtype, "model": model.config, "metrics": metrics,
                "trained_on": source}
        (tmp / "ctcvr.json").write_text(json.dumps(meta, indent=2))


def train(logs_path: Path, out: Path, embedder: str = DEFAULT_EMBEDDER, opts: TrainOptions | None = None,
          embedder_dtype: str = "float32") -> dict:
    """Read logs, embed, fit, evaluate, save; returns the held-out metrics."""
    opts = opts or TrainOptions()
    logs = read_impressions(logs_path)
    for line in logs.shown:
        log.warning("skipped bad row: %s", line)
    if logs.bad_rows:
        log.warning("%s: skipped %d bad rows of %d", logs_path, logs.bad_rows, logs.bad_rows + len(logs))
    from relate_ray.dtypes import resolve_dtype

    embedder_dtype = resolve_dtype(embedder_dtype)  # record what ran, not "auto"
    encoder = FeatureEncoder(str(resolve_model(embedder)), dtype=embedder_dtype)
    features = IndexedFeatures(encoder, logs)
    model, metrics = fit(features, logs, encoder.input_dim, opts)
    save(out, model, embedder, metrics, str(logs_path), embedder_dtype)
    log.info("held-out CTR AUC %.4f, CTCVR AUC %.4f; saved to %s", metrics["ctr_auc"], metrics["ctcvr_auc"], out)
    return metrics


def model_for_run(cfg, embedded_root: Path | None) -> str:
    """The CTCVR model a training run's reward uses: reward_workers.ctcvr_model, or the one trained
    (once, under a lock) on the embedded data's impression logs at `embedded_root`."""
    if cfg.reward_workers.ctcvr_model:
        return cfg.reward_workers.ctcvr_model
    if embedded_root is None:
        from relate_ray.config import ConfigError

        raise ConfigError("reward_workers.ctcvr_model: required when data.train is your own file "
                          "(train one with python -m relate_ray.ctcvr.train --logs YOUR_LOGS)")
    from filelock import FileLock

    # One model per data set and embedder: a model trained on another embedder's vectors reads
    # features of another size and meaning (the zh experiment changes the embedder, not the data name).
    from relate_ray.dtypes import resolve_dtype

    dtype = resolve_dtype(cfg.model.embedder_dtype)
    key = embedder_key(cfg.model.embedder) + ("" if dtype == "float32" else f"-{dtype}")
    folder = cache_dir(cfg.cache_dir or None) / "ctcvr" / f"{embedded_root.name}-{key}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not (folder / "ctcvr.json").exists():
            log.info("training the CTCVR reward model on the embedded impression logs (once)")
            train(embedded_root / "impressions.jsonl", folder, cfg.model.embedder, embedder_dtype=dtype)
    return str(folder)


def embedder_key(spec: str) -> str:
    """A folder-name-safe key for an embedder spec: a built-in name as it is, a folder as its name
    and a short hash of its full path (two folders called `model` stay apart)."""
    import hashlib
    import re

    if "/" not in spec and re.fullmatch(r"[A-Za-z0-9._-]+", spec):
        return spec
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(spec).name) or "embedder"
    return f"{name}-{hashlib.sha256(str(Path(spec).expanduser().resolve()).encode()).hexdigest()[:8]}"


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
    parser.add_argument("--max-epochs", type=int, default=TrainOptions.max_epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.max_epochs < 1:
        sys.stderr.write(f"error: --max-epochs must be at least 1, got {args.max_epochs}\n")
        return 2
    try:
        logs_path, out = default_paths() if args.logs is None else (args.logs, None)
        out = args.out or out or args.logs.with_suffix(".ctcvr")
        metrics = train(logs_path, out, args.embedder, TrainOptions(max_epochs=args.max_epochs, seed=args.seed))
    except (DataFileError, ModelNotFoundError) as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    sys.stdout.write(json.dumps({"out": str(out), **metrics}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
