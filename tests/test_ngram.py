"""The high-frequency n-gram detector (eq. 4-5): document frequency, flags, the cross-step window."""

import random

import pytest

from relate_ray.rewards.ngram import (NgramWindow, count_and_flag, flag_tokens, high_frequency_ngrams,
                                     maximal_spans)


def random_sequences(n, length, seed=0):
    rng = random.Random(seed)
    return [[rng.randrange(1000, 50_000) for _ in range(length)] for _ in range(n)]


def test_planted_template_is_found_with_all_its_sub_ngrams():
    seqs = random_sequences(40, 30)
    for s in seqs[:10]:  # 25 % of sequences carry the template
        s[5:9] = [7, 8, 9, 10]
    found = high_frequency_ngrams(seqs, n_min=2, n_max=10, min_doc_freq=0.2)
    assert found == {(7, 8), (8, 9), (9, 10), (7, 8, 9), (8, 9, 10), (7, 8, 9, 10)}
    assert high_frequency_ngrams(seqs, min_doc_freq=0.3) == set()


def test_document_frequency_counts_a_sequence_once():
    # (1, 2) occurs 3 times in one sequence of 4: document frequency 0.25, not 0.75.
    seqs = [[1, 2, 1, 2, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert (1, 2) not in high_frequency_ngrams(seqs, 2, 2, min_doc_freq=0.5)
    assert (1, 2) in high_frequency_ngrams(seqs, 2, 2, min_doc_freq=0.25)


def test_ignored_tokens_break_ngrams():
    seqs = [[1, 2, 3], [1, 2, 4], [1, 2, 5]]
    ignore = [[True, False, False]] * 3
    assert high_frequency_ngrams(seqs, 2, 3, 0.5) == {(1, 2)}
    assert high_frequency_ngrams(seqs, 2, 3, 0.5, ignore=ignore) == set()


def test_flag_tokens_marks_every_token_inside_an_occurrence():
    assert flag_tokens([5, 7, 8, 9, 6, 7, 8], {(7, 8, 9), (6, 7)}) == [
        False, True, True, True, True, True, False]


def test_counts_are_maximal_spans_for_eq4():
    # Eq. 4 read as a sum over maximal high-frequency spans: touching or repeated occurrences with
    # no free token between them form one span; any uncovered token between them makes two.
    counts, flags = count_and_flag([[7, 8, 7, 8], [7, 8, 0, 7, 8], [1, 2], []], {(7, 8), (1, 2, 3)})
    assert counts.tolist() == [1, 2, 0, 0]
    assert flags.shape == (4, 5) and flags[1].tolist() == [True, True, False, True, True]
    assert not flags[2].any() and not flags[3].any()


def test_maximal_spans_counts_runs_of_flags():
    flags = [[1, 1, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1], [0] * 7, [1, 0, 1, 0, 1, 0, 1]]
    assert maximal_spans(flags).tolist() == [2, 1, 0, 4]


def test_a_planted_10_token_template_counts_once_per_occurrence():
    # Nested counting charged each occurrence for all 45 of its sub-grams (9 + 8 + ... + 1).
    template = list(range(1, 11))
    seqs = random_sequences(40, 40, seed=3)
    for s in seqs[:20]:
        s[5:15] = template
    seqs[0][25:35] = template  # a second, separate occurrence in sequence 0
    frequent = high_frequency_ngrams(seqs, n_min=2, n_max=10, min_doc_freq=0.2)
    assert tuple(template) in frequent and len(frequent) == 45
    counts, _ = count_and_flag(seqs, frequent)
    assert counts.tolist() == [2] + [1] * 19 + [0] * 20


def _reference_flags(seq, ngrams):
    """Brute force: True on every token inside any occurrence of any n-gram (the eq. 5 cover)."""
    flags = [False] * len(seq)
    for g in ngrams:
        for c in range(len(seq) - len(g) + 1):
            if tuple(seq[c:c + len(g)]) == g:
                flags[c:c + len(g)] = [True] * len(g)
    return flags


def test_flags_are_the_union_of_all_ngram_covers():
    # A small alphabet gives many overlapping, touching and nested matches of mixed lengths.
    rng = random.Random(4)
    seqs = [[rng.randrange(4) for _ in range(rng.randrange(0, 30))] for _ in range(50)]
    ngrams = {(0, 1), (1, 2, 3), (3, 3, 0, 1), (2, 2), (0, 1, 2, 3, 0)}
    counts, flags = count_and_flag(seqs, ngrams)
    for i, seq in enumerate(seqs):
        expected = _reference_flags(seq, ngrams)
        assert flags[i, : len(seq)].tolist() == expected
        assert not flags[i, len(seq):].any()  # padding is never flagged
        runs = sum(1 for t, f in enumerate(expected) if f and (t == 0 or not expected[t - 1]))
        assert counts[i] == runs


def test_exempt_tokens_are_unflagged_and_split_spans():
    seqs = [[7, 8, 9, 7, 8, 9], [7, 8, 9]]
    exempt = [[False, False, False, True, False, False], [False] * 3]
    counts, flags = count_and_flag(seqs, {(7, 8), (8, 9, 7)}, exempt=exempt)
    assert flags[0].tolist() == [True, True, True, False, True, False]  # 8-9-7 still matched
    assert counts.tolist() == [2, 1]


def test_window_penalizes_templates_across_steps():
    window = NgramWindow(past_steps=2)
    template = [3, 1, 4, 1, 5]
    old = random_sequences(10, 12, seed=1)
    for s in old:
        s[:5] = template
    window.push(old)
    # The new batch uses the template once in 10 sequences: rare within the batch alone,
    # frequent across the window (11 of 20).
    new = random_sequences(10, 12, seed=2)
    new[0][3:8] = template
    assert tuple(template) in window.high_frequency(new, min_doc_freq=0.5)
    assert tuple(template) not in high_frequency_ngrams(new, min_doc_freq=0.5)


def test_window_forgets_steps_older_than_k():
    """(1, 2) is in 5 documents two steps back and in the current one: 6 of 11 with both past steps
    remembered (frequent), 1 of 6 once the older step is forgotten (not)."""
    current = [[1, 2, 4]]
    for past_steps, frequent in ((1, False), (2, True)):
        window = NgramWindow(past_steps=past_steps)
        window.push([[1, 2, 3]] * 5)
        window.push([[9, 9, 8]] * 5)
        assert ((1, 2) in window.high_frequency(current, min_doc_freq=0.5)) is frequent, past_steps


def test_bad_lengths_are_rejected():
    with pytest.raises(ValueError, match="n_min <= n_max"):
        high_frequency_ngrams([[1, 2]], n_min=3, n_max=2)


def test_repeated_within_flags_later_occurrences_of_one_segment_only():
    from relate_ray.rewards.ngram import repeated_within

    # segment 0: 1 2 3 | segment 1: 1 2 3 9 1 2 3 (an echo of segment 0, then a duplicate)
    ids = [1, 2, 3, 1, 2, 3, 9, 1, 2, 3]
    segments = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    flags = repeated_within(ids, segments, None, 3)
    assert flags.tolist() == [False] * 7 + [True] * 3


def test_repeated_within_skips_ngrams_touching_ignored_tokens():
    from relate_ray.rewards.ngram import repeated_within

    ids = [5, 7, 8, 5, 7, 8]  # "30 days. 30 days." with 5 a number
    ignore = [True, False, False, True, False, False]
    assert not repeated_within(ids, [0] * 6, ignore, 3).any()
    assert repeated_within(ids, [0] * 6, ignore, 2).tolist() == [False] * 4 + [True] * 2
