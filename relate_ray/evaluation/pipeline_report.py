"""The pipeline's report: Table 1 over seeds (NLG, SFT + post-processing, RELATE from SFT), each
seed's ΔCTCVR against SFT + post-processing and against NLG with its paired-bootstrap interval, GSB
with the judge's position bias, and Figure 3 of the RELATE runs.

RELATE against NLG is paired through the held-out requests: the NLG ads come from the
`eval_sft_vs_nlg` evaluation, RELATE's from `eval_seed<S>_vs_sft`, both over the same requests
(same split, same count, same market), joined by request id.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import numpy as np

from relate_ray.data.readers import DataFileError
from relate_ray.evaluation.metrics import delta_ctcvr, paired_bootstrap_ci

# (key, label, format) of the Table 1 columns, each a flat key of report.json.
COLUMNS = (
    ("compliance_rate", "Compliance (review)", "{:.3f}"),
    ("diversity", "Diversity eq. 12", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("self_bleu", "self-BLEU", "{:.3f}"),
    ("ctcvr_sim", "market CTCVR", "{:.4%}"),
    ("format_ok", "format followed", "{:.2f}"),
)


@dataclass
class Evaluation:
    """One `evaluate` folder: its report and each side's per-request market CTCVR."""

    path: Path
    report: dict
    ctcvr: dict[str, dict[str, float]]  # side (policy | baseline) -> request id -> mean ctcvr_sim


