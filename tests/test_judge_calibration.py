"""The opt-in judge tells a clearly better ad from a worse one (tests/data/judge_clear_pairs: 20
requests, each with a good ad and one that is off-topic, repetitive, garbled or invents facts),
through `python -m relate_ray.gsb`, in both orders. Skipped until `make judge` has downloaded it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relate_ray.assets import cache_dir
from relate_ray.carriers import JUDGE
from relate_ray.chunked_models import is_available

PAIRS = Path(__file__).parent / "data" / "judge_clear_pairs"


def _installed() -> bool:
    return is_available(JUDGE, cache_dir())


def _gsb(judge: str, out: Path) -> dict:
    # A process of its own, as a user runs it: an engine torn down in this process would take vLLM's
    # process-wide groups with it, and the session's shared engine (policy_llm) needs them.
    result = subprocess.run([sys.executable, "-m", "relate_ray.gsb", f"requests={PAIRS / 'requests.jsonl'}",
                             f"a={PAIRS / 'better.jsonl'}", f"b={PAIRS / 'worse.jsonl'}", f"judge={judge}", f"out={out}"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((out / "gsb.json").read_text())


@pytest.mark.slow
@pytest.mark.skipif(not _installed(), reason="the opt-in judge is not downloaded (make judge)")
def test_the_bundled_judge_prefers_the_clearly_better_ad_in_both_orders(tmp_path):
    # "good" needs P(A better) > 0.5 with A shown first and shown second, and a mean above 0.6: a
    # judge that answers by position (SmolLM2) or cannot read the ads scores near 0 here.
    # SmolLM2's figure on the same pairs (judge=small) is a measurement, not a check: the README
    # gives it and its command; running it here cost ~40 s of every suite that has the judge.
    bundled = _gsb("bundled", tmp_path / "bundled")
    print(f"\nclear pairs, good : same : bad (flip rate): {bundled['good']} : {bundled['same']} : "
          f"{bundled['bad']} ({bundled['flip_rate']:.2f})")
    assert bundled["pairs"] == 20
    assert bundled["good"] / bundled["pairs"] >= 0.9
    assert bundled["bad"] == 0
