"""The side-by-side bench's rollout batches: each timed batch new prompts, as a run's steps are."""

import pytest
import torch

from relate_ray.bench.side_by_side import PROMPTS, generated_tokens, rollout_batches


def test_each_rollout_batch_is_new_prompts():
    # Repeating a batch let vLLM serve its prompts from the prefix cache, a prefill transformers
    # still paid: the rollout ratio was inflated by it.
    prompts = [[i, i + 1, i + 2] for i in range(0, 300, 3)][:5 * PROMPTS]
    batches = rollout_batches(prompts, repeat=3)
    assert len(batches) == 4 and all(len(b) == PROMPTS for b in batches)
    seen = [tuple(p) for b in batches for p in b]
    assert len(set(seen)) == len(seen)
    assert [p for b in batches for p in b] == prompts[:4 * PROMPTS]


def test_too_few_prompts_for_the_batches_is_refused():
    with pytest.raises(ValueError, match="prompts for 4 batches"):
        rollout_batches([[1, 2]] * (4 * PROMPTS - 1), repeat=3)


def test_generated_tokens_count_up_to_the_first_end_token():
    # Rows generate padded with eos after finishing count their tokens up to and including it.
    assert generated_tokens(torch.tensor([[5, 6, 2, 2], [7, 8, 9, 10]]), eos_id=2) == 3 + 4
