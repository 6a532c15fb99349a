"""Features of the CTCVR model: query, ad metadata and ad text in one embedding space.

x = [e_query, e_meta, e_ad, e_query * e_ad, e_meta * e_ad] where e_* are L2-normalized sentence
embeddings (the products let a small MLP read relevance directly). Identical strings are embedded
once: impression logs repeat the same query and ad thousands of times.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

N_PARTS = 5


def meta_text(bidword: str, category: str) -> str:
    """The ad metadata as text: what the advertiser bought and in which vertical."""
    return f"{bidword} | {category}"


def ad_text(title: str, description: str) -> str:
    return f"{title} {description}".strip()


# Embedders alive in this process, by (folder, device, dtype). Weak: a model is shared while a holder
# keeps it (the CTCVR reward and the relevance reward in one reward worker hold one copy, 1.2 GB for
# EmbeddingGemma) and freed with its last holder (the CTCVR model's one-off training keeps nothing).
_LIVE_EMBEDDERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def load_embedder(path: str, device: str = "cpu", dtype: str = "float32"):
    """A sentence-transformers model in `dtype` (float32 | bfloat16 | auto: bf16 where native); the
    same object for the same folder, device and dtype while one is alive in this process."""
    import torch
    from sentence_transformers import SentenceTransformer

    from relate_ray.dtypes import resolve_dtype

    key = (str(Path(path).resolve()), device, resolve_dtype(dtype))
    model = _LIVE_EMBEDDERS.get(key)
    if model is None:
        model = SentenceTransformer(path, device=device, model_kwargs={"dtype": getattr(torch, key[2])})
        _LIVE_EMBEDDERS[key] = model
    return model


class FeatureEncoder:
    """Embeds strings with a sentence-transformers model and assembles CTCVR feature rows."""

    def __init__(self, embedder_path: str, device: str = "cpu", batch_size: int = 32, dtype: str = "float32") -> None:
        self.model = load_embedder(embedder_path, device, dtype)
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension())

    @property
    def input_dim(self) -> int:
        return N_PARTS * self.dim

    def embed_unique(self, texts: Sequence[str], show_progress: bool = False) -> dict[str, np.ndarray]:
        """Embeddings of each distinct string, normalized."""
        unique = sorted(set(texts))
        vectors = self.model.encode(unique, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=show_progress)
        return dict(zip(unique, vectors.astype(np.float32)))

    def encode(self, queries: Sequence[str], metas: Sequence[str], ads: Sequence[str],
               show_progress: bool = False) -> np.ndarray:
        """[N, 5 * dim] float32 feature rows."""
        table = self.embed_unique([*queries, *metas, *ads], show_progress)
        q = np.stack([table[s] for s in queries])
        m = np.stack([table[s] for s in metas])
        a = np.stack([table[s] for s in ads])
        return np.concatenate([q, m, a, q * a, m * a], axis=1)
