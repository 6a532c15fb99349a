"""The embedded default data: synthetic requests and simulated impressions, made at first use.

Generated deterministically from a seed, cached under the cache directory in a folder named by its
parameters, built under a file lock in a temporary folder and renamed into place, so concurrent or
killed runs never see half a data set.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from relate_ray.assets import cache_dir
from relate_ray.data.writers import write_requests
from relate_ray.fsutil import atomic_dir

log = logging.getLogger(__name__)

# Bump when the generator or simulator changes, so old caches are not reused.
EMBEDDED_VERSION = "v2"
_COMPLETE = ".complete"
SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))


@dataclass(frozen=True)
class EmbeddedData:
    root: Path

    @property
    def train(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def valid(self) -> Path:
        return self.root / "valid.jsonl"

    @property
    def test(self) -> Path:
        return self.root / "test.jsonl"

    @property
    def impressions(self) -> Path:
        return self.root / "impressions.jsonl"


def ensure_embedded_data(
    lang: str = "en",
    n_requests: int = 4000,
    n_impressions: int = 400_000,
    seed: int = 0,
    cache: str | os.PathLike[str] | None = None,
) -> EmbeddedData:
    """Return the cached embedded data set, generating it first if needed."""
    name = f"embedded-{lang}-n{n_requests}-imp{n_impressions}-seed{seed}-{EMBEDDED_VERSION}"
    data = EmbeddedData(cache_dir(cache) / "data" / name)
    if (data.root / _COMPLETE).exists():
        return data
    data.root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(data.root) + ".lock"):
        if (data.root / _COMPLETE).exists():
            return data
        with atomic_dir(data.root) as tmp:
            _generate(EmbeddedData(tmp), lang, n_requests, n_impressions, seed)
            (tmp / _COMPLETE).write_text("ok\n")
    return data


def _generate(out: EmbeddedData, lang: str, n_requests: int, n_impressions: int, seed: int) -> None:
    from relate_ray.data.synth import generate_requests
    from relate_ray.sim.history import impression_logs, write_impression_logs

    log.info("generating embedded data: %d %s requests, %d impressions (seed %d)", n_requests, lang,
             n_impressions, seed)
    requests = generate_requests(n_requests, lang, seed)
    random.Random(seed).shuffle(requests)
    start = 0
    splits = {}
    for i, (split, share) in enumerate(SPLITS):
        end = n_requests if i == len(SPLITS) - 1 else start + int(round(share * n_requests))
        splits[split] = requests[start:end]
        start = end
    for split, rows in splits.items():
        write_requests(getattr(out, split), rows)
    # Impressions come from training requests only, so held-out prompts stay unseen by the CTCVR model.
    write_impression_logs(out.impressions, impression_logs(splits["train"], n_impressions, seed))
