"""The one interface every reward component implements, and the registry that names them.

A component scores a `RewardBatch` (N candidate ads with their requests and policy tokens) and
returns a `RewardOutput`: one scalar per sample, and, for components with a natural token-level form
(risk control, diversity), one 0/1 flag per response token. Sentence- and token-level outputs stay
apart until `relate_ray.algo.credit` turns them into advantages (the paper's credit assignment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from relate_ray.data.adformat import ParsedAd, parse_ad
from relate_ray.data.schema import AdRequest


@dataclass
class RewardBatch:
    """N samples: sample i is the policy's answer `texts[i]` to `requests[i]`.

    token_ids[i] are the response's token ids; token_spans[i][t] = (start, end) character offsets of
    token t in texts[i] (see relate_ray.rewards.tokens), so character-level findings map to tokens.
    step is the training step the batch belongs to: a stateful component (diversity) keeps a scored
    step pending until it is committed, so a retried call is remembered once and an unaccepted step
    not at all. None (direct use: tests, evaluation) means remember at once.
    truncated[i] is True where the answer was cut by the token budget (vLLM's finish_reason
    "length") instead of ending itself; empty: not known (every answer counts as finished).
    """

    requests: list[AdRequest]
    texts: list[str]
    token_ids: list[list[int]] = field(default_factory=list)
    token_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    ads: list[ParsedAd] = field(default_factory=list)
    step: int | None = None
    truncated: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.requests) != len(self.texts):
            raise ValueError(f"{len(self.requests)} requests for {len(self.texts)} texts")
        if not self.ads:
            self.ads = [parse_ad(t) for t in self.texts]

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, indices: list[int]) -> RewardBatch:
        """The samples at `indices`, in that order (same step)."""
        pick = lambda items: [items[i] for i in indices] if items else []  # noqa: E731
        return RewardBatch(pick(self.requests), pick(self.texts), pick(self.token_ids), pick(self.token_spans),
                           pick(self.ads), step=self.step, truncated=pick(self.truncated))

    def content_ads(self) -> list[ParsedAd]:
        """The ads for scorers of content (CTCVR, the judge): an answer with neither field is read
        whole as its title, so it is still judged on its words (the format reward punishes the form)
        and a group of malformed answers does not collapse to one identical score."""
        return [ad if ad.title or ad.description else ParsedAd(text.strip(), "", ok=False)
                for ad, text in zip(self.ads, self.texts)]


@dataclass
class RewardOutput:
    """scores: [N] sentence-level values. token_flags: per sample, [T_i] 0/1 flags or None."""

    name: str
    scores: np.ndarray
    token_flags: list[np.ndarray] | None = None
    info: dict[str, float] = field(default_factory=dict)

    def select(self, indices: list[int]) -> RewardOutput:
        """The outputs of the samples at `indices`, in that order (info stays the batch's)."""
        flags = None if self.token_flags is None else [self.token_flags[i] for i in indices]
        return RewardOutput(self.name, self.scores[np.asarray(indices, dtype=int)], flags, dict(self.info))
