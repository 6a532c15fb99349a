"""High-frequency n-gram detection for the diversity reward (paper eq. 4) and its token form (eq. 5).

Vectorized with numpy: every n-gram of every sequence is reduced to a 64-bit polynomial hash, and
document frequencies come from `np.unique` over (sequence, hash) pairs, so 512 responses x 64 tokens
take milliseconds rather than the seconds a dict of tuples would. `NgramWindow` keeps the last K
steps of generations so a template is penalized across steps, not only within one batch.
`count_and_flag` counts maximal high-frequency spans (one per template occurrence), see its docstring;
`repeated_within` finds an answer's duplicated expressions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

_PAD = -1
# Odd 64-bit multiplier for the rolling hash (arithmetic wraps mod 2^64).
_BASE = np.uint64(0x9E3779B97F4A7C15)


def _pad(sequences: Sequence[Sequence[int]], ignore: Sequence[Sequence[bool]] | None) -> np.ndarray:
    """[N, T] int64 with _PAD after each sequence's end and on ignored tokens."""
    width = max((len(s) for s in sequences), default=0)
    ids = np.full((len(sequences), width), _PAD, dtype=np.int64)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = seq
        if ignore is not None and len(seq):
            row = ids[i, : len(seq)]
            row[np.asarray(ignore[i], dtype=bool)] = _PAD
    return ids


