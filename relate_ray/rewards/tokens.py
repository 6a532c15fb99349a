"""Character spans of response tokens, and character-level findings mapped onto tokens.

Token-level rewards (eq. 5) find offending text as character spans (a banned term, a template
phrase); the policy is trained per token, so each span must become flags on exactly the tokens that
produced it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def token_char_spans(tokenizer, token_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) character offsets of each token in `tokenizer.decode(token_ids)`.

    Decodes growing prefixes: robust for byte-level BPE, sentencepiece and multi-byte characters
    split across tokens (a token that completes no character gets an empty span at the current end).
    Quadratic in length, fine for ad-sized responses (< 200 tokens).
    """
    spans: list[tuple[int, int]] = []
    previous = 0
    for k in range(1, len(token_ids) + 1):
        text = tokenizer.decode(token_ids[:k], skip_special_tokens=True)
        # A prefix ending inside a multi-byte character decodes to U+FFFD; don't count it yet.
        end = len(text.rstrip("\ufffd")) if k < len(token_ids) else len(text)
        end = max(end, previous)
        spans.append((previous, end))
        previous = end
    return spans


def spans_to_token_flags(
    token_spans: Sequence[tuple[int, int]], char_spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """[T] 0/1 flags: 1 on every token whose character span overlaps any of `char_spans`."""
    flags = np.zeros(len(token_spans), dtype=np.float32)
    for start, end in char_spans:
        for t, (a, b) in enumerate(token_spans):
            if a < end and start < b:
                flags[t] = 1.0
    return flags


def number_char_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the numbers in `text` ("59", "4.6/5", "8,000", "24/7"): facts, which the
    correctness reward judges, not phrasing."""
    import re

    return [m.span() for m in re.finditer(r"\d+(?:[.,/:]\d+)*", text)]


def field_key_char_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the fixed 'Title:' / 'Description:' keys, which every answer must contain."""
    import re

    return [m.span() for m in re.finditer(r"(?im)^\s*(title|description)\s*[:：]", text)]


def field_segments(token_spans: Sequence[tuple[int, int]], text: str) -> np.ndarray:
    """[T] int: each token's field, counted by the 'Title:' / 'Description:' keys that start at or
    before it (0 before the first key, then 1, 2, ...)."""
    starts = np.array([start for start, _ in field_key_char_spans(text)], dtype=np.int64)
    token_starts = np.array([start for start, _ in token_spans], dtype=np.int64)
    return np.searchsorted(starts, token_starts, side="right")
