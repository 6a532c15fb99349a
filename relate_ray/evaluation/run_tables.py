"""The paper's tables from run outputs: Table 3 (each reward preset at one step, from its
metrics.jsonl) and Table 1 (policies against the NLG baseline, from `evaluate` reports). Pure
functions over the parsed files; `relate_ray.report` reads them and writes the markdown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from relate_ray.data.readers import DataFileError
import numpy as np

from relate_ray.evaluation.metrics import diversity_unit, unit_score
from relate_ray.evaluation.scoring import SEMANTIC, STRUCTURAL

PRESET_ORDER = ("model1", "model2", "model3", "model4", "relate")


@dataclass
class Run:
    """One training run: its folder, its reward preset, and its metrics rows by step."""

    path: Path
    preset: str
    rows: list[dict]
    # The diversity reward's cap (its max_penalty option): eq. 12's unit scale.
    diversity_max_penalty: float = 1.0


def read_run(path: Path) -> Run:
    """A run folder (metrics.jsonl and .hydra/config.yaml, as `launch` writes them)."""
    import yaml

    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise DataFileError(f"{path}: not a run folder (no metrics.jsonl)")
    rows = []
    for number, line in enumerate(metrics.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise DataFileError(f"{metrics}:{number}: not a JSON row") from None
    config = path / ".hydra" / "config.yaml"
    reward = (yaml.safe_load(config.read_text()) or {}).get("reward", {}) if config.is_file() else {}
    options = ((reward.get("components") or {}).get("diversity") or {}).get("options") or {}
    return Run(path, reward.get("name", path.name), sorted(rows, key=lambda r: r["step"]),
               float(options.get("max_penalty") or 1.0))


def _window_mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if key in r]
    return mean(values) if values else None


def table3_row(run: Run, step: int, window: int = 5) -> dict:
    """Table 3 for one run at `step`: each training reward averaged over the `window` steps up to it
    (a step samples a handful of prompts, so one step's mean is noisy), on [0, 1] as the paper
    groups them; CTCVR from the last held-out evaluation at or before `step`."""
    upto = [r for r in run.rows if r["step"] <= step]
    if not upto:
        raise DataFileError(f"{run.path}: no step <= {step} in metrics.jsonl")
    recent = [r for r in upto if "reward/total" in r][-window:]
    parts = {name: _window_mean(recent, f"reward/{name}") for name in (*STRUCTURAL, *SEMANTIC, "diversity")}
    evals = [r for r in upto if "eval/sim_ctcvr" in r]
    last_eval = evals[-1] if evals else {}

    def group(names):
        values = [float(unit_score(parts[n])) for n in names if parts[n] is not None]
        return mean(values) if values else None

    return {
        "preset": run.preset, "step": upto[-1]["step"],
        "structural_quality": group(STRUCTURAL),
        "ctcvr_pred_pct": 100 * last_eval["eval/ctcvr_pred"] if "eval/ctcvr_pred" in last_eval else None,
        "ctcvr_sim_pct": 100 * last_eval["eval/sim_ctcvr"] if last_eval else None,
        "diversity": (diversity_unit(np.array([parts["diversity"]]), run.diversity_max_penalty)
                      if parts["diversity"] is not None else None),
        "semantic_quality": group(SEMANTIC),
        "format_ok": last_eval.get("eval/format_ok"),
        "eval_step": last_eval.get("step"),
    }


def preset_rank(preset: str) -> int:
    return PRESET_ORDER.index(preset) if preset in PRESET_ORDER else len(PRESET_ORDER)


def read_eval(path: Path) -> dict:
    report = path / "report.json"
    if not report.is_file():
        raise DataFileError(f"{path}: not an evaluate output (no report.json)")
    return json.loads(report.read_text())


def table1_rows(evals: dict[str, dict]) -> list[dict]:
    """Table 1: the NLG baseline once, then each evaluated policy (label: its evaluate folder's
    name), with eq. 10 against the baseline on the same requests."""
    rows = []
    for label, report in evals.items():
        if report.get("baseline_kind") == "nlg" and not any(r["model"] == "NLG" for r in rows):
            base = report["baseline"]
            rows.append({"model": "NLG", "compliance_rate": base["compliance_rate"], "diversity": base["diversity"],
                         "delta_ctcvr_sim": None, "ci": None, "gsb": None, "num_requests": base["num_requests"]})
        rows.append({"model": label + (" + post-processing" if report.get("postprocess") else ""),
                     "compliance_rate": report["compliance_rate"], "diversity": report["diversity"],
                     "delta_ctcvr_sim": report["delta_ctcvr_sim"], "ci": report["delta_ctcvr_sim_ci"],
                     "gsb": report.get("gsb"), "num_requests": report["num_requests"],
                     "baseline": report.get("baseline_kind")})
    return rows