def _window_hashes(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes [N, T-n+1] of every length-n window, and a [N, T-n+1] mask of windows without padding."""
    windows = np.lib.stride_tricks.sliding_window_view(ids, n, axis=1)
    valid = (windows != _PAD).all(axis=2)
    hashes = np.zeros(windows.shape[:2], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            hashes = hashes * _BASE + windows[:, :, j].astype(np.uint64) + np.uint64(1)
    return hashes, valid


def high_frequency_ngrams(
    sequences: Sequence[Sequence[int]],
    n_min: int = 2,
    n_max: int = 10,
    min_doc_freq: float = 0.2,
    ignore: Sequence[Sequence[bool]] | None = None,
    min_docs: int = 1,
) -> set[tuple[int, ...]]:
    """The n-grams (n_min <= n <= n_max) contained in at least `min_doc_freq` of the sequences.

    Args:
        sequences: token-id lists (any lengths).
        n_min, n_max: n-gram lengths considered (paper: 2 to 10).
        min_doc_freq: threshold on document frequency, the share of sequences containing the n-gram.
        ignore: optional per-token flags; n-grams touching an ignored token (e.g. the fixed
            'Title:'/'Description:' scaffolding every answer must contain) are not counted.
        min_docs: an n-gram must also be in at least this many sequences (a floor for small windows).
    Returns:
        The set of high-frequency n-grams as tuples of token ids.
    """
    if not 1 <= n_min <= n_max:
        raise ValueError(f"need 1 <= n_min <= n_max, got {n_min}, {n_max}")
    if not sequences:
        return set()
    ids = _pad(sequences, ignore)
    threshold = max(min_doc_freq * len(sequences), min_docs)
    found: set[tuple[int, ...]] = set()
    for n in range(n_min, min(n_max, ids.shape[1]) + 1):
        hashes, valid = _window_hashes(ids, n)
        rows, cols = np.nonzero(valid)
        if rows.size == 0:
            continue
        flat = hashes[rows, cols]
        # Sort by (hash, sequence); the first of each (hash, sequence) run counts once, so a count
        # per hash is its document frequency, not its occurrence count.
        order = np.lexsort((rows, flat))
        f_sorted, r_sorted = flat[order], rows[order]
        new_doc = np.ones(order.size, dtype=bool)
        new_doc[1:] = (f_sorted[1:] != f_sorted[:-1]) | (r_sorted[1:] != r_sorted[:-1])
        doc_index = np.flatnonzero(new_doc)
        doc_hash = f_sorted[doc_index]
        starts = np.flatnonzero(np.r_[True, doc_hash[1:] != doc_hash[:-1]])
        doc_freq = np.diff(np.r_[starts, doc_hash.size])
        # A representative occurrence of each frequent hash gives back its token tuple.
        first = order[doc_index[starts[doc_freq >= threshold]]]
        for r, c in zip(rows[first], cols[first]):
            found.add(tuple(int(t) for t in ids[r, c : c + n]))
    return found


def _hash_tuple(ngram: tuple[int, ...]) -> np.uint64:
    h = np.uint64(0)
    with np.errstate(over="ignore"):
        for token in ngram:
            h = h * _BASE + np.uint64(token) + np.uint64(1)
    return h


def maximal_spans(flags: np.ndarray) -> np.ndarray:
    """Number of maximal runs of consecutive True per row.

    Args:
        flags: [N, T] bool, e.g. the union of all high-frequency n-gram covers of each sequence.
    Returns:
        [N] int64: how many runs each row holds. [1 1 0 1 1 1 0] has 2 runs, [1 1 1 1] has 1.
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 2:
        raise ValueError(f"flags must be [N, T], got shape {flags.shape}")
    # A run starts at a True whose left neighbour (or the row's start) is False.
    starts = flags.copy()
    starts[:, 1:] &= ~flags[:, :-1]
    return starts.sum(axis=1).astype(np.int64)


def count_and_flag(
    sequences: Sequence[Sequence[int]],
    ngrams: Iterable[tuple[int, ...]],
    exempt: Sequence[Sequence[bool]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximal high-frequency spans in each sequence, and per-token flags.

    Eq. 4 sums over the n-grams of y. Every sub-gram of a frequent template is itself frequent, so a
    literal sum over nested (position, n-gram) pairs charges a k-token template about k^2/2 times.
    We read the sum as one over maximal high-frequency spans: the union of all frequent n-gram
    covers is taken, and each maximal run of covered tokens counts once (one template occurrence),
    however long it is. Templates that overlap or touch form one run; two occurrences with any
    uncovered token between them are two. The covered-token count is `flags.sum(axis=1)`.

    Args:
        sequences: N token-id lists (any lengths; T = the longest).
        ngrams: the n-grams to find (tuples of token ids, any lengths).
        exempt: optional per-token flags [N][T_i]; these tokens are never flagged (e.g. the fixed
            'Title:'/'Description:' keys). Matching ignores them, so other tokens' flags do not change;
            runs are counted after the exemption, so an exempt token splits a run.
    Returns:
        counts: [N] int64 number of maximal flagged spans (the sum in eq. 4, read as above).
        flags: [N, T] bool, True on every token inside an occurrence (eq. 5), False on padding.
    """
    ids = _pad(sequences, None)
    flags = np.zeros(ids.shape, dtype=bool)
    by_length: dict[int, list[np.uint64]] = {}
    for g in ngrams:
        by_length.setdefault(len(g), []).append(_hash_tuple(g))
    for n, wanted in by_length.items():
        if n > ids.shape[1]:
            continue
        hashes, valid = _window_hashes(ids, n)
        hit = np.isin(hashes, np.array(wanted, dtype=np.uint64)) & valid
        # A hit at window start c covers tokens c .. c+n-1: a difference array marks the cover.
        cover = np.zeros((ids.shape[0], ids.shape[1] + 1), dtype=np.int64)
        r, c = np.nonzero(hit)
        np.add.at(cover, (r, c), 1)
        np.add.at(cover, (r, c + n), -1)
        flags |= np.cumsum(cover[:, :-1], axis=1) > 0
    if exempt is not None:
        for i, row in enumerate(exempt):
            flags[i, : len(row)] &= ~np.asarray(row, dtype=bool)
    return maximal_spans(flags), flags


def repeated_within(sequence: Sequence[int], segments: Sequence[int], ignore: Sequence[bool] | None,
                    n: int) -> np.ndarray:
    """Duplicated expressions (paper 4.1.2: eq. 12 penalizes "high-frequency patterns and duplicated
    expressions"): tokens inside any n-gram that repeats an earlier n-gram of the same segment.

    Args:
        sequence: T token ids of one answer.
        segments: T segment ids (an answer's fields): a phrase a description repeats from its title
            is an echo, not a duplicate, so only occurrences inside one segment are compared.
        ignore: optional T flags; n-grams touching an ignored token (a field key, a number) never
            count, so "30 days ... 30 days" alone is no duplicate, "full refund ... full refund" is.
        n: the n-gram length (>= 1). A repeated longer phrase contains repeated n-grams, so its
            later occurrence is covered whole.
    Returns:
        [T] bool: True on the tokens of each later occurrence (the first occurrence is not flagged).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    length = len(sequence)
    flags = np.zeros(length, dtype=bool)
    seen: set[tuple[int, tuple[int, ...]]] = set()
    for start in range(length - n + 1):
        stop = start + n
        if len(set(segments[start:stop])) > 1 or (ignore is not None and any(ignore[start:stop])):
            continue
        key = (int(segments[start]), tuple(int(t) for t in sequence[start:stop]))
        if key in seen:
            flags[start:stop] = True
        seen.add(key)
    return flags


def flag_tokens(sequence: Sequence[int], ngrams: Iterable[tuple[int, ...]]) -> list[bool]:
    """One bool per token of `sequence`: True inside any occurrence of one of `ngrams`."""
    _, flags = count_and_flag([sequence], ngrams)
    return [bool(f) for f in flags[0, : len(sequence)]]


class NgramWindow:
    """The generations of the last K steps, so high-frequency n-grams are judged across steps."""

    def __init__(self, past_steps: int) -> None:
        if past_steps < 0:
            raise ValueError(f"past_steps must be >= 0, got {past_steps}")
        self._past: deque[tuple[list[list[int]], list[list[bool]]]] = deque(maxlen=max(past_steps, 1))
        self._keep = past_steps

    @staticmethod
    def _masks(batch: Sequence[Sequence[int]], ignore: Sequence[Sequence[bool]] | None) -> list[list[bool]]:
        return [list(m) for m in ignore] if ignore is not None else [[False] * len(s) for s in batch]

    def high_frequency(
        self, batch: Sequence[Sequence[int]], ignore: Sequence[Sequence[bool]] | None = None, **kwargs
    ) -> set[tuple[int, ...]]:
        """High-frequency n-grams over this batch plus the last K steps (kwargs as high_frequency_ngrams)."""
        sequences = [list(s) for s in batch]
        masks = self._masks(batch, ignore)
        if self._keep:
            for past_seqs, past_masks in self._past:
                sequences += past_seqs
                masks += past_masks
        return high_frequency_ngrams(sequences, ignore=masks, **kwargs)

    def push(self, batch: Sequence[Sequence[int]], ignore: Sequence[Sequence[bool]] | None = None) -> None:
        """Remember this step's generations (call after scoring the step)."""
        if self._keep:
            self._past.append(([list(s) for s in batch], self._masks(batch, ignore)))

    def state_dict(self) -> dict:
        """The remembered steps as plain lists (JSON-ready), oldest first, for checkpoints."""
        return {"past_steps": self._keep,
                "steps": [[[[int(t) for t in s] for s in seqs], [[bool(m) for m in row] for row in masks]]
                          for seqs, masks in self._past]}

    def load_state_dict(self, state: dict) -> None:
        self._past.clear()
        for seqs, masks in state["steps"][-self._past.maxlen:]:
            self._past.append(([[int(t) for t in s] for s in seqs], [[bool(m) for m in row] for row in masks]))
