"""The rollout workers as one: a step's prompts split over them, with a dead worker's share redone.

A worker that dies mid-generation is restarted by Ray (fault.max_restarts) with the checkpoint's
initial weights, so before it samples again it gets the current ones (`WeightSync.resync`), then it
redoes its share with the same seed: the step's samples are the ones an uninterrupted run draws,
none lost and none twice. A worker that died between calls answers from its new process with
weight version 0; its answer is thrown away and redone the same way.
"""

from __future__ import annotations

import ray

from relate_ray.trainer.recovery import WORKER_DIED, Restarts


class RolloutFleet:
    def __init__(self, workers: list, names: list[str], weights, restarts: Restarts) -> None:
        self.workers, self.names, self.weights, self.restarts = workers, names, weights, restarts

    def __len__(self) -> int:
        return len(self.workers)

    def generate(self, shares: list[list[list[int]]], n: int, temperature: float, top_p: float, max_tokens: int,
                 seeds: list[int | None], version: int) -> list[list[list[dict]]]:
        """For worker i, its share `shares[i]` of tokenized prompts (may be empty) sampled with
        seeds[i] by weights `version`: per worker, per prompt, n completion dicts."""

        def submit(i: int):
            return self.workers[i].generate.remote(shares[i], n, temperature, top_p, max_tokens, seeds[i])

        refs = {i: submit(i) for i in range(len(self.workers)) if shares[i]}
        results: list[list] = [[] for _ in self.workers]
        for i in refs:
            while True:
                try:
                    out = ray.get(refs[i])
                except WORKER_DIED as err:
                    self.restarts.wait_back(self.names[i], self.workers[i], err)
                    self.weights.resync(i, version)
                    refs[i] = submit(i)
                    continue
                if out["version"] != version:
                    self.restarts.noticed(self.names[i], f"it sampled with weight version {out['version']}, "
                                                         f"not {version}")
                    self.weights.resync(i, version)
                    refs[i] = submit(i)
                    continue
                results[i] = out["groups"]
                break
        return results
