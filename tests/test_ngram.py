"""The high-frequency n-gram detector (eq. 4-5): document frequency, flags, the cross-step window."""

import random

import pytest

from relate_ray.rewards.ngram import NgramWindow, count_and_flag, flag_tokens, high_frequency_ngrams


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


def test_counts_are_occurrences_for_eq4():
    counts, flags = count_and_flag([[7, 8, 7, 8], [1, 2], []], {(7, 8), (1, 2, 3)})
    assert counts.tolist() == [2, 0, 0]
    assert flags.shape == (3, 4) and not flags[2].any()


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
    window = NgramWindow(past_steps=1)
    window.push([[1, 2, 3]] * 5)
    window.push([[9, 9, 8]] * 5)
    assert (1, 2) not in window.high_frequency([[4, 5, 6]], min_doc_freq=0.5)


def test_bad_lengths_are_rejected():
    with pytest.raises(ValueError, match="n_min <= n_max"):
        high_frequency_ngrams([[1, 2]], n_min=3, n_max=2)
