"""Shared fixtures: a valid request row, and file writers for every supported format."""

from __future__ import annotations

import copy
import os

import pytest

# The suite runs two test files side by side (`make test`: two pytest workers), each starting runs
# whose actors all use every core. OpenMP's default makes a thread that waits at the end of a
# parallel region spin on its core first; with another job's threads on the same two cores, that
# spinning is taken from them. Measured (two tiny model3 runs at once, 8 steps each, 2-core Zen 4):
# step 5.3-6.0 s -> 2.4-2.7 s, 233 -> 176 CPU-seconds, losses identical. A run alone is slightly
# slower passive (the default run's step 30.7 -> 32.9 s), so a run sets it only in its reward
# workers (relate_ray/workers/reward_worker.py), which compute together; here everything waits
# passively. Set before torch loads; subprocesses and Ray's actors inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


GOOD_ROW = {
    "id": "r1",
    "query": "cheap flights to lisbon",
    "bidword": "lisbon flights",
    "selling_points": ["Fares from $59 one way", "Free 23 kg bag", "4.6/5 from 8,000 reviews"],
    "landing_page": "Fly to Lisbon from $59 one way with a free 23 kg bag. Rated 4.6/5 from 8,000 reviews.",
    "category": "travel",
    "lang": "en",
}


@pytest.fixture
def good_row() -> dict:
    return copy.deepcopy(GOOD_ROW)


@pytest.fixture(scope="session")
def policy_dir():
    """The bundled SmolLM2 policy as a Hugging Face folder (converted once into the cache)."""
    from relate_ray.assets import DEFAULT_POLICY, resolve_model

    return resolve_model(DEFAULT_POLICY)


@pytest.fixture(scope="session")
def tiny_policy_dir(policy_dir, tmp_path_factory):
    """A 6.6M-parameter Llama with random weights and SmolLM2's tokenizer, for the end-to-end runs:
    the same architecture through the same vLLM, DeepSpeed and sync paths as the real policy, at a
    twentieth of the disk per checkpoint (0.13 GB instead of 2.7 GB) and a fraction of the compute."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny_policy")
    config = AutoConfig.from_pretrained(policy_dir)
    config.update({"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 64})
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(folder)
    AutoTokenizer.from_pretrained(policy_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def policy_llm(policy_dir):
    """One vLLM engine for the whole session: engine start-up dominates on CPU (~40-80 s)."""
    from relate_ray.rollout.vllm_engine import build_llm

    llm = build_llm(policy_dir, max_model_len=1024)
    yield llm
    llm.llm_engine.engine_core.shutdown()


def pytest_collection_modifyitems(config, items):
    """Files with slow tests (real Ray, vLLM, DeepSpeed: up to minutes each) first, each file's tests
    kept together. `make test` runs two workers that take whole files from the front of this order
    (--dist loadfile --no-loadscope-reorder), so the long files start early and the short ones fill
    in at the end; by default xdist would order files by their number of tests and leave the few
    long end-to-end tests for last, one worker running them while the other waits."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
