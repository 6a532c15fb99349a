"""`python -m relate_ray.bench WHAT`: speed figures for the README and issue notes.

    python -m relate_ray.bench ngram [--responses 512 --tokens 64 --repeat 5]

Benchmarks run here, never in timed tests (shared machines are noisy). Each prints the median of
`--repeat` runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time


def bench_ngram(args: argparse.Namespace) -> dict:
    from relate_ray.rewards.ngram import count_and_flag, high_frequency_ngrams

    rng = random.Random(0)
    sequences = [[rng.randrange(100, 49_000) for _ in range(args.tokens)] for _ in range(args.responses)]
    for seq in sequences[::4]:  # a planted template in a quarter of the responses
        start = rng.randrange(0, args.tokens - 6)
        seq[start : start + 6] = [11, 12, 13, 14, 15, 16]
    detect, flag = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        found = high_frequency_ngrams(sequences, 2, 10, min_doc_freq=0.2)
        t1 = time.perf_counter()
        count_and_flag(sequences, found)
        t2 = time.perf_counter()
        detect.append(t1 - t0)
        flag.append(t2 - t1)
    return {"responses": args.responses, "tokens": args.tokens, "ngrams_found": len(found),
            "detect_s": round(statistics.median(detect), 4), "flag_s": round(statistics.median(flag), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relate_ray.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ngram = sub.add_parser("ngram", help="high-frequency n-gram detection and token flagging")
    ngram.add_argument("--responses", type=int, default=512)
    ngram.add_argument("--tokens", type=int, default=64)
    ngram.add_argument("--repeat", type=int, default=5)
    ngram.set_defaults(func=bench_ngram)
    args = parser.parse_args(argv)
    result = args.func(args)
    sys.stdout.write(" ".join(f"{k}={v}" for k, v in result.items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
