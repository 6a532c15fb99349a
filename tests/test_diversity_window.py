"""Diversity reward: bounded sentence scale (eq. 4 over maximal spans) and an explicit, idempotent
commit of each step into the n-gram window, so retried or unaccepted calls are not remembered."""

import random

import pytest

from relate_ray.data.schema import AdRequest
from relate_ray.rewards.base import RewardBatch
from relate_ray.rewards.token_level import DiversityOptions, DiversityReward

TEMPLATE = list(range(1, 11))  # 10 tokens: 45 nested sub-grams under the old counting


def token_batch(request, token_ids, step=None):
    """A RewardBatch of raw token ids: one character per token and no 'Title:' keys, so no token is
    exempt and the n-gram logic is tested without a tokenizer."""
    texts = ["x" * len(ids) for ids in token_ids]
    spans = [[(t, t + 1) for t in range(len(ids))] for ids in token_ids]
    return RewardBatch([request] * len(token_ids), texts, [list(i) for i in token_ids], spans, step=step)


def random_ids(n, length, seed):
    rng = random.Random(seed)
    return [[rng.randrange(1000, 50_000) for _ in range(length)] for _ in range(n)]


def templated(n=10, seed=0):
    """n sequences of 30 tokens, each with TEMPLATE at positions 5..14."""
    ids = random_ids(n, 30, seed)
    for s in ids:
        s[5:15] = TEMPLATE
    return ids


@pytest.fixture
def request_(good_row):
    return AdRequest.from_dict(good_row)


def steps(reward):
    return reward.state_dict()["steps"]


def test_a_long_template_costs_one_delta_d_and_the_score_is_bounded(request_):
    ids = templated()
    # Sequence 0 carries the template 6 times, each separated by a fresh token: 6 spans.
    ids[0] = [t for k in range(6) for t in (*TEMPLATE, 60_000 + k)]
    out = DiversityReward()(token_batch(request_, ids))
    # Nested counting gave -0.05 * 45 = -2.25 for one occurrence, far below -1.
    assert out.scores[1:].tolist() == pytest.approx([-0.25] * 9)
    assert out.scores[0] == pytest.approx(-1.0)  # 6 * 0.25 capped at max_penalty 1.0
    assert (out.scores >= -1.0).all()
    assert out.token_flags[1][5:15].all() and not out.token_flags[1][:5].any()
    two = DiversityReward()(token_batch(request_, [ids[0][:22]] + ids[1:]))
    assert two.scores[0] == pytest.approx(-0.5)  # two separate occurrences count 2


def test_scoring_a_step_leaves_the_window_untouched(request_):
    reward = DiversityReward(DiversityOptions(window_steps=2))
    reward(token_batch(request_, templated(), step=1))
    assert steps(reward) == []
    # Uncommitted, step 1 is not judged against: the template is rare within step 2 alone.
    fresh = random_ids(10, 30, seed=1)
    fresh[0][5:15] = TEMPLATE
    assert (reward(token_batch(request_, fresh, step=2)).scores == 0).all()


def test_a_committed_step_is_judged_against_in_the_next(request_):
    reward = DiversityReward(DiversityOptions(window_steps=2))
    reward(token_batch(request_, templated(), step=1))
    assert reward.commit(1) is True
    fresh = random_ids(10, 30, seed=1)
    fresh[0][5:15] = TEMPLATE
    scores = reward(token_batch(request_, fresh, step=2)).scores
    assert scores[0] == pytest.approx(-0.25) and (scores[1:] == 0).all()


def test_scoring_a_step_twice_then_committing_remembers_it_once(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    ids = templated()
    first = reward(token_batch(request_, ids, step=3))
    retried = reward(token_batch(request_, ids, step=3))  # the pool's retry on the same actor
    assert retried.scores.tolist() == first.scores.tolist()  # scoring has no side effect
    assert reward.commit(3) is True
    assert reward.commit(3) is False  # a second commit does nothing
    assert len(steps(reward)) == 1
    assert steps(reward)[0] == [ids, [[False] * 30] * 10]


def test_rescoring_a_step_replaces_its_pending_documents(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    reward(token_batch(request_, templated(seed=0), step=3))
    later = templated(seed=5)
    reward(token_batch(request_, later, step=3))
    reward.commit(3)
    assert [seqs for seqs, _ in steps(reward)] == [later]


def test_commit_of_an_unknown_step_is_a_no_op(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    assert reward.commit(9) is False and steps(reward) == []
    reward(token_batch(request_, templated(), step=1))
    reward.commit(1)
    before = steps(reward)
    assert reward.commit(2) is False and steps(reward) == before


def test_a_committed_step_scored_again_is_not_remembered_again(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    reward(token_batch(request_, templated(), step=1))
    reward.commit(1)
    reward(token_batch(request_, templated(), step=1))
    assert reward.commit(1) is False and len(steps(reward)) == 1


def test_uncommitted_steps_do_not_pile_up(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    for step in range(10):
        reward(token_batch(request_, random_ids(3, 8, seed=step), step=step))
    assert reward.commit(0) is False  # forgotten: more than max_pending newer steps are pending
    assert reward.commit(9) is True and len(steps(reward)) == 1


def test_without_a_step_a_call_is_remembered_at_once(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    ids = templated()
    reward(token_batch(request_, ids))
    assert [seqs for seqs, _ in steps(reward)] == [ids]


def test_pending_steps_are_not_checkpointed_nor_kept_over_a_load(request_):
    reward = DiversityReward(DiversityOptions(window_steps=4))
    reward(token_batch(request_, templated(), step=1))
    reward.commit(1)
    state = reward.state_dict()
    reward(token_batch(request_, templated(seed=2), step=2))
    assert reward.state_dict() == state  # pending step 2 is not part of the checkpoint
    reward.load_state_dict(state)
    assert reward.commit(2) is False and reward.state_dict() == state


def test_split_batches_keep_their_step(request_):
    # The reward pool sends each worker batch.select(its samples): the step must survive it.
    batch = token_batch(request_, random_ids(4, 5, seed=0), step=11)
    assert batch.select([3, 1]).step == 11