def read_evaluation(path: Path) -> Evaluation:
    report_file, ads_file = path / "report.json", path / "eval_ads.jsonl"
    if not report_file.is_file() or not ads_file.is_file():
        raise DataFileError(f"{path}: not a finished evaluation (report.json and eval_ads.jsonl needed)")
    values: dict[str, dict[str, list[float]]] = {"policy": {}, "baseline": {}}
    for number, line in enumerate(ads_file.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            request_id = row["request"]["id"]
            for side in values:
                values[side].setdefault(request_id, []).append(float(row[side]["ctcvr_sim"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataFileError(f"{ads_file}:{number}: not an evaluation row") from None
    ctcvr = {side: {k: mean(v) for k, v in per.items()} for side, per in values.items()}
    return Evaluation(path, json.loads(report_file.read_text()), ctcvr)


def paired_lift(policy: dict[str, float], baseline: dict[str, float], seed: int = 0,
                level: float = 0.95, samples: int = 2000) -> dict:
    """Eq. 10 of `policy` over `baseline` on the requests both hold, with its paired interval."""
    ids = sorted(set(policy) & set(baseline))
    if not ids:
        raise DataFileError("no held-out request in common between the two evaluations")
    p = np.array([policy[i] for i in ids])
    b = np.array([baseline[i] for i in ids])
    low, high = paired_bootstrap_ci(p, b, level, samples, seed)
    return {"delta": _finite(delta_ctcvr(p, b)), "ci": [_finite(low), _finite(high)], "requests": len(ids)}


def _finite(x: float) -> float | None:
    """None for nan (a baseline with CTCVR 0 has no relative lift); strict JSON has no NaN."""
    return x if math.isfinite(x) else None


def _mean_or_none(values) -> float | None:
    values = [v for v in values if v is not None]
    return mean(values) if values else None


def pipeline_tables(out: Path, seeds: list[int]) -> dict:
    """report.json's content: Table 1 rows (NLG, SFT + pp, RELATE's mean and each seed) and GSB."""
    sft_vs_nlg = read_evaluation(out / "eval_sft_vs_nlg")
    nlg, sft = sft_vs_nlg.report["baseline"], sft_vs_nlg.report
    rows = [{"model": "NLG", **{k: nlg[k] for k, _, _ in COLUMNS}},
            {"model": "SFT + post-processing", **{k: sft[k] for k, _, _ in COLUMNS},
             "vs_nlg": {"delta": sft["delta_ctcvr_sim"], "ci": sft["delta_ctcvr_sim_ci"],
                        "requests": sft["num_requests"]}}]
    per_seed = []
    for seed in seeds:
        ev = read_evaluation(out / f"eval_seed{seed}_vs_sft")
        r = ev.report
        per_seed.append({
            "model": f"RELATE seed {seed}", "seed": seed, **{k: r[k] for k, _, _ in COLUMNS},
            "vs_sft": {"delta": r["delta_ctcvr_sim"], "ci": r["delta_ctcvr_sim_ci"], "requests": r["num_requests"]},
            "vs_nlg": paired_lift(ev.ctcvr["policy"], sft_vs_nlg.ctcvr["baseline"]),
            "gsb": r.get("gsb"), "gsb_flip_rate": r.get("gsb_flip_rate"), "judge_model": r.get("judge_model"),
            "checkpoint": r["policy"],
        })
    relate = {"model": f"RELATE (from SFT), mean of {len(seeds)} seeds",
              **{k: mean(s[k] for s in per_seed) for k, _, _ in COLUMNS},
              "vs_nlg": {"delta": _mean_or_none(s["vs_nlg"]["delta"] for s in per_seed)},
              "vs_sft": {"delta": _mean_or_none(s["vs_sft"]["delta"] for s in per_seed)}}
    return {"table1": rows + [relate], "seeds": per_seed, "stage_minutes": stage_minutes(out)}


def stage_minutes(out: Path) -> dict[str, float]:
    """Each finished stage's wall time (from its .stage_done marker), in minutes."""
    minutes = {}
    for marker in sorted(out.glob("*/.stage_done")):
        seconds = json.loads(marker.read_text()).get("seconds")
        if seconds is not None:
            minutes[marker.parent.name] = round(seconds / 60, 1)
    return minutes


def _pct(value) -> str:
    return "–" if value is None else f"{value:+.1%}"


def _ci(lift: dict | None) -> str:
    if not lift or "ci" not in lift or None in lift["ci"]:
        return "–"
    return f"[{lift['ci'][0]:+.1%}, {lift['ci'][1]:+.1%}]"


def _gsb(seed_row: dict) -> str:
    g = seed_row.get("gsb")
    if not g:
        return "–"
    flips = seed_row.get("gsb_flip_rate")
    return f"{g['good']} : {g['same']} : {g['bad']}" + ("" if flips is None else f" (flips {flips:.0%})")


def render(tables: dict, figure: str | None) -> str:
    rows, seeds = tables["table1"], tables["seeds"]
    n = seeds[0]["vs_sft"]["requests"] if seeds else 0
    lines = ["# relate-ray pipeline report", "",
             f"## Table 1 ({n} held-out test requests, greedy, the simulated market)", "",
             "| Model | " + " | ".join(label for _, label, _ in COLUMNS) + " | ΔCTCVR vs NLG | ΔCTCVR vs SFT + pp |",
             "|---" * (len(COLUMNS) + 3) + "|"]
    for row in rows:
        cells = [fmt.format(row[k]) for k, _, fmt in COLUMNS]
        vs_sft = row.get("vs_sft", {}).get("delta") if row["model"].startswith("RELATE") else None
        lines.append(f"| {row['model']} | " + " | ".join(cells) +
                     f" | {_pct(row.get('vs_nlg', {}).get('delta'))} | {_pct(vs_sft)} |")
    lines += ["", "## Each seed: RELATE against SFT + post-processing and against NLG (eq. 10, 95 % paired "
              "bootstrap over requests) and GSB (the judge, both orders)", "",
              "| seed | ΔCTCVR vs SFT + pp | 95 % CI | ΔCTCVR vs NLG | 95 % CI | compliance | eq. 12 | distinct-2 | "
              "self-BLEU | GSB vs SFT + pp (good : same : bad) | judge |", "|---" * 11 + "|"]
    for s in seeds:
        lines.append(f"| {s['seed']} | {_pct(s['vs_sft']['delta'])} | {_ci(s['vs_sft'])} | {_pct(s['vs_nlg']['delta'])} | "
                     f"{_ci(s['vs_nlg'])} | {s['compliance_rate']:.3f} | {s['diversity']:.3f} | {s['distinct_2']:.3f} | "
                     f"{s['self_bleu']:.3f} | {_gsb(s)} | {s.get('judge_model') or '–'} |")
    sft = rows[1]
    lines += ["", f"SFT + post-processing against NLG: {_pct(sft['vs_nlg']['delta'])} {_ci(sft['vs_nlg'])}.",
              "A GSB verdict that flips when the two ads swap places counts as same; `flips` is the share of "
              "pairs that flipped (the judge's position bias).", ""]
    if tables.get("stage_minutes"):
        total = sum(tables["stage_minutes"].values())
        lines += ["Wall time of each stage (minutes): " + ", ".join(f"{k} {v}" for k, v in
                                                                 tables["stage_minutes"].items())
                  + f"; {total:.1f} in all.", ""]
    if figure:
        lines += ["## Figure 3: the RELATE runs' rewards over training", "", f"![rewards]({figure})", ""]
    return "\n".join(lines)


def write_pipeline_report(out: Path, seeds: list[int], judge: str = "") -> Path:
    """DIR/report/report.md, report.json and rewards.png from the pipeline's stage folders."""
    from relate_ray.evaluation.figure import plot_rewards
    from relate_ray.evaluation.run_tables import read_run

    tables = pipeline_tables(out, seeds)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in seeds:
        run = read_run(out / f"relate_seed{seed}")
        run.preset = f"RELATE seed {seed}"
        runs.append(run)
    figure = None
    if any(r.rows for r in runs):
        plot_rewards(runs, folder / "rewards.png")
        figure = "rewards.png"
    (folder / "report.json").write_text(json.dumps(tables, indent=2) + "\n")
    (folder / "report.md").write_text(render(tables, figure))
    return folder / "report.md"
