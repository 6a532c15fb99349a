"""RewardPool against real Ray reward workers (the rules and the diversity scorer): how a batch is
split and merged back, timeouts, retries and drops, a component bug, and a member killed by its pid."""

import logging
import os
import signal
import time

import numpy as np
import pytest

from relate_ray.data.adformat import render_ad
from relate_ray.data.schema import AdRequest
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.structural import LengthReward

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, namespace="test_reward_pool", log_to_driver=False)
    yield ray
    ray.shutdown()


def batch_of(good_row, n: int, step: int | None = None) -> RewardBatch:
    """n answers of growing length (so every sample has its own length score), token ids included."""
    request = AdRequest.from_dict(good_row)
    texts = [render_ad("Lisbon " + "x" * (3 * i), "Fly from $59 " + "y" * (7 * i)) for i in range(n)]
    token_ids = [[10 + (i * 7 + t) % 50 for t in range(12 + i)] for i in range(n)]
    spans = [[(t, t + 1) for t in range(len(ids))] for ids in token_ids]
    return RewardBatch([request] * n, texts, token_ids, spans, step=step)


def rules_group(ray, members: int, options: dict | None = None, name: str = "rules"):
    from relate_ray.trainer.reward_pool import RewardGroup
    from relate_ray.workers.reward_worker import RewardWorker

    components = {"length": options or {}, "format": {}}
    workers = [RewardWorker.options(max_restarts=1, max_task_retries=0).remote(components, 1) for _ in range(members)]
    ray.get([w.ready.remote() for w in workers])
    return RewardGroup(name, workers, names=[f"reward-{name}-{i}" for i in range(members)])


def diversity_group(ray):
    from relate_ray.trainer.reward_pool import RewardGroup
    from relate_ray.workers.reward_worker import RewardWorker

    worker = RewardWorker.options(max_restarts=1, max_task_retries=0).remote(
        {"diversity": {"group_size": 2, "min_docs": 2, "window_steps": 4}}, 1)
    ray.get(worker.ready.remote())
    return RewardGroup("diversity", [worker], stateful=True, names=["reward-diversity"])


