"""Dead workers: waiting for Ray's restart, counting restarts, and stopping clearly when one is lost.

Rollout and reward workers are created with Ray's `max_restarts` (fault.max_restarts) and
`max_task_retries=0`: a call in flight when the process dies fails with `RayActorError`, and Ray
reruns the constructor. Whoever made the call (the controller's rollout, the reward pool) asks
`Restarts.wait_back` for the worker, brings it up to date (weights, remembered state) and redoes its
share of the step. A worker Ray cannot bring back ends the run with `WorkerLostError`: one line
naming the worker and the cause.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

import ray

log = logging.getLogger(__name__)

# A worker's process is gone (killed, crashed, out of memory, its node lost): Ray may restart it.
# An exception raised by our own code inside a call (RayTaskError) is a bug and is never retried.
WORKER_DIED = (ray.exceptions.RayActorError,)


class WorkerLostError(RuntimeError):
    """A worker died and could not be brought back (restarts used up, or the restart failed)."""


def death_cause(err: BaseException) -> str:
    """What a Ray failure says about the death, in one short line."""
    text = str(getattr(err, "error_msg", "") or err)
    # Ray's death reports carry "Worker exit type: ... Worker exit detail: <sentence>. ...".
    detail = re.search(r"Worker exit detail: (.+?\.)(?:\s|$)", text)
    if detail:
        return f"its process exited: {detail.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:240]


class Restarts:
    """Restart bookkeeping for the run: per worker name, in total and in the current step."""

    def __init__(self, max_restarts: int, timeout_s: float) -> None:
        self.max_restarts, self.timeout_s = max_restarts, timeout_s
        self.total: Counter = Counter()
        self.this_step: Counter = Counter()

    def wait_back(self, name: str, actor, err: BaseException) -> dict:
        """Block until Ray has restarted `name` after `err`; returns its ready() info.
        Raises WorkerLostError when it does not come back."""
        self._count(name)
        cause = death_cause(err)
        if self.total[name] > self.max_restarts:
            raise WorkerLostError(f"{name} died with its fault.max_restarts={self.max_restarts} restarts used up: "
                                  f"{cause}")
        log.warning("%s died (%s); waiting for its restart (%d of %d)", name, cause, self.total[name],
                    self.max_restarts)
        try:
            # Retried by Ray through the restart, so this returns from the new process.
            info = ray.get(actor.ready.options(max_task_retries=-1).remote(), timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise WorkerLostError(f"{name} died ({cause}) and was not back within fault.restart_timeout_s="
                                  f"{self.timeout_s:g}") from None
        except WORKER_DIED as again:
            raise WorkerLostError(f"{name} died ({cause}) and could not be restarted: {death_cause(again)}") from None
        log.warning("%s restarted as pid %s", name, info.get("pid"))
        return info

    def noticed(self, name: str, why: str) -> None:
        """A restart seen after the fact (a worker that answers from a new process)."""
        self._count(name)
        log.warning("%s was restarted (%s)", name, why)

    def _count(self, name: str) -> None:
        self.total[name] += 1
        self.this_step[name] += 1

    def step_metrics(self) -> dict:
        """faults/* for the step just finished; resets the step's count."""
        metrics = {"faults/restarts": sum(self.this_step.values()), "faults/restarts_total": sum(self.total.values())}
        self.this_step.clear()
        return metrics


def lost(name: str, err: BaseException) -> WorkerLostError:
    """The error for a worker that is never restarted (a learner rank)."""
    return WorkerLostError(f"{name} died: {death_cause(err)} (learner ranks are not restarted; "
                           f"resume=true continues from the last checkpoint)")
