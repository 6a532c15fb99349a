"""`python -m relate_ray.report RUN_DIR... out=DIR [step=N] [evals=EVAL_DIR,...] [window=5] [smooth=5]`

Writes DIR/report.md with the paper's Table 3 (each run's reward preset at step N, default: the
last step all runs reached), Figure 3 (DIR/rewards.png: every reward component over steps, one line
per preset) and, given `evaluate` outputs, Table 1 (the NLG baseline and each evaluated policy,
labelled by its folder's name, with eq. 10 and its 95 % interval). Bad input: one line, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from relate_ray.data.readers import DataFileError

OPTIONS = {"out": str, "step": int, "evals": str, "window": int, "smooth": int}


def parse_args(argv: list[str]) -> tuple[list[Path], dict]:
    """Run folders (bare arguments) and key=value options; ValueError names a bad one."""
    runs, options = [], {"out": "report_out", "step": 0, "evals": "", "window": 5, "smooth": 5}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            runs.append(Path(arg))
            continue
        if key not in OPTIONS:
            raise ValueError(f"unknown option {key!r} (known: {', '.join(OPTIONS)})")
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            raise ValueError(f"{key}: must be {OPTIONS[key].__name__}, got {value!r}") from None
    if not runs and not options["evals"]:
        raise ValueError("name at least one run folder (or evals=EVAL_DIR,...)")
    if options["window"] < 1 or options["smooth"] < 1:
        raise ValueError("window and smooth must be at least 1")
    return runs, options


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render(table3: list[dict], table1: list[dict], step: int, figure: str | None, window: int) -> str:
    lines = ["# relate-ray report", ""]
    if table1:
        lines += ["## Table 1: against the NLG baseline (simulated market, held-out requests)", "",
                  "| Model | Compliance rate | Diversity | ΔCTCVR | 95 % CI | GSB vs baseline | requests |",
                  "|---|---|---|---|---|---|---|"]
        for r in table1:
            ci = "–" if r["ci"] is None or None in r["ci"] else f"[{r['ci'][0]:+.1%}, {r['ci'][1]:+.1%}]"
            gsb = "–" if not r["gsb"] else f"{r['gsb']['good']}:{r['gsb']['same']}:{r['gsb']['bad']}"
            lines.append(f"| {r['model']} | {r['compliance_rate']:.3f} | {r['diversity']:.3f} | "
                         f"{_fmt(r['delta_ctcvr_sim'], '+.2%')} | {ci} | {gsb} | {r['num_requests']} |")
        lines.append("")
    if table3:
        lines += [f"## Table 3: reward presets at step {step}", "",
                  f"Training rewards averaged over the {window} steps up to step {step}, on [0, 1]; CTCVR from the "
                  "last held-out evaluation at or before it (pCTCVR of the CTCVR model; the market's truth beside it).",
                  "", "| Model | Structural Quality | CTCVR (%) | market CTCVR (%) | Diversity | Semantic Quality | "
                  "format ok | eval step |", "|---|---|---|---|---|---|---|---|"]
        for r in table3:
            lines.append(f"| {r['preset']} | {_fmt(r['structural_quality'], '.3f')} | {_fmt(r['ctcvr_pred_pct'], '.3f')} | "
                         f"{_fmt(r['ctcvr_sim_pct'], '.4f')} | {_fmt(r['diversity'], '.3f')} | "
                         f"{_fmt(r['semantic_quality'], '.3f')} | {_fmt(r['format_ok'], '.2f')} | {_fmt(r['eval_step'], 'd')} |")
        lines.append("")
    if figure:
        lines += ["## Figure 3: rewards over training", "", f"![rewards]({figure})", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from relate_ray.evaluation.figure import plot_rewards
    from relate_ray.evaluation.run_tables import preset_rank, read_eval, read_run, table1_rows, table3_row

    try:
        run_dirs, options = parse_args(argv)
        runs = sorted((read_run(p) for p in run_dirs), key=lambda r: (preset_rank(r.preset), str(r.path)))
        evals = {Path(p).name: read_eval(Path(p)) for p in options["evals"].split(",") if p}
        step = options["step"] or (min(r.rows[-1]["step"] for r in runs if r.rows) if runs else 0)
        table3 = [table3_row(r, step, options["window"]) for r in runs]
    except (ValueError, DataFileError, OSError) as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    out = Path(options["out"])
    out.mkdir(parents=True, exist_ok=True)
    figure = None
    if runs:
        plot_rewards(runs, out / "rewards.png", options["smooth"])
        figure = "rewards.png"
    (out / "report.md").write_text(render(table3, table1_rows(evals), step, figure, options["window"]))
    sys.stdout.write(f"{out / 'report.md'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
