"""Calling the reward workers: concurrently, with a timeout, retries, and a failure policy.

Groups of workers each own some components. A step's batch is split across a group's members;
every group's calls are in flight at once. A call that fails or times out is retried on the next
member; when retries run out the policy decides: 'fail' stops the step, 'drop' leaves that group's
components out of this step (logged), and credit assignment uses the components that arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import ray

from relate_ray.rewards.base import RewardBatch, RewardOutput

log = logging.getLogger(__name__)


class RewardFailure(RuntimeError):
    """A reward group failed after its retries and the policy is 'fail'."""


@dataclass
class RewardGroup:
    name: str
    workers: list  # RewardWorker handles
    splittable: bool = True  # False for stateful scorers, which must see the whole batch


def _split(batch: RewardBatch, parts: int) -> list[tuple[int, int]]:
    size = len(batch)
    bounds = np.linspace(0, size, parts + 1).astype(int)
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _slice(batch: RewardBatch, start: int, end: int) -> RewardBatch:
    return RewardBatch(batch.requests[start:end], batch.texts[start:end], batch.token_ids[start:end],
                       batch.token_spans[start:end], batch.ads[start:end], step=batch.step)


def _merge(parts: list[dict[str, RewardOutput]]) -> dict[str, RewardOutput]:
    merged = {}
    for name in parts[0]:
        outputs = [p[name] for p in parts]
        flags = None if outputs[0].token_flags is None else [f for o in outputs for f in o.token_flags]
        info = {k: float(np.mean([o.info[k] for o in outputs])) for k in outputs[0].info}
        merged[name] = RewardOutput(name, np.concatenate([o.scores for o in outputs]), flags, info)
    return merged


class RewardPool:
    def __init__(self, groups: list[RewardGroup], timeout_s: float, retries: int, on_failure: str) -> None:
        if on_failure not in ("fail", "drop"):
            raise ValueError(f"on_failure must be fail or drop, got {on_failure!r}")
        self.groups, self.timeout_s, self.retries, self.on_failure = groups, timeout_s, retries, on_failure

    def _submit(self, group: RewardGroup, member: int, batch: RewardBatch):
        return group.workers[member % len(group.workers)].score.remote(batch)

    def score(self, batch: RewardBatch) -> tuple[dict[str, RewardOutput], list[str]]:
        """All components' outputs for the batch, and the names of groups dropped this step."""
        pending = []  # (group, chunk bounds, member used, ref)
        for group in self.groups:
            chunks = _split(batch, len(group.workers)) if group.splittable else [(0, len(batch))]
            for k, (a, b) in enumerate(chunks):
                pending.append((group, (a, b), k, self._submit(group, k, _slice(batch, a, b))))
        results: dict[str, list] = {g.name: [] for g in self.groups}
        dropped: list[str] = []
        for group, (a, b), member, ref in pending:
            if group.name in dropped:
                continue
            output = self._get_with_retries(group, (a, b), member, ref, batch)
            if output is None:
                dropped.append(group.name)
            else:
                results[group.name].append(output)
        merged: dict[str, RewardOutput] = {}
        for group in self.groups:
            if group.name not in dropped:
                merged.update(_merge(results[group.name]))
        return merged, dropped

    def _get_with_retries(self, group, bounds, member, ref, batch):
        for attempt in range(self.retries + 1):
            try:
                return ray.get(ref, timeout=self.timeout_s)
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayError) as err:
                if isinstance(err, ray.exceptions.GetTimeoutError):
                    ray.cancel(ref, force=False)  # a late answer must not pile up work on the actor
                log.warning("reward group %s, attempt %d/%d failed: %s", group.name, attempt + 1,
                            self.retries + 1, type(err).__name__)
                if attempt < self.retries:
                    member += 1
                    ref = self._submit(group, member, _slice(batch, *bounds))
        if self.on_failure == "fail":
            raise RewardFailure(f"reward group '{group.name}' failed after {self.retries + 1} attempts")
        log.warning("dropping reward group %s for this step (reward_workers.on_failure=drop)", group.name)
        return None

    def commit(self, step: int, skip: list[str] | tuple[str, ...] = ()) -> None:
        """Let the stateful components remember `step`'s batch (call once its rewards are accepted).

        Scoring a batch with `step` set only leaves it pending on the stateful workers, so a retried
        call or a step that is never accepted does not enter the diversity window; committing twice
        is harmless. Groups named in `skip` (e.g. the dropped groups `score` returned) are left out.
        """
        refs = [w.commit.remote(step) for g in self.groups if not g.splittable and g.name not in skip
                for w in g.workers]  # a member that did not score the step has nothing pending
        ray.get(refs, timeout=self.timeout_s)

    def state_dict(self) -> dict[str, dict]:
        """Stateful components' state ({component: state}); only single-member groups hold state."""
        states: dict[str, dict] = {}
        for group in self.groups:
            if not group.splittable:
                states.update(ray.get(group.workers[0].state.remote(), timeout=self.timeout_s))
        return states

    def load_state_dict(self, states: dict[str, dict]) -> None:
        ray.get([g.workers[0].load_state.remote(states) for g in self.groups if not g.splittable])
