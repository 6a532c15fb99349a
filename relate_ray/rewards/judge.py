"""LLM-as-judge (semantic quality): a written rubric, scored from the judge's token probabilities.

Pointwise: the judge reads the request and the ad and answers Yes or No to the rubric; the score is
P(Yes) / (P(Yes) + P(No)) from the first answer token's log-probs, never parsed free text.
Pairwise (Good/Same/Bad evaluation): the judge picks A or B; each pair is asked in both orders so
position bias cancels. The answer is begun for the judge ("The better ad is Ad"), so the next token
is the letter: an instruct model asked "Answer A or B" starts with "Based on..." (Qwen2.5-Coder-1.5B:
P(A) + P(B) 0.01 at the first token), and a letter read from a later token would be free text.
Runs on vLLM; the default judge is the bundled policy model, the opt-in one `qwen2.5-coder-1.5b-instruct`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from relate_ray.data.adformat import ParsedAd
from relate_ray.data.schema import AdRequest
from relate_ray.rewards.base import RewardBatch, RewardOutput
from relate_ray.rewards.registry import check_option, register_reward

RUBRIC = (
    "You review search ads. A good ad (1) is relevant to the search query and keyword, (2) states only "
    "facts found in the selling points, and (3) reads fluently and naturally."
)
_POINTWISE = (
    "{rubric}\n\nSearch query: {query}\nKeyword: {bidword}\nSelling points: {points}\n\n"
    "Ad title: {title}\nAd description: {description}\n\nIs this a good ad? Answer Yes or No."
)
_PAIRWISE = (
    "{rubric}\n\nSearch query: {query}\nKeyword: {bidword}\nSelling points: {points}\n\n"
    "Ad A: {title_a} | {description_a}\nAd B: {title_b} | {description_b}\n\n"
    "Which ad is better? Answer A or B."
)
_PAIRWISE_ANSWER = "The better ad is Ad"
_TOP_LOGPROBS = 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairVerdict:
    """p_first: probability the first ad is better, averaged over both presentation orders."""

    p_first: float
    label: str  # "good" (first better), "same", "bad"
    # The two orders disagree on which ad is better: the judge followed the position, not the ads.
    flipped: bool = False


def pair_verdict(p_first_as_a: float, p_first_as_b: float, same_margin: float = 0.1) -> PairVerdict:
    """Good/Same/Bad of the first ad from P(it is better) asked with it shown as A and as B.

    A verdict must survive the swap: one that flips with the order is position bias and counts as
    "same"; so does a mean within `same_margin` of 0.5."""
    p = 0.5 * (p_first_as_a + p_first_as_b)
    good = min(p_first_as_a, p_first_as_b) > 0.5 and p > 0.5 + same_margin
    bad = max(p_first_as_a, p_first_as_b) < 0.5 and p < 0.5 - same_margin
    flipped = (p_first_as_a > 0.5) != (p_first_as_b > 0.5)
    return PairVerdict(p, "good" if good else "bad" if bad else "same", flipped)


def _choice_probability(logprobs: dict, yes: Sequence[str], no: Sequence[str]) -> float | None:
    """P(yes) / (P(yes) + P(no)) over the top tokens of one position; None if neither appears
    (the judge did not answer the question: the caller counts it and reads it as 0.5)."""
    p_yes = p_no = 0.0
    for entry in logprobs.values():
        word = (entry.decoded_token or "").strip().lower()
        if word in yes:
            p_yes += math.exp(entry.logprob)
        elif word in no:
            p_no += math.exp(entry.logprob)
    return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None


def _answered(probabilities: list[float | None], what: str) -> list[float]:
    """The probabilities with an unanswered question read as 0.5, the share of those logged."""
    missing = sum(p is None for p in probabilities)
    if missing:
        log.warning("judge: %d of %d %s had neither answer among the top %d tokens; read as 0.5", missing,
                    len(probabilities), what, _TOP_LOGPROBS)
    return [0.5 if p is None else p for p in probabilities]


class Judge:
    """A judge over a running vLLM engine (`llm`) and its tokenizer."""

    def __init__(self, llm, tokenizer, same_margin: float = 0.1) -> None:
        self.llm, self.tokenizer, self.same_margin = llm, tokenizer, same_margin
        self.unanswered = 0.0  # the share of the last scored ads the judge did not answer

    def _prompt(self, content: str, answer_start: str = "") -> str:
        from relate_ray.data.prompts import chat_prompt

        return chat_prompt(self.tokenizer, [{"role": "user", "content": content}]) + answer_start

    def _first_token_logprobs(self, contents: list[str], answer_start: str = "") -> list[dict]:
        """The top log-probs of the judge's next token after each prompt (and the answer's start)."""
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=_TOP_LOGPROBS)
        outputs = self.llm.generate([self._prompt(c, answer_start) for c in contents], params, use_tqdm=False)
        return [o.outputs[0].logprobs[0] for o in outputs]

    def score(self, requests: Sequence[AdRequest], ads: Sequence[ParsedAd]) -> np.ndarray:
        """[N] P(good ad) in [0, 1] for each (request, ad)."""
        contents = [_POINTWISE.format(rubric=RUBRIC, query=r.query, bidword=r.bidword,
                                      points="; ".join(r.selling_points), title=a.title or "-",
                                      description=a.description or "-") for r, a in zip(requests, ads)]
        firsts = self._first_token_logprobs(contents)
        probabilities = [_choice_probability(lp, ("yes",), ("no",)) for lp in firsts]
        self.unanswered = sum(p is None for p in probabilities) / max(len(probabilities), 1)
        return np.array(_answered(probabilities, "ads"), dtype=np.float32)

    def compare(self, requests: Sequence[AdRequest], first: Sequence[ParsedAd],
                second: Sequence[ParsedAd]) -> list[PairVerdict]:
        """Good/Same/Bad of `first` against `second`, asking each pair in both orders."""
        contents = []
        for r, a, b in zip(requests, first, second):
            common = dict(rubric=RUBRIC, query=r.query, bidword=r.bidword, points="; ".join(r.selling_points))
            contents.append(_PAIRWISE.format(**common, title_a=a.title, description_a=a.description,
                                             title_b=b.title, description_b=b.description))
            contents.append(_PAIRWISE.format(**common, title_a=b.title, description_a=b.description,
                                             title_b=a.title, description_b=a.description))
        firsts = self._first_token_logprobs(contents, _PAIRWISE_ANSWER)
        # Even positions show the first ad as A, odd ones as B: P(first better) is P(A), then P(B).
        choices = [(("a",), ("b",)), (("b",), ("a",))]
        probabilities = _answered([_choice_probability(lp, *choices[k % 2]) for k, lp in enumerate(firsts)],
                                  "comparisons")
        return [pair_verdict(probabilities[k], probabilities[k + 1], self.same_margin)
                for k in range(0, len(probabilities), 2)]


@dataclass(frozen=True)
class JudgeOptions:
    # The judge model (a bundled name or a folder); empty: reward_workers.judge_model.
    model: str = ""
    # Model cache folder; empty: the run's cache_dir.
    cache_dir: str = ""
    # The judge engine's KV cache on CPU; 0: the run's rollout.kv_cache_gib.
    kv_cache_gib: int = 0
    max_model_len: int = 1024
    # The judge engine's share of its GPU; 0: reward_workers.judge_gpu_memory_utilization.
    gpu_memory_utilization: float = 0.0

    def __post_init__(self) -> None:
        check_option(self.kv_cache_gib >= 0, "kv_cache_gib", "must be >= 0", self.kv_cache_gib)
        check_option(0 <= self.gpu_memory_utilization <= 1, "gpu_memory_utilization", "must be in [0, 1]",
                     self.gpu_memory_utilization)


def _run_options(cfg, data) -> dict:
    return {"model": cfg.reward_workers.judge_model, "cache_dir": cfg.cache_dir or "",
            "kv_cache_gib": cfg.rollout.kv_cache_gib,
            "gpu_memory_utilization": cfg.reward_workers.judge_gpu_memory_utilization}


@register_reward("judge", options=JudgeOptions, group="judge", uses_gpu=True, run_options=_run_options)
class JudgeReward:
    """The judge as a reward component: 2 * P(good) - 1, in [-1, 1]."""

    def __init__(self, options: JudgeOptions | None = None, llm=None) -> None:
        """llm: an engine already built (tests share the policy's); None builds the judge's own."""
        from transformers import AutoTokenizer

        from relate_ray.assets import DEFAULT_POLICY, resolve_model

        options = options or JudgeOptions()
        path = resolve_model(options.model or DEFAULT_POLICY, options.cache_dir or None)
        if llm is None:
            from relate_ray.rollout.vllm_engine import build_llm

            llm = build_llm(path, kv_cache_gib=options.kv_cache_gib or 1, max_model_len=options.max_model_len,
                            gpu_memory_utilization=options.gpu_memory_utilization or 0.5)
        self.judge = Judge(llm, AutoTokenizer.from_pretrained(path))

    def __call__(self, batch: RewardBatch) -> RewardOutput:
        p_good = self.judge.score(batch.requests, batch.content_ads())
        return RewardOutput("judge", 2.0 * p_good - 1.0,
                            info={"p_good": float(p_good.mean()), "unanswered": self.judge.unanswered})
