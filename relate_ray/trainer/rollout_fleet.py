"""The rollout workers as one: a step's prompts split over them, with a dead worker's share redone.

A worker that dies mid-generation is restarted by Ray (fault.max_restarts) with the checkpoint's
initial weights, so before it samples again it gets the current ones (`WeightSync.resync`), then it
redoes its share with the same seed: the step's samples are the ones an uninterrupted run draws,
none lost and none twice. A worker that died between calls answers from its new process with
weight version 0; its answer is thrown away and redone the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

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
        results: list[list] = [[[] for _ in share] for share in shares]
        for finished in self.stream(shares, n, temperature, top_p, max_tokens, seeds, version):
            for i, index, group in finished:
                results[i][index] = group
        return results

    def stream(self, shares: list[list[list[int]]], n: int, temperature: float, top_p: float, max_tokens: int,
               seeds: list[int | None], version: int) -> Iterator[list[tuple[int, int, list[dict]]]]:
        """`generate`'s groups as they finish, from every worker at once: lists of (worker i, the
        prompt's index in shares[i], its n completion dicts), those one engine step finished
        together; each group once. A worker that dies redoes its share with the same seed and
        weights, so it samples the same groups again; those already handed out are skipped."""

        def submit(i: int):
            return self.workers[i].generate_stream.options(num_returns="streaming").remote(
                shares[i], n, temperature, top_p, max_tokens, seeds[i])

        streams = {i: submit(i) for i in range(len(self.workers)) if shares[i]}
        handed_out: dict[int, set[int]] = {i: set() for i in streams}
        while streams:
            ready, _ = ray.wait(list(streams.values()), num_returns=1)
            i = next(k for k, stream in streams.items() if stream is ready[0])
            try:
                item = ray.get(next(streams[i]))
            except StopIteration:
                del streams[i]
                continue
            except WORKER_DIED as err:
                self.restarts.wait_back(self.names[i], self.workers[i], err)
                self.weights.resync(i, version)
                streams[i] = submit(i)
                continue
            if item["version"] != version:  # the stream's first item: nothing of it was handed out
                self.restarts.noticed(self.names[i], f"it sampled with weight version {item['version']}, "
                                                     f"not {version}")
                self.weights.resync(i, version)
                streams[i] = submit(i)
                continue
            fresh = [(i, index, group) for index, group in item["groups"] if index not in handed_out[i]]
            handed_out[i].update(index for _, index, _ in fresh)
            if fresh:
                yield fresh
