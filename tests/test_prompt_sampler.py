"""PromptSampler: every request once per epoch, a fresh seeded order each epoch, and a saved state
that continues exactly where the run stopped."""

import pytest

from relate_ray.data.schema import AdRequest
from relate_ray.trainer.sampler import PromptSampler, SamplerState


def requests(n: int) -> list[AdRequest]:
    return [AdRequest(id=f"r{i}", query="q", bidword="b", selling_points=["p"], category="travel", lang="en")
            for i in range(n)]


def ids(batch) -> list[str]:
    return [r.id for r in batch]


def test_each_epoch_is_a_permutation_in_a_new_order():
    sampler = PromptSampler(requests(7), seed=3)
    first, second = ids(sampler.next_batch(7)), ids(sampler.next_batch(7))
    assert sorted(first) == sorted(second) == sorted(ids(requests(7)))
    assert first != second
    assert sampler.state == SamplerState(epoch=1, position=7)


def test_a_batch_crossing_an_epoch_ends_one_epoch_before_starting_the_next():
    sampler = PromptSampler(requests(5), seed=0)
    epoch0 = ids(sampler.next_batch(3))
    crossing = ids(sampler.next_batch(4))
    assert sorted(epoch0 + crossing[:2]) == sorted(ids(requests(5)))  # epoch 0 is finished first
    assert crossing[2:] == ids(PromptSampler(requests(5), seed=0, state=SamplerState(1, 0)).next_batch(2))


def test_a_sampler_rebuilt_from_its_state_continues_the_same_sequence():
    straight = PromptSampler(requests(6), seed=1)
    interrupted = PromptSampler(requests(6), seed=1)
    expected = [ids(straight.next_batch(4)) for _ in range(4)]
    got = [ids(interrupted.next_batch(4))]
    state = SamplerState(**vars(interrupted.state))  # as a checkpoint stores it
    resumed = PromptSampler(requests(6), seed=1, state=state)
    got += [ids(resumed.next_batch(4)) for _ in range(3)]
    assert got == expected


def test_seeds_give_different_orders_and_no_requests_is_an_error():
    assert ids(PromptSampler(requests(8), 0).next_batch(8)) != ids(PromptSampler(requests(8), 1).next_batch(8))
    with pytest.raises(ValueError, match="no training requests"):
        PromptSampler([], 0)
