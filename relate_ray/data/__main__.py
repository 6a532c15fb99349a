"""`python -m relate_ray.data`: validate a request file, or synthesize one.

    python -m relate_ray.data validate FILE [--max-shown 20]
    python -m relate_ray.data synth --n N --lang en|zh --seed S --out FILE

User errors end in one line on stderr and exit code 1 (2 for a wrong command line); never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from relate_ray.data.loading import ScanReport, scan_requests
from relate_ray.data.readers import DataFileError
from relate_ray.data.writers import WRITABLE_SUFFIXES, write_requests

log = logging.getLogger("relate_ray.data")


def _top(counter, k: int = 12) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common(k)) or "-"


def cmd_validate(args: argparse.Namespace) -> int:
    report = ScanReport(str(args.file), max_shown=args.max_shown)
    try:
        for _ in scan_requests(args.file, "skip", report):
            pass
    except DataFileError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    for line in report.shown:
        sys.stderr.write(line + "\n")
    if report.not_shown:
        sys.stderr.write(f"... and {report.not_shown} more bad rows\n")
    status = "OK" if report.bad == 0 else "INVALID"
    sys.stdout.write(
        f"{status} {args.file}: {report.rows} rows, {report.good} good, {report.bad} bad\n"
        f"  languages: {_top(report.languages)}\n"
        f"  categories ({len(report.categories)}): {_top(report.categories)}\n"
    )
    return 0 if report.bad == 0 else 1


def cmd_synth(args: argparse.Namespace) -> int:
    from relate_ray.data.synth import generate_requests

    if args.n < 1:
        sys.stderr.write(f"error: --n must be at least 1, got {args.n}\n")
        return 2
    if args.out.suffix.lower() not in WRITABLE_SUFFIXES:
        sys.stderr.write(f"error: --out {args.out}: use one of {', '.join(WRITABLE_SUFFIXES)}\n")
        return 2
    requests = generate_requests(args.n, args.lang, args.seed)
    try:
        count = write_requests(args.out, requests)
    except OSError as err:
        sys.stderr.write(f"error: --out {args.out}: {err.strerror or err}\n")
        return 1
    sys.stdout.write(f"wrote {count} {args.lang} requests (seed {args.seed}) to {args.out}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m relate_ray.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check a request file (JSONL, CSV, Parquet, datasets folder)")
    validate.add_argument("file", type=Path)
    validate.add_argument("--max-shown", type=int, default=20, help="bad rows printed before a count")
    validate.set_defaults(func=cmd_validate)
    synth = sub.add_parser("synth", help="generate synthetic search-ad requests")
    synth.add_argument("--n", type=int, required=True, help="number of requests")
    synth.add_argument("--lang", choices=("en", "zh"), default="en")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, required=True, help="output file: .jsonl, .csv or .parquet")
    synth.set_defaults(func=cmd_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
