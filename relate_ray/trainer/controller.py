"""The RL loop, top to bottom: sample prompts -> rollout -> score -> advantages -> learner -> sync -> log.

Every few steps it evaluates on held-out requests and writes a checkpoint. Each phase is one named
method with its own timer, so `metrics.jsonl` splits the step's wall time the same way.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import ray
import torch

from relate_ray.algo.credit import assign_credit
from relate_ray.algo.logprobs import pad_rows, pad_tokens
from relate_ray.data.schema import AdRequest
from relate_ray.dtypes import resolve_dtype
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.presets import component_specs
from relate_ray.rewards.tokens import token_char_spans
from relate_ray.trainer.checkpoint import (CheckpointSpaceError, check_free_space, checkpoint_nbytes,
                                          latest_checkpoint, load_reward_state, model_numel, prune_checkpoints,
                                          save_checkpoint)
from relate_ray.trainer.evaluation import evaluate
from relate_ray.algo.learner_batch import (LearnerBatch, combine_rank_stats, informative_groups_first,
                                              learner_shards)
from relate_ray.trainer.metrics import MetricsSink
from relate_ray.trainer.recovery import WORKER_DIED, lost
from relate_ray.trainer.sampler import PromptSampler, SamplerState
from relate_ray.trainer.weight_sync import sync_run_id
from relate_ray.trainer.setup import Actors, build_actors, learner_dtype, load_run_data, pad_id

log = logging.getLogger(__name__)


class Controller:
    def __init__(self, cfg, out_dir: Path) -> None:
        self.cfg, self.out_dir = cfg, out_dir
        t = time.perf_counter()
        self.data = load_run_data(cfg)
        log.info("data and policy ready in %.1f s", time.perf_counter() - t)
        # Every run writes at least its final checkpoint: fail now, not after the training, if it can't fit.
        weight_bytes = 2 if resolve_dtype(learner_dtype(cfg)) == "bfloat16" else 4
        self.checkpoint_nbytes = checkpoint_nbytes(model_numel(self.data.policy_path), weight_bytes)
        check_free_space(out_dir, self.checkpoint_nbytes)
        self.specs = component_specs(cfg.reward)
        t = time.perf_counter()
        self.actors: Actors = build_actors(cfg, self.data, run_id=sync_run_id(out_dir))
        log.info("actors ready in %.1f s", time.perf_counter() - t)
        self.sampler = PromptSampler(self.data.train, cfg.seed)
        self.version = 0
        self._prompt_ids: dict[str, list[int]] = {}

    # ---- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.cfg
        start = self.resume() if cfg.resume else 0
        sink = MetricsSink(self.out_dir, cfg.trainer.steps, start, cfg)
        try:
            if start == 0 and cfg.trainer.eval_every:
                # Step 0: the untrained policy on the same held-out requests, so every run measures its gain.
                sink.log(self.evaluation_row(0, sink))
            for step in range(start + 1, cfg.trainer.steps + 1):
                metrics, samples = self.train_step(step)
                sink.log_samples(samples)
                last = step == cfg.trainer.steps
                if last or (cfg.trainer.eval_every and step % cfg.trainer.eval_every == 0):
                    metrics.update(self.evaluation_row(step, sink))
                sink.log(metrics)
                if last or (cfg.trainer.checkpoint_every and step % cfg.trainer.checkpoint_every == 0):
                    self.checkpoint(step, final=last)
        finally:
            sink.close()
            self.actors.weights.close()

    def evaluation_row(self, step: int, sink: MetricsSink) -> dict:
        """eval/* metrics of the current policy (greedy ads on held-out requests), rows to eval_samples."""
        t = time.perf_counter()
        eval_metrics, eval_rows = self.evaluate()
        sink.log_samples([{"step": step, **row} for row in eval_rows], evaluation=True)
        return {"step": step, **eval_metrics, "time/eval": time.perf_counter() - t}

    def train_step(self, step: int) -> tuple[dict, list[dict]]:
        t_step = time.perf_counter()
        tc = self.cfg.trainer
        sampled = math.ceil(tc.oversample * tc.prompts_per_step) if tc.dynamic_sampling else tc.prompts_per_step
        requests = self.sampler.next_batch(sampled)
        t = time.perf_counter()
        # Streamed: each finished group goes to the reward workers at once, so time/reward is only
        # what scoring adds after the last group is sampled.
        scoring = self.actors.rewards.step_scoring(step, self.cfg.rollout.group_size)
        stream = self.cfg.reward_workers.stream
        batch, prompt_ids, rollout_logprobs = self.rollout(requests, step,
                                                           on_groups=scoring.feed_groups if stream else None)
        t_rollout, t = time.perf_counter() - t, time.perf_counter()
        outputs, dropped = scoring.finish(batch)
        # Only now, with every group's scores in, do stateful rewards remember this step (once).
        scoring.commit()
        t_reward, t = time.perf_counter() - t, time.perf_counter()
        extra = {}
        if tc.dynamic_sampling:
            keep, extra["dynamic/zero_std_frac_sampled"] = self.informative_first(batch, outputs)
            batch, outputs = batch.select(keep), {name: out.select(keep) for name, out in outputs.items()}
            prompt_ids, rollout_logprobs = [prompt_ids[i] for i in keep], [rollout_logprobs[i] for i in keep]
        credit, mask = self.advantages(batch, outputs)
        learner_stats = self.learn(batch, prompt_ids, rollout_logprobs, credit.advantages, mask)
        t_learner, t = time.perf_counter() - t, time.perf_counter()
        sync_stats = self.sync()
        t_sync = time.perf_counter() - t
        metrics = {"step": step, "batch/samples": len(batch), "reward/total": float(credit.total_rewards.mean())}
        metrics.update({f"reward/{name}": float(out.scores.mean()) for name, out in outputs.items()})
        metrics.update({f"reward_info/{k}": v for out in outputs.values() for k, v in out.info.items()})
        metrics.update({"reward/dropped_groups": len(dropped),
                        "advantage/mean": float(credit.advantages.sum() / mask.sum()),
                        "advantage/abs_mean": float(credit.advantages.abs().sum() / mask.sum()),
                        "advantage/sentence_std": float(credit.sentence_advantages.std()),
                        "advantage/token_penalized_frac": float((credit.token_rewards != 0).sum() / mask.sum()),
                        "advantage/zero_std_frac": credit.zero_std_frac,
                        "response_length": float(mask.sum(dim=1).mean())})
        metrics.update({f"reward_std/{name}": value for name, value in credit.component_group_std.items()})
        metrics.update(extra)
        metrics.update(learner_stats)
        metrics.update(sync_stats)
        metrics.update(self.actors.restarts.step_metrics())
        metrics.update({"time/step": time.perf_counter() - t_step, "time/rollout": t_rollout,
                        "time/reward": t_reward, "time/learner": t_learner, "time/sync": t_sync})
        group = range(self.cfg.rollout.group_size)  # the first prompt's candidates
        samples = [{"step": step, "request_id": batch.requests[i].id, "text": batch.texts[i],
                    "reward": float(credit.total_rewards[i]),
                    **{name: float(out.scores[i]) for name, out in outputs.items()}} for i in group]
        return metrics, samples

    # ---- phases ---------------------------------------------------------------------------
    def tokenized_prompt(self, request: AdRequest) -> list[int]:
        from relate_ray.data.prompts import render_prompt

        if request.id not in self._prompt_ids:
            text = render_prompt(request, self.data.tokenizer)
            self._prompt_ids[request.id] = self.data.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._prompt_ids[request.id]

    def rollout(self, requests: list[AdRequest], step: int,
                on_groups: Callable[[list[int], RewardBatch], None] | None = None,
                ) -> tuple[RewardBatch, list[list[int]], list[list[float]]]:
        """G candidates per request, spread over the rollout workers; samples ordered group by group.
        Returns the batch to score, each sample's prompt ids and its sampling log-probs. Each worker's
        sampler is seeded from (seed, step, worker), so a resumed run draws the same samples.
        on_groups(positions, their samples): called with the requests whose groups an engine step
        finished, while the others still sample."""
        cfg = self.cfg.rollout
        prompts = [self.tokenized_prompt(r) for r in requests]
        fleet = self.actors.rollout
        positions = np.array_split(np.arange(len(prompts)), len(fleet))
        shares = [[prompts[i] for i in share] for share in positions]
        seeds = [int(np.random.SeedSequence([self.cfg.seed, step, i]).generate_state(1)[0]) for i in range(len(fleet))]
        parts: list[RewardBatch | None] = [None] * len(requests)
        logprobs: list[list[list[float]]] = [[] for _ in requests]
        for finished in fleet.stream(shares, cfg.group_size, cfg.temperature, cfg.top_p, cfg.max_new_tokens, seeds,
                                     self.version):
            done = []
            for worker, index, group in finished:
                position = int(positions[worker][index])
                token_ids = [completion["token_ids"] for completion in group]
                parts[position] = RewardBatch([requests[position]] * len(group), [c["text"] for c in group],
                                              token_ids, [token_char_spans(self.data.tokenizer, ids) for ids in token_ids],
                                              step=step, truncated=[c["finish_reason"] == "length" for c in group])
                logprobs[position] = [completion["logprobs"] for completion in group]
                done.append(position)
            if on_groups is not None:
                on_groups(done, _joined([parts[p] for p in done], step))
        batch = _joined(parts, step)
        prompt_ids = [prompts[position] for position, part in enumerate(parts) for _ in part.texts]
        return batch, prompt_ids, [lp for group in logprobs for lp in group]

    def advantages(self, batch: RewardBatch, outputs: dict):
        """Eq. 5-9 for the preset: sentence scores and token flags -> per-token advantages."""
        width = max(len(ids) for ids in batch.token_ids)
        mask = pad_rows([np.ones(len(ids)) for ids in batch.token_ids], width)
        specs = [s for s in self.specs if s.name in outputs]  # dropped groups sit this step out
        scores = {name: torch.as_tensor(out.scores, dtype=torch.float32) for name, out in outputs.items()}
        flags = {name: pad_rows(out.token_flags, width) for name, out in outputs.items() if out.token_flags is not None}
        credit = assign_credit(scores, flags, mask, specs, self.cfg.rollout.group_size, self.cfg.reward.alpha,
                               aggregation=self.cfg.reward.aggregation)
        return credit, mask

    def informative_first(self, batch: RewardBatch, outputs: dict) -> tuple[list[int], float]:
        """Sample indices of prompts_per_step groups, those whose sentence advantage is not all zero
        first (in sampling order), then the others to fill; and the sampled share of zero-std groups."""
        zero = self.advantages(batch, outputs)[0].zero_std_mask.tolist()
        keep = informative_groups_first(zero, self.cfg.trainer.prompts_per_step, self.cfg.rollout.group_size)
        return keep, float(sum(zero) / max(len(zero), 1))

    def learn(self, batch: RewardBatch, prompt_ids: list[list[int]], rollout_logprobs: list[list[float]],
              advantages: torch.Tensor, mask: torch.Tensor) -> dict:
        """ppo_epochs x mini_batches DeepSpeed steps, each mini-batch split evenly over the learner ranks.
        advantages, mask: [N, T] (T = the longest response), as credit assignment made them."""
        learners = self.actors.learners
        response_ids, _ = pad_tokens(batch.token_ids, pad_id(self.data.tokenizer))
        step = LearnerBatch(prompt_ids, response_ids, mask, advantages * mask, pad_rows(rollout_logprobs, mask.shape[1]),
                            self.cfg.rollout.temperature)
        shards = learner_shards(step, len(learners), self.cfg.learner.mini_batches)
        refs = [learner.train_step.remote(shard) for learner, shard in zip(learners, shards)]
        return combine_rank_stats(self._learner_results(refs))

    @staticmethod
    def _learner_results(refs: list) -> list:
        """ray.get over one call per learner rank, in rank order. A dead rank ends the run with one
        line naming it (ranks are not restarted): taken as they finish, so a rank blocked in a
        collective with the dead one is not waited on."""
        pending, results = {ref: rank for rank, ref in enumerate(refs)}, {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            rank = pending.pop(done[0])
            try:
                results[rank] = ray.get(done[0])
            except WORKER_DIED as err:
                raise lost(f"learner-rank{rank}", err) from None
        return [results[rank] for rank in range(len(refs))]

    def sync(self) -> dict:
        """Move the learner's new weights into every rollout engine (a few RPCs, bucketed tensors)."""
        self.version += 1
        return self.actors.weights.sync(self.version)

    def evaluate(self) -> tuple[dict, list[dict]]:
        return evaluate(self.cfg, self.actors, self.data, self.tokenized_prompt, self.version)

    # ---- checkpoints ----------------------------------------------------------------------
    def checkpoint(self, step: int, final: bool) -> None:
        """Write checkpoints/step_<step>. Too little disk skips a periodic checkpoint (training goes on)
        and fails the final one with one line."""
        t = time.perf_counter()
        state = {"step": step, "version": self.version,
                 "sampler": {"epoch": self.sampler.state.epoch, "position": self.sampler.state.position}}
        try:
            check_free_space(self.out_dir, self.checkpoint_nbytes)
        except CheckpointSpaceError as err:
            if final:
                raise
            log.warning("checkpoint step_%d skipped: %s", step, err)
            return
        save_checkpoint(self.out_dir, step, self.actors.learners, str(self.data.policy_path), state,
                        self.actors.rewards.state_dict())
        prune_checkpoints(self.out_dir / "checkpoints", self.cfg.trainer.keep_checkpoints,
                          self.cfg.trainer.keep_resume_states)
        log.info("checkpoint step_%d written in %.1f s", step, time.perf_counter() - t)

    def resume(self) -> int:
        found = latest_checkpoint(self.out_dir)
        if found is None:
            log.warning("resume=true but %s has no checkpoint; starting from step 0", self.out_dir / "checkpoints")
            return 0
        folder, state = found
        ray.get([learner.load_checkpoint.remote(str(folder)) for learner in self.actors.learners])
        self.actors.rewards.load_state_dict(load_reward_state(folder))
        self.sampler = PromptSampler(self.data.train, self.cfg.seed, SamplerState(**state["sampler"]))
        self.version = state["version"]
        # The rollout engines start from the initial weights: give them the checkpoint's, under the
        # checkpoint's version, so the versions go on as in a run that never stopped.
        self.actors.weights.sync(self.version)
        log.info("resumed from %s (step %d)", folder, state["step"])
        return int(state["step"])


def _joined(parts: list[RewardBatch], step: int) -> RewardBatch:
    """One batch of the parts' samples, in the parts' order."""
    return RewardBatch([r for p in parts for r in p.requests], [t for p in parts for t in p.texts],
                       [ids for p in parts for ids in p.token_ids], [s for p in parts for s in p.token_spans],
                       [ad for p in parts for ad in p.ads], step=step,
                       truncated=[t for p in parts for t in p.truncated])
