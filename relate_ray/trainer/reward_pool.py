"""Calling the reward workers: concurrently, with a timeout, retries, restarts and a failure policy.

Groups of workers each own some components. A step's batch is split across a group's members;
every group's calls are in flight at once. What goes wrong, and what happens:
- a member's process dies: Ray restarts it (fault.max_restarts); a stateful member (diversity) first
  gets back the state it had committed, then the call is redone on it, so its window remembers
  the step once;
- a call times out: it is retried on the next member;
- a component raises (a bug, e.g. a TypeError): the run stops at once with its message, never
  retried, since the same input fails the same way;
- when retries run out the policy decides: 'fail' stops the step, 'drop' leaves that group's
  components out of this step (logged), and credit assignment uses the components that arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import ray

from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.trainer.recovery import WORKER_DIED, Restarts

log = logging.getLogger(__name__)
# What the pool does when a group's retries run out (reward_workers.on_failure).
ON_FAILURE = ("fail", "drop")


class RewardFailure(RuntimeError):
    """A reward group failed after its retries and the policy is 'fail', or a component raised."""


@dataclass
class RewardGroup:
    name: str
    workers: list  # RewardWorker handles
    # A stateful group (the registry's RewardSpec.stateful: diversity's n-gram window) runs as one
    # member that sees whole batches; the others split a batch across their members.
    stateful: bool = False
    names: list[str] = field(default_factory=list)  # the actors' names, for messages

    def name_of(self, member: int) -> str:
        member %= len(self.workers)
        return self.names[member] if self.names else f"reward-{self.name}-{member}"


def _split(batch: RewardBatch, parts: int) -> list[list[int]]:
    """The batch's sample indices in `parts` contiguous, nearly equal, non-empty chunks."""
    bounds = np.linspace(0, len(batch), parts + 1).astype(int)
    return [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _merge(parts: list[tuple[list[int], dict[str, RewardOutput]]], size: int) -> dict[str, RewardOutput]:
    """Each part's outputs put back at its samples' places in the batch of `size`."""
    merged = {}
    for name in parts[0][1]:
        scores = np.zeros(size, dtype=np.float64)
        flags: list | None = None if parts[0][1][name].token_flags is None else [None] * size
        for indices, outputs in parts:
            scores[indices] = outputs[name].scores
            if flags is not None:
                for i, row in zip(indices, outputs[name].token_flags):
                    flags[i] = row
        # A part may lack a key (a figure over no servable ad): average where it exists.
        infos = [outputs[name].info for _, outputs in parts]
        keys = dict.fromkeys(k for info in infos for k in info)
        info = {k: float(np.mean([i[k] for i in infos if k in i])) for k in keys}
        merged[name] = RewardOutput(name, scores.astype(parts[0][1][name].scores.dtype), flags, info)
    return merged


class RewardPool:
    def __init__(self, groups: list[RewardGroup], timeout_s: float, retries: int, on_failure: str,
                 restarts: Restarts | None = None) -> None:
        if on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be {' or '.join(ON_FAILURE)}, got {on_failure!r}")
        self.groups, self.timeout_s, self.retries, self.on_failure = groups, timeout_s, retries, on_failure
        self.restarts = restarts or Restarts(max_restarts=0, timeout_s=timeout_s)
        # What each stateful group committed last: a restarted member starts from it.
        self._committed: dict[str, dict] = {}
        self._pids: dict[str, int] = {}  # stateful groups: the process that holds that state

    def _submit(self, group: RewardGroup, member: int, batch: RewardBatch):
        return group.workers[member % len(group.workers)].score.remote(batch)

    # A call in flight: (group, the batch's sample indices it scores, member, ref).

    def score(self, batch: RewardBatch) -> tuple[dict[str, RewardOutput], list[str]]:
        """All components' outputs for the batch, and the names of groups dropped this step (one
        step's scoring, nothing fed before; the caller commits)."""
        return self.step_scoring(batch.step).finish(batch)

    def step_scoring(self, step: int | None, group_size: int = 1) -> StepScoring:
        """The scoring of one step, from the rollout's first finished group to the commit."""
        return StepScoring(self, step, group_size)

    def _score_now(self, calls: list, part: RewardBatch, indices: list[int]) -> None:
        """Submit `part`, the samples at `indices` of the step's batch, to every stateless group (their
        members in turn). Stateless components score each sample on its own request, so a part
        scores as it would within the whole batch."""
        if len(indices) != len(part):
            raise ValueError(f"{len(indices)} batch indices for a part of {len(part)} samples")
        for group in self.groups:
            if not group.stateful:
                member = sum(1 for call in calls if call[0] is group) % len(group.workers)
                calls.append((group, list(indices), member, self._submit(group, member, part)))

    def _score_rest(self, calls: list, batch: RewardBatch, fed: bool) -> None:
        """The stateless groups' share when nothing was fed (split over their members), then the
        stateful groups on the whole batch (diversity counts n-grams over all of it)."""
        for group in self.groups:
            if group.stateful:
                # Checked now, just before it scores: it may have died and come back empty while the
                # rollout sampled (Ray restarts it without an error reaching us).
                self._check_state_holder(group)
                calls.append((group, list(range(len(batch))), 0, self._submit(group, 0, batch)))
            elif not fed:
                for k, indices in enumerate(_split(batch, len(group.workers))):
                    calls.append((group, indices, k, self._submit(group, k, batch.select(indices))))

    def _gather(self, calls: list, batch: RewardBatch) -> tuple[dict[str, RewardOutput], list[str]]:
        """Every call's answer (retried on the full batch's slice if it must be): all components'
        outputs in batch order, and the names of groups dropped this step."""
        results: dict[str, list] = {g.name: [] for g in self.groups}
        dropped: list[str] = []
        for group, indices, member, ref in sorted(calls, key=lambda call: min(call[1])):
            if group.name in dropped:
                continue
            output = self._get_with_retries(group, indices, member, ref, batch)
            if output is None:
                dropped.append(group.name)
            else:
                results[group.name].append((indices, output))
        merged: dict[str, RewardOutput] = {}
        for group in self.groups:
            if group.name not in dropped:
                merged.update(_merge(results[group.name], len(batch)))
        return merged, dropped

    def _get_with_retries(self, group, indices, member, ref, batch):
        attempt = 0
        while True:
            try:
                return ray.get(ref, timeout=self.timeout_s)
            except WORKER_DIED as err:
                # Not an attempt used: the same member, restarted, redoes the call.
                self._bring_back(group, member, err)
            except ray.exceptions.GetTimeoutError as err:
                ray.cancel(ref, force=False)  # a late answer must not pile up work on the actor
                attempt += 1
                log.warning("reward group %s, attempt %d/%d failed: %s", group.name, attempt, self.retries + 1,
                            type(err).__name__)
                if attempt > self.retries:
                    break
                member += 1
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if err.cause is not None else err
                raise RewardFailure(f"reward group '{group.name}' ({group.name_of(member)}): "
                                    f"{type(cause).__name__}: {cause}") from None
            ref = self._submit(group, member, batch.select(indices))
        if self.on_failure == "fail":
            raise RewardFailure(f"reward group '{group.name}' failed after {self.retries + 1} attempts")
        log.warning("dropping reward group %s for this step (reward_workers.on_failure=drop)", group.name)
        return None

    def _bring_back(self, group: RewardGroup, member: int, err: BaseException) -> None:
        """Wait for Ray's restart of a dead member; a stateful one gets its committed state back."""
        worker = group.workers[member % len(group.workers)]
        info = self.restarts.wait_back(group.name_of(member), worker, err)
        if group.stateful:
            self._pids[group.name] = info["pid"]
            self._restore(group)

    def _restore(self, group: RewardGroup) -> None:
        """Give a stateful group's (new) process the state it had committed, if any yet."""
        if group.name in self._committed:
            ray.get(group.workers[0].load_state.remote(self._committed[group.name]), timeout=self.timeout_s)

    def _check_state_holder(self, group: RewardGroup) -> None:
        """A stateful member restarted between steps answers from a new process with an empty
        window: give it the committed state before it scores."""
        try:
            pid = ray.get(group.workers[0].ready.remote(), timeout=self.timeout_s)["pid"]
        except WORKER_DIED as err:
            self._bring_back(group, 0, err)  # restores, and records the new pid
            return
        if group.name in self._pids and pid != self._pids[group.name]:
            self.restarts.noticed(group.name_of(0), f"it answers from a new process (pid {pid})")
            self._restore(group)
        self._pids[group.name] = pid

    def commit(self, step: int, batch: RewardBatch, skip: list[str] | tuple[str, ...] = ()) -> None:
        """Let the stateful components remember `step`'s batch (call once its rewards are accepted).

        Scoring a batch with `step` set only leaves it pending on the stateful workers, so a retried
        call or a step that is never accepted does not enter the diversity window; committing twice
        is harmless. Groups named in `skip` (e.g. the dropped groups `score` returned) are left out.
        The committed state is kept here too, for a member that has to be restarted. A member that
        dies before committing is restarted, given its state, scores the batch again and commits.
        """
        for group in self.groups:
            if not group.stateful or group.name in skip:
                continue
            worker = group.workers[0]  # stateful groups have one member
            while True:
                try:
                    ray.get(worker.commit.remote(step), timeout=self.timeout_s)
                    self._committed[group.name] = ray.get(worker.state.remote(), timeout=self.timeout_s)
                    break
                except WORKER_DIED as err:
                    self._bring_back(group, 0, err)
                    ray.get(self._submit(group, 0, batch), timeout=self.timeout_s)  # pending again

    def state_dict(self) -> dict[str, dict]:
        """Stateful components' state ({component: state}); only single-member groups hold state."""
        states: dict[str, dict] = {}
        for group in self.groups:
            if group.stateful:
                states.update(ray.get(group.workers[0].state.remote(), timeout=self.timeout_s))
        return states

    def load_state_dict(self, states: dict[str, dict]) -> None:
        ray.get([g.workers[0].load_state.remote(states) for g in self.groups if g.stateful])
        for group in self.groups:
            if group.stateful:
                self._committed[group.name] = ray.get(group.workers[0].state.remote(), timeout=self.timeout_s)


class StepScoring:
    """One step's rewards, as the controller holds them: `feed_groups` while the rollout samples
    (each finished prompt's G answers go to the stateless workers at once), `finish` with the whole
    batch, then `commit` once the step's rewards are accepted. A call in flight is
    (group, the batch's sample indices it scores, member, ref)."""

    def __init__(self, pool: RewardPool, step: int | None, group_size: int = 1) -> None:
        self.pool, self.step, self.group_size = pool, step, group_size
        self._calls: list = []
        self._fed = False
        self._batch: RewardBatch | None = None
        self.dropped: list[str] | None = None

    def feed(self, part: RewardBatch, indices: list[int]) -> None:
        """Score `part`, the samples at `indices` of the step's batch, on the stateless groups now."""
        self._fed = True
        self.pool._score_now(self._calls, part, indices)

    def feed_groups(self, positions: list[int], part: RewardBatch) -> None:
        """`feed` the groups of the prompts at `positions` (their G samples each, in order)."""
        g = self.group_size
        self.feed(part, [p * g + k for p in positions for k in range(g)])

    def finish(self, batch: RewardBatch) -> tuple[dict[str, RewardOutput], list[str]]:
        """All components' outputs for the whole batch in batch order, and the groups dropped."""
        self.pool._score_rest(self._calls, batch, self._fed)
        outputs, self.dropped = self.pool._gather(self._calls, batch)
        self._batch = batch
        return outputs, self.dropped

    def commit(self) -> None:
        """The stateful components remember this step (the dropped groups do not)."""
        if self.dropped is None:
            raise RuntimeError(f"step {self.step}: commit before finish")
        self.pool.commit(self.step, self._batch, skip=self.dropped)
