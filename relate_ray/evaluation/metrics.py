"""The paper's offline metrics as pure functions over ads and per-request scores.

eq. 10 (relative CTCVR lift) with a paired bootstrap interval over requests, eq. 11's compliance
rate, eq. 12's diversity on a
[0, 1] scale, the usual lexical diversity measures beside it (distinct-n, self-BLEU), and the
Good/Same/Bad tally. Arrays in, numbers out; nothing here loads a model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str, lang: str) -> list[str]:
    """Tokens for the lexical measures: lowercased words (en), characters without spaces (zh)."""
    if lang == "zh":
        return [c for c in text if not c.isspace()]
    return _EN_WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int, lang: str = "en") -> float:
    """Distinct-n (Li et al. 2016): distinct n-grams / all n-grams over the whole set, in [0, 1].
    0 for a set without any n-gram."""
    grams = [g for t in texts for g in ngrams(words(t, lang), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al. 2002) of one token list against several, with clipped counts,
    the brevity penalty on the closest reference length and +1 smoothing of the orders above 1
    (Lin and Och 2004), so one missing 4-gram does not zero a sentence."""
    if not hypothesis or not references:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        hyp = Counter(ngrams(hypothesis, n))
        total = sum(hyp.values())
        best: Counter = Counter()
        for ref in references:
            best |= Counter(ngrams(ref, n))  # | keeps the max count of each n-gram over the references
        matched = sum(min(count, best[g]) for g, count in hyp.items())
        if n == 1:
            if matched == 0:
                return 0.0
            log_precision += math.log(matched / total)
        else:
            log_precision += math.log((matched + 1) / (total + 1))
    closest = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    brevity = 1.0 if len(hypothesis) >= closest else math.exp(1 - closest / len(hypothesis))
    return brevity * math.exp(log_precision / max_n)


def self_bleu(texts: Sequence[str], lang: str = "en", max_n: int = 4) -> float:
    """Self-BLEU (Zhu et al. 2018): mean BLEU of each text against all the others, in [0, 1]; higher
    means more alike. 0 for fewer than two texts."""
    tokens = [words(t, lang) for t in texts]
    if len(tokens) < 2:
        return 0.0
    scores = [bleu(tokens[i], tokens[:i] + tokens[i + 1:], max_n) for i in range(len(tokens))]
    return float(np.mean(scores))


def compliance_rate(approved: Sequence[bool]) -> float:
    """Eq. 11: the share of ads the platform's review approves, (1/N) sum_i I(y_i in Y_safe).
    0 for no ads."""
    return float(np.mean([bool(a) for a in approved])) if len(approved) else 0.0


def diversity_unit(scores: np.ndarray, max_penalty: float = 1.0) -> float:
    """Eq. 12 on [0, 1]: the mean diversity reward (1/N) sum_i r_div_i, as 1 + mean(r_div) / max_penalty. r_div (eq. 4) lies in [-max_penalty, 0], so 1
    means no ad holds a high-frequency template and 0 means every ad pays the full penalty."""
    return float(1.0 + np.mean(scores) / max_penalty) if len(scores) else 0.0


def unit_score(scores: np.ndarray) -> np.ndarray:
    """A reward in [-1, 1] mapped onto [0, 1] ((s + 1) / 2, clipped): Table 3's quality scales."""
    return np.clip((np.asarray(scores, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


def delta_ctcvr(policy: np.ndarray, baseline: np.ndarray) -> float:
    """Eq. 10: (CTCVR_experiment - CTCVR_baseline) / CTCVR_baseline over the same requests, each
    side's CTCVR the mean over its ads. nan when the baseline's is 0."""
    base = float(np.mean(baseline))
    return (float(np.mean(policy)) - base) / base if base > 0 else float("nan")


def paired_bootstrap_ci(policy: np.ndarray, baseline: np.ndarray, level: float = 0.95,
                        samples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of eq. 10 from resampling requests with replacement, both policies'
    ads of a request together (paired: the request's own base rate cancels).

    policy, baseline: [N] per-request CTCVR of the two policies on the same N requests.
    """
    policy, baseline = np.asarray(policy, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if policy.shape != baseline.shape or policy.ndim != 1 or len(policy) == 0:
        raise ValueError(f"need two [N] arrays over the same requests, got {policy.shape} and {baseline.shape}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(policy), size=(samples, len(policy)))
    base = baseline[index].mean(axis=1)
    lifts = (policy[index].mean(axis=1) - base) / np.where(base > 0, base, np.nan)
    lifts = lifts[np.isfinite(lifts)]
    if not len(lifts):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(lifts, [tail, 100.0 - tail])
    return float(low), float(high)


def gsb_counts(labels: Sequence[str]) -> dict[str, int]:
    """{"good", "same", "bad"} counts of pairwise verdicts (the policy's ad first)."""
    counts = Counter(labels)
    unknown = set(counts) - {"good", "same", "bad"}
    if unknown:
        raise ValueError(f"unknown verdicts {sorted(unknown)}; expected good, same or bad")
    return {k: int(counts.get(k, 0)) for k in ("good", "same", "bad")}


def gsb_summary(labels: Sequence[str], flipped: Sequence[bool]) -> dict:
    """GSB counts and `flip_rate`: the share of pairs whose verdict changed with the order of the
    two ads (the judge's position bias; such a verdict counts as same)."""
    if len(labels) != len(flipped):
        raise ValueError(f"{len(labels)} verdicts for {len(flipped)} flip flags")
    return {**gsb_counts(labels), "flip_rate": sum(map(bool, flipped)) / len(labels) if labels else None}
