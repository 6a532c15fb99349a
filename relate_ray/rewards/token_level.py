"""The two rewards with a natural token-level form (paper eq. 4-5): risk control and diversity.

Each returns a sentence-level score (used by Models 1-4, which attribute everything per sentence)
and per-token 0/1 flags on the tokens that triggered it (used by RELATE's credit assignment, where
the flags become r_token = -lambda1 * risk_flag - lambda2 * diversity_flag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import check_option, register_reward
from relate_ray.rewards.ngram import NgramWindow, count_and_flag, maximal_spans, repeated_within
from relate_ray.rewards.tokens import field_key_char_spans, field_segments, number_char_spans, spans_to_token_flags


def _require_tokens(batch: RewardBatch, name: str) -> None:
    if len(batch.token_ids) != len(batch) or len(batch.token_spans) != len(batch):
        raise ValueError(f"reward {name!r} needs token_ids and token_spans for every sample")


@dataclass(frozen=True)
class RiskOptions:
    # Violations that take the score to -1 (each costs 1/cap).
    cap: int = 2

    def __post_init__(self) -> None:
        check_option(self.cap >= 1, "cap", "must be at least 1", self.cap)


@register_reward("risk", options=RiskOptions, token_coefficient="lambda1")
class RiskReward:
    """Compliance: 0 for a clean ad, -1/cap per violation down to -1; flags the violating tokens."""

    def __init__(self, options: RiskOptions | None = None) -> None:
        self.cap = (options or RiskOptions()).cap

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


# delta_d (eq. 4): the penalty per high-frequency span; reward.delta_d's default (RewardConfig).
DEFAULT_DELTA_D = 0.25


def diversity_penalty(span_counts: np.ndarray, delta_d: float, max_penalty: float | None = 1.0) -> np.ndarray:
    """Eq. 4: r_div = -sum over the answer's high-frequency n-grams of delta_d, read as one delta_d
    per maximal high-frequency span (`relate_ray.rewards.ngram.count_and_flag`), capped at
    max_penalty (None: no cap).

    span_counts: [N] maximal high-frequency spans per answer. Returns [N] float32 in [-max_penalty, 0].
    """
    penalty = delta_d * np.asarray(span_counts, dtype=np.float64)
    if max_penalty is not None:  # the cap keeps the score in [-max_penalty, 0]
        penalty = np.minimum(penalty, max_penalty)
    return -penalty.astype(np.float32)


@dataclass(frozen=True)
class DiversityOptions:
    # Eq. 4's penalty per maximal high-frequency span; None: reward.delta_d.
    delta_d: float | None = None
    # n-gram lengths that can make a template.
    n_min: int = 2
    n_max: int = 10
    # A high-frequency n-gram occurs in at least this share of the window's documents ...
    min_doc_freq: float = 0.5
    # ... and in at least this many of them.
    min_docs: int = 3
    # Past steps the window remembers beside the current batch.
    window_steps: int = 8
    # Candidates per document (one prompt's G answers); 0: rollout.group_size.
    group_size: int = 0
    # Cap of the total penalty (the score stays in [-max_penalty, 0]); None: no cap.
    max_penalty: float | None = 1.0
    # Numbers are facts, not phrasing: their tokens neither form nor extend a template. SmolLM2's
    # tokenizer splits every number into single digits, so digit n-grams (" 1", "00", " 4.") made
    # 84-88 % of the spans flagged on 200 greedy ads (SFT's and RELATE's): the reward penalized
    # quoting the selling points' true numbers, against the correctness reward. false: numbers
    # count as any token.
    exempt_numbers: bool = True
    # Duplicated expressions (eq. 12's "penalties for high-frequency patterns and duplicated
    # expressions"): a phrase of repeat_n or more tokens that an answer's field repeats is flagged
    # like a template, each repeat one span. From the SFT checkpoint, RL filled the token budget with
    # repeats ("Full refund within 30 days. Full refund within 30 days."): 47 and 34 of 200 greedy
    # ads (two seeds) against SFT's 23, which no cross-request threshold sees. 0: off.
    repeat_n: int = 3

    def __post_init__(self) -> None:
        check_option(self.delta_d is None or self.delta_d >= 0, "delta_d", "must be >= 0", self.delta_d)
        check_option(2 <= self.n_min <= self.n_max, "n_min", f"must be in [2, n_max={self.n_max}]", self.n_min)
        check_option(0 < self.min_doc_freq <= 1, "min_doc_freq", "must be in (0, 1]", self.min_doc_freq)
        check_option(self.min_docs >= 1, "min_docs", "must be at least 1", self.min_docs)
        check_option(self.repeat_n >= 0, "repeat_n", "must be >= 0 (0: off)", self.repeat_n)
        check_option(self.window_steps >= 0, "window_steps", "must be >= 0", self.window_steps)
        check_option(self.group_size >= 0, "group_size", "must be >= 0", self.group_size)
        check_option(self.max_penalty is None or self.max_penalty > 0, "max_penalty", "must be positive or null",
                     self.max_penalty)


def _diversity_run_options(cfg, data) -> dict:
    return {"delta_d": cfg.reward.delta_d, "group_size": cfg.rollout.group_size}


@register_reward("diversity", options=DiversityOptions, group="diversity", stateful=True,
                 token_coefficient="lambda2", run_options=_diversity_run_options)
class DiversityReward:
    """Eq. 4: -delta_d per maximal high-frequency span (n-grams with 2 <= n <= 10, judged over this
    batch plus the last `window_steps` steps, and phrases an answer's field repeats), capped at
    -max_penalty; flags the tokens inside those spans (eq. 5).

    Scale: with the defaults (delta_d 0.25, max_penalty 1.0) the score lies in [-1, 0], the range of
    the other rewards: one template costs 0.25 however long it is, four or more cost 1.0.
    max_penalty=None removes the cap (then the score is unbounded below).

    The fixed 'Title:'/'Description:' keys are excluded: every well-formed answer must contain them.
    With group_size G > 1 a document is one prompt's G candidates together, so a phrase counts as a
    template when it recurs across different requests, not when one request's candidates share its
    facts. The default threshold (min_doc_freq 0.5 of those documents) keeps ordinary function-word
    bigrams, which most requests' candidates contain somewhere, from counting as templates as soon as
    the window holds a few steps.

    Stateful, with remembering kept apart from scoring. A batch with `step` set is scored without
    side effects on the window: its documents wait as pending under that step (re-scoring the step,
    e.g. a retried call, replaces them) until `commit(step)` remembers them, once. A batch with
    step None (direct use: tests, evaluation) is remembered at once, as before.
    """

    # Pending steps kept at most: a step never committed (its rewards were not accepted) is
    # forgotten once this many newer steps are pending, so they cannot pile up over a run.
    max_pending = 4

    def __init__(self, options: DiversityOptions | None = None) -> None:
        o = options or DiversityOptions()
        # Built directly (tests, evaluation): reward.delta_d's default, one answer a document.
        self.delta_d = DEFAULT_DELTA_D if o.delta_d is None else o.delta_d
        self.max_penalty, self.group_size = o.max_penalty, o.group_size or 1
        self.exempt_numbers, self.repeat_n = o.exempt_numbers, o.repeat_n
        self.ngram_args = {"n_min": o.n_min, "n_max": o.n_max, "min_doc_freq": o.min_doc_freq, "min_docs": o.min_docs}
        self.window = NgramWindow(o.window_steps)
        self._pending: dict[int, tuple[list, list]] = {}  # step -> (documents, masks), oldest first
        self._committed: set[int] = set()

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
        ignore = [spans_to_token_flags(spans, field_key_char_spans(text)
                                       + (number_char_spans(text) if self.exempt_numbers else [])).astype(bool)
                  for spans, text in zip(batch.token_spans, batch.texts)]
        docs, doc_masks = self._documents(batch.token_ids, ignore)
        frequent = self.window.high_frequency(docs, doc_masks, **self.ngram_args)
        # Eq. 4: we read the sum over n-grams as a sum over maximal high-frequency spans, so a
        # template is one penalty however long it is, and sentence-level (Model 3/4) and token-level
        # (RELATE) diversity differ in granularity, not scale. The spans are those of the flagged
        # tokens, so both forms penalize exactly the same text.
        counts, flags = count_and_flag(batch.token_ids, frequent, exempt=ignore)
        duplicated = np.zeros(len(batch), dtype=bool)
        if self.repeat_n:
            for i, (ids, spans, text) in enumerate(zip(batch.token_ids, batch.token_spans, batch.texts)):
                repeats = repeated_within(ids, field_segments(spans, text), ignore[i], self.repeat_n)
                flags[i, : len(ids)] |= repeats
                duplicated[i] = repeats.any()
            counts = maximal_spans(flags)
        self._remember(batch.step, docs, doc_masks)
        scores = diversity_penalty(counts, self.delta_d, self.max_penalty)
        token_flags = [flags[i, : len(ids)].astype(np.float32) for i, ids in enumerate(batch.token_ids)]
        info = {"high_freq_ngrams": float(len(frequent)), "duplicated": float(duplicated.mean()) if len(batch) else 0.0}
        return RewardOutput("diversity", scores, token_flags, info=info)

    def _remember(self, step: int | None, docs: list, masks: list) -> None:
        if step is None:
            self.window.push(docs, masks)
            return
        self._pending.pop(step, None)  # re-scoring replaces, and moves the step to the newest end
        self._pending[step] = (docs, masks)
        while len(self._pending) > self.max_pending:
            self._pending.pop(next(iter(self._pending)))

    def commit(self, step: int) -> bool:
        """Remember the documents scored for `step` in the window, exactly once.

        Returns True when they were pushed; a second commit of the step, or a commit of a step never
        scored (or forgotten, see max_pending), does nothing and returns False.
        """
        entry = self._pending.pop(step, None)
        if entry is None or step in self._committed:
            return False
        self._committed.add(step)
        self.window.push(*entry)
        return True

    def state_dict(self) -> dict:
        """The n-gram window: a resumed run judges templates against the same past steps.
        Pending (scored, uncommitted) steps are not part of it."""
        return self.window.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.window.load_state_dict(state)
        self._pending.clear()
        self._committed.clear()
