"""`python -m relate_ray.gsb requests=REQ.jsonl a=A.jsonl b=B.jsonl [judge=small|bundled|DIR] out=DIR`

Good/Same/Bad of two ad sets that no run has to have produced (production ads against generated
ones, two checkpoints' outputs): for every ad of A, the judge compares it with B's ad for the same
request, asked in both orders (`relate_ray.rewards.judge.Judge.compare`, the code `evaluate` uses).
A and B are JSON lines with `id` (a request's id), `title` and `description`, one ad per request;
the requests are in the data schema (any format `relate_ray.data` reads). Writes DIR/gsb.json
(good: A better, same, bad, flip_rate: the share of pairs whose verdict changes with the order, the
judge) and DIR/gsb_verdicts.jsonl (one row per request). Bad input is one line naming the file and
its line, exit 2, before any model loads.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from relate_ray.data.adformat import ParsedAd
from relate_ray.data.readers import DataFileError
from relate_ray.data.schema import AdRequest
from relate_ray.evaluation.metrics import gsb_summary

log = logging.getLogger("relate_ray.gsb")
# judge= names: the bundled policy model (SmolLM2-135M, blind as a judge: it cannot tell a clearly
# better ad from a worse one) and the opt-in Qwen2.5-Coder-1.5B-Instruct (`make judge`).
SMALL_JUDGE = "small"
BUNDLED_JUDGE = "bundled"


class GsbInputError(ValueError):
    """Bad input to the GSB command; its message is the one line the user sees."""


@dataclass(frozen=True)
class GsbArgs:
    requests: Path
    a: Path
    b: Path
    out: Path
    judge: str = SMALL_JUDGE
    same_margin: float = 0.1
    dtype: str = "auto"


def parse_args(argv: list[str]) -> GsbArgs:
    """key=value arguments; requests=, a=, b= and out= are required."""
    known = {"requests", "a", "b", "out", "judge", "same_margin", "dtype"}
    given: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in known:
            raise GsbInputError(f"{arg}: expected key=value with key one of {', '.join(sorted(known))}")
        given[key] = value
    missing = [k for k in ("requests", "a", "b", "out") if not given.get(k)]
    if missing:
        raise GsbInputError(f"{missing[0]}: required (requests=REQ.jsonl a=A.jsonl b=B.jsonl out=DIR)")
    try:
        margin = float(given.get("same_margin", 0.1))
    except ValueError:
        raise GsbInputError(f"same_margin: must be a number, got {given['same_margin']!r}") from None
    if not 0.0 <= margin < 0.5:
        raise GsbInputError(f"same_margin: must be in [0, 0.5), got {margin}")
    return GsbArgs(Path(given["requests"]), Path(given["a"]), Path(given["b"]), Path(given["out"]),
                   given.get("judge", SMALL_JUDGE), margin, given.get("dtype", "auto"))


def read_ads(path: Path, request_ids: set[str]) -> dict[str, ParsedAd]:
    """{request id: its ad} from a JSON-lines file of {id, title, description}; raises GsbInputError
    naming FILE:LINE for a malformed row, an unknown or repeated id."""
    if not path.is_file():
        raise GsbInputError(f"{path}: no such file")
    ads: dict[str, ParsedAd] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise GsbInputError(f"{where}: not a JSON object ({err.msg})") from None
            if not isinstance(row, dict):
                raise GsbInputError(f"{where}: not a JSON object")
            for key in ("id", "title", "description"):
                if not isinstance(row.get(key), str) or not row[key].strip():
                    raise GsbInputError(f"{where}: '{key}' must be a non-empty string")
            if row["id"] not in request_ids:
                raise GsbInputError(f"{where}: id {row['id']!r} has no request in the requests file")
            if row["id"] in ads:
                raise GsbInputError(f"{where}: id {row['id']!r} again (one ad per request)")
            ads[row["id"]] = ParsedAd(row["title"].strip(), row["description"].strip(), ok=True)
    if not ads:
        raise GsbInputError(f"{path}: no ads")
    return ads


def paired(args: GsbArgs) -> tuple[list[AdRequest], list[ParsedAd], list[ParsedAd]]:
    """The requests A answers, with A's and B's ads in the same order; B must answer each of them."""
    from relate_ray.data.loading import load_requests

    if not args.requests.is_file():
        raise GsbInputError(f"{args.requests}: no such file")
    try:
        requests, _ = load_requests(args.requests, "stop")
    except DataFileError as err:
        raise GsbInputError(str(err)) from None
    by_id = {r.id: r for r in requests}
    a, b = read_ads(args.a, set(by_id)), read_ads(args.b, set(by_id))
    missing = [i for i in a if i not in b]
    if missing:
        raise GsbInputError(f"{args.b}: no ad for request {missing[0]!r}, which {args.a} answers "
                            f"({len(missing)} such)")
    ids = list(a)
    if len(b) > len(ids):
        log.info("%s: %d ads for requests %s does not answer are not compared", args.b, len(b) - len(ids), args.a)
    return [by_id[i] for i in ids], [a[i] for i in ids], [b[i] for i in ids]


def judge_path(name: str) -> Path:
    """The judge's folder: small, bundled (converted on first use once `make judge` downloaded it), a
    built-in model name or a Hugging Face folder. Raises ModelNotFoundError in one line."""
    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.carriers import JUDGE

    return Path(resolve_model({SMALL_JUDGE: DEFAULT_POLICY, BUNDLED_JUDGE: JUDGE.name}.get(name, name)))


def run(args: GsbArgs, requests: list[AdRequest], first: list[ParsedAd], second: list[ParsedAd],
        path: Path) -> dict:
    """Judge every pair in both orders with the judge at `path`; write gsb.json and
    gsb_verdicts.jsonl; returns gsb.json's content."""
    from transformers import AutoTokenizer

    from relate_ray.rewards.judge import Judge
    from relate_ray.rollout.vllm_engine import build_llm

    args.out.mkdir(parents=True, exist_ok=True)
    judge = Judge(build_llm(path, dtype=args.dtype, max_model_len=1024), AutoTokenizer.from_pretrained(path),
                  same_margin=args.same_margin)
    verdicts = judge.compare(requests, first, second)
    summary = {**gsb_summary([v.label for v in verdicts], [v.flipped for v in verdicts]),
               "pairs": len(verdicts), "judge": args.judge, "judge_path": str(path), "same_margin": args.same_margin,
               "a": str(args.a), "b": str(args.b), "requests": str(args.requests)}
    (args.out / "gsb.json").write_text(json.dumps(summary, indent=2) + "\n")
    with open(args.out / "gsb_verdicts.jsonl", "w", encoding="utf-8") as handle:
        for request, verdict in zip(requests, verdicts):
            handle.write(json.dumps({"id": request.id, "label": verdict.label, "p_a_better": verdict.p_first,
                                     "flipped": verdict.flipped}) + "\n")
    return summary


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from relate_ray.assets import ModelNotFoundError

    try:  # every input checked before a model loads
        args = parse_args(argv)
        requests, first, second = paired(args)
        path = judge_path(args.judge)
    except (GsbInputError, DataFileError, ModelNotFoundError) as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    summary = run(args, requests, first, second, path)
    log.info("GSB of %s against %s: %d : %d : %d (good : same : bad), %.0f %% of verdicts flip with the order; "
             "%s/gsb.json", args.a, args.b, summary["good"], summary["same"], summary["bad"],
             100 * summary["flip_rate"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
