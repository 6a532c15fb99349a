"""The two rewards with a natural token-level form (paper eq. 4-5): risk control and diversity.

Each returns a sentence-level score (used by Models 1-4, which attribute everything per sentence)
and per-token 0/1 flags on the tokens that triggered it (used by RELATE's credit assignment, where
the flags become r_token = -lambda1 * risk_flag - lambda2 * diversity_flag).
"""

from __future__ import annotations

import numpy as np

from relate_ray.rewards.base import RewardBatch, RewardOutput, register_reward
from relate_ray.rewards.ngram import NgramWindow, count_and_flag
from relate_ray.rewards.tokens import field_key_char_spans, spans_to_token_flags


def _require_tokens(batch: RewardBatch, name: str) -> None:
    if len(batch.token_ids) != len(batch) or len(batch.token_spans) != len(batch):
        raise ValueError(f"reward {name!r} needs token_ids and token_spans for every sample")


@register_reward("risk")
class RiskReward:
    """Compliance: 0 for a clean ad, -1/cap per violation down to -1; flags the violating tokens."""

    def __init__(self, cap: int = 2) -> None:
        self.cap = cap

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        from relate_ray.rewards.compliance import check

        _require_tokens(batch, "risk")
        scores = np.zeros(len(batch), dtype=np.float32)
        flags = []
        for i, (request, text) in enumerate(zip(batch.requests, batch.texts)):
            result = check(text, request.lang)
            scores[i] = -min(len(result.violations), self.cap) / self.cap
            flags.append(spans_to_token_flags(batch.token_spans[i], [v.span for v in result.violations]))
        pass_rate = float(np.mean(scores == 0)) if len(batch) else 0.0
        return RewardOutput("risk", scores, flags, info={"compliance_rate": pass_rate})


@register_reward("diversity")
class DiversityReward:
    """Eq. 4: -delta_d per occurrence of a high-frequency n-gram (2 <= n <= 10), judged over this
    batch plus the last `window_steps` steps; flags the tokens inside those n-grams (eq. 5).

    The fixed 'Title:'/'Description:' keys are excluded: every well-formed answer must contain them.
    With group_size G > 1 a document is one prompt's G candidates together, so a phrase counts as a
    template when it recurs across different requests, not when one request's candidates share its
    facts. The default threshold (min_doc_freq 0.5 of those documents) keeps ordinary function-word
    bigrams, which most requests' candidates contain somewhere, from counting as templates as soon as
    the window holds a few steps. Stateful: each call remembers the batch for `window_steps` calls.
    """

    def __init__(self, delta_d: float = 0.05, n_min: int = 2, n_max: int = 10,
                 min_doc_freq: float = 0.5, window_steps: int = 8, min_docs: int = 3,
                 group_size: int = 1, max_penalty: float | None = None) -> None:
        self.delta_d, self.max_penalty, self.group_size = delta_d, max_penalty, group_size
        self.ngram_args = {"n_min": n_min, "n_max": n_max, "min_doc_freq": min_doc_freq, "min_docs": min_docs}
        self.window = NgramWindow(window_steps)

    def _documents(self, token_ids: list, ignore: list) -> tuple[list, list]:
        """Join each group's sequences into one document; an ignored separator keeps n-grams from
        spanning two candidates."""
        if self.group_size <= 1:
            return token_ids, ignore
        docs, masks = [], []
        for start in range(0, len(token_ids), self.group_size):
            doc: list[int] = []
            mask: list[bool] = []
            for ids, ign in zip(token_ids[start:start + self.group_size], ignore[start:start + self.group_size]):
                doc += [*ids, 0]
                mask += [*map(bool, ign), True]
            docs.append(doc)
            masks.append(mask)
        return docs, masks

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        _require_tokens(batch, "diversity")
        ignore = [spans_to_token_flags(spans, field_key_char_spans(text)).astype(bool)
                  for spans, text in zip(batch.token_spans, batch.texts)]
        docs, doc_masks = self._documents(batch.token_ids, ignore)
        frequent = self.window.high_frequency(docs, doc_masks, **self.ngram_args)
        counts, flags = count_and_flag(batch.token_ids, frequent)
        self.window.push(docs, doc_masks)
        penalty = self.delta_d * counts
        if self.max_penalty is not None:  # optional cap, so one long template cannot drown other rewards
            penalty = np.minimum(penalty, self.max_penalty)
        scores = -penalty.astype(np.float32)
        token_flags = [(flags[i, : len(ids)] & ~ignore[i]).astype(np.float32)
                       for i, ids in enumerate(batch.token_ids)]
        return RewardOutput("diversity", scores, token_flags, info={"high_freq_ngrams": float(len(frequent))})

    def state_dict(self) -> dict:
        """The n-gram window: a resumed run judges templates against the same past steps."""
        return self.window.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.window.load_state_dict(state)
