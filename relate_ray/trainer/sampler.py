"""Prompt sampling with a resumable position: shuffled epochs over the training requests."""

from __future__ import annotations

import random
from dataclasses import dataclass

from relate_ray.data.schema import AdRequest


@dataclass
class SamplerState:
    epoch: int = 0
    position: int = 0


class PromptSampler:
    """Yields batches of requests; each epoch is a fresh seeded shuffle. The state (epoch,
    position) is saved in checkpoints so a resumed run continues with the same prompts."""

    def __init__(self, requests: list[AdRequest], seed: int, state: SamplerState | None = None) -> None:
        if not requests:
            raise ValueError("no training requests")
        self.requests, self.seed = requests, seed
        self.state = state or SamplerState()
        self._order = self._shuffle(self.state.epoch)

    def _shuffle(self, epoch: int) -> list[int]:
        order = list(range(len(self.requests)))
        random.Random(f"{self.seed}:{epoch}").shuffle(order)
        return order

    def next_batch(self, size: int) -> list[AdRequest]:
        batch = []
        while len(batch) < size:
            if self.state.position >= len(self._order):
                self.state = SamplerState(self.state.epoch + 1, 0)
                self._order = self._shuffle(self.state.epoch)
            batch.append(self.requests[self._order[self.state.position]])
            self.state.position += 1
        return batch