def kill(ray, worker) -> int:
    pid = ray.get(worker.ready.remote())["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_split_batch_merges_back_in_sample_order(ray_local, good_row):
    from relate_ray.trainer.reward_pool import RewardPool

    batch = batch_of(good_row, 7)
    pool = RewardPool([rules_group(ray_local, 3)], timeout_s=60, retries=0, on_failure="fail")
    outputs, dropped = pool.score(batch)
    assert dropped == [] and set(outputs) == {"length", "format"}
    expected = LengthReward()(batch).scores
    assert len(set(expected.tolist())) > 3  # the order is visible in the scores
    np.testing.assert_array_equal(outputs["length"].scores, expected)


def test_groups_fed_as_they_finish_merge_back_in_batch_order(ray_local, good_row):
    # Streamed scoring: groups arrive in the order they finish sampling, not the batch's order; the
    # stateless members score each one as it comes, the stateful diversity scorer the whole batch.
    from relate_ray.rewards.registry import build_reward
    from relate_ray.trainer.reward_pool import RewardPool

    batch = batch_of(good_row, 8)
    pool = RewardPool([rules_group(ray_local, 2), diversity_group(ray_local)], timeout_s=60, retries=0,
                      on_failure="fail")
    scoring = pool.step_scoring(None, group_size=2)
    for positions in ([3, 1], [0], [2]):  # prompts' groups of two, finishing out of order, some together
        indices = [2 * p + k for p in positions for k in range(2)]
        scoring.feed_groups(positions, batch.select(indices))
    outputs, dropped = scoring.finish(batch)
    assert dropped == [] and set(outputs) == {"length", "format", "diversity"}
    np.testing.assert_array_equal(outputs["length"].scores, LengthReward()(batch).scores)
    whole = build_reward("diversity", group_size=2, min_docs=2, window_steps=4)(batch)
    np.testing.assert_array_equal(outputs["diversity"].scores, whole.scores)


def test_a_slow_group_is_retried_then_dropped_or_fails_by_policy(ray_local, good_row, caplog):
    from relate_ray.trainer.reward_pool import RewardFailure, RewardPool

    batch = batch_of(good_row, 2000)  # scoring and shipping 2,000 answers takes far more than 1 ms
    group = rules_group(ray_local, 2)
    with caplog.at_level(logging.WARNING, logger="relate_ray.trainer.reward_pool"):
        outputs, dropped = RewardPool([group], timeout_s=0.001, retries=1, on_failure="drop").score(batch)
    assert dropped == ["rules"] and outputs == {}
    assert sum("attempt" in r.message for r in caplog.records) == 2  # the first try and one retry
    with pytest.raises(RewardFailure, match="failed after 3 attempts"):
        RewardPool([group], timeout_s=0.001, retries=2, on_failure="fail").score(batch)


def test_a_component_bug_fails_at_once_with_its_message(ray_local, good_row, caplog):
    from relate_ray.trainer.reward_pool import RewardFailure, RewardPool

    # A request in a language the length reward has no intervals for: KeyError inside the worker.
    batch = batch_of(good_row, 4)
    batch.requests = [r.replace(lang="fr") for r in batch.requests]
    pool = RewardPool([rules_group(ray_local, 2)], timeout_s=60, retries=3, on_failure="drop")
    with caplog.at_level(logging.WARNING, logger="relate_ray.trainer.reward_pool"):
        with pytest.raises(RewardFailure, match=r"reward group 'rules' \(reward-rules-0\): KeyError"):
            pool.score(batch)
    assert not [r for r in caplog.records if "attempt" in r.message]  # not retried, not dropped


def test_a_killed_member_is_restarted_and_redoes_its_share(ray_local, good_row):
    from relate_ray.trainer.recovery import Restarts
    from relate_ray.trainer.reward_pool import RewardPool

    batch = batch_of(good_row, 6)
    group = rules_group(ray_local, 2)
    restarts = Restarts(max_restarts=1, timeout_s=120)
    pool = RewardPool([group], timeout_s=60, retries=0, on_failure="fail", restarts=restarts)
    old = kill(ray_local, group.workers[1])
    outputs, dropped = pool.score(batch)
    assert dropped == []
    np.testing.assert_array_equal(outputs["length"].scores, LengthReward()(batch).scores)
    assert ray_local.get(group.workers[1].ready.remote())["pid"] != old
    assert restarts.step_metrics() == {"faults/restarts": 1, "faults/restarts_total": 1}


def test_a_restarted_diversity_worker_gets_its_window_back_and_remembers_each_step_once(ray_local, good_row):
    from relate_ray.trainer.recovery import Restarts
    from relate_ray.trainer.reward_pool import RewardPool

    def run(kill_at: set[int]):
        group = diversity_group(ray_local)
        restarts = Restarts(max_restarts=1, timeout_s=120)
        pool = RewardPool([group], timeout_s=60, retries=0, on_failure="fail", restarts=restarts)
        scores = []
        for step in (1, 2, 3):
            if step in kill_at:
                kill(ray_local, group.workers[0])
                time.sleep(0.5)  # let Ray notice, so the next call meets the restarted process or its death
            scoring = pool.step_scoring(step)
            outputs, _ = scoring.finish(batch_of(good_row, 4, step=step))
            scoring.commit()
            scores.append(outputs["diversity"].scores.tolist())
        return scores, pool.state_dict(), restarts.step_metrics()["faults/restarts_total"]

    straight_scores, straight_state, none = run(set())
    killed_scores, killed_state, one = run({3})
    assert none == 0 and one == 1
    # The same batches came back every step, so step 3 flags what steps 1-2 taught the window.
    assert any(s < 0 for s in straight_scores[2])
    assert killed_scores == straight_scores
    assert killed_state == straight_state
    assert len(straight_state["diversity"]["steps"]) == 3  # three steps remembered, each once


def test_commit_remembers_the_stateful_groups_step_unless_it_was_dropped(ray_local, good_row):
    from relate_ray.trainer.reward_pool import RewardPool

    pool = RewardPool([rules_group(ray_local, 1), diversity_group(ray_local)], timeout_s=60, retries=0,
                      on_failure="fail")
    scoring = pool.step_scoring(1)
    with pytest.raises(RuntimeError, match="commit before finish"):
        scoring.commit()
    scoring.finish(batch_of(good_row, 4, step=1))
    assert pool.state_dict()["diversity"]["steps"] == []  # scored, pending until committed
    scoring.commit()
    once = pool.state_dict()
    assert len(once["diversity"]["steps"]) == 1
    scoring.commit()  # a repeated commit remembers nothing
    second = batch_of(good_row, 4, step=2)
    pool.score(second)
    pool.commit(2, second, skip=["diversity"])  # a dropped group does not remember the step
    assert pool.state_dict() == once
