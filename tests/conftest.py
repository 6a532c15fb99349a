"""Shared fixtures: a valid request row, and file writers for every supported format."""

from __future__ import annotations

import copy

import pytest


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
def policy_llm(policy_dir):
    """One vLLM engine for the whole session: engine start-up dominates on CPU (~40-80 s)."""
    from relate_ray.rollout.vllm_engine import build_llm

    llm = build_llm(policy_dir, max_model_len=1024)
    yield llm
    llm.llm_engine.engine_core.shutdown()
