"""report.md of one evaluation: the policy beside its baseline, in the paper's terms."""

from __future__ import annotations

from pathlib import Path

# (key, label, format) in Table 1 / Table 3 order.
ROWS = (
    ("compliance_rate", "Compliance rate (eq. 11, platform review)", "{:.3f}"),
    ("compliance_rate_reward", "Compliance rate (training checker)", "{:.3f}"),
    ("diversity", "Diversity (eq. 12, [0, 1])", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("distinct_3", "distinct-3", "{:.3f}"),
    ("self_bleu", "self-BLEU (lower is more diverse)", "{:.3f}"),
    ("structural_quality", "Structural quality (length, format)", "{:.3f}"),
    ("semantic_quality", "Semantic quality (correctness, relevance, risk)", "{:.3f}"),
    ("format_ok", "Format followed", "{:.3f}"),
    ("ctcvr_pred", "pCTCVR, CTCVR model", "{:.4%}"),
    ("ctr_sim", "CTR, simulated market", "{:.3%}"),
    ("ctcvr_sim", "CTCVR, simulated market", "{:.4%}"),
    ("response_tokens", "Response tokens", "{:.1f}"),
)


def write_report_md(path: Path, report: dict) -> None:
    base = report["baseline"]
    low, high = report["delta_ctcvr_sim_ci"]
    pct = lambda x: "n/a (the baseline's CTCVR is 0)" if x is None else f"{x:+.2%}"  # noqa: E731
    lines = [
        "# Evaluation", "",
        f"Policy `{report['policy']}`{' + post-processing' if report['postprocess'] else ''} against baseline "
        f"`{report['baseline_kind']}` (`{report['baseline_model']}`"
        f"{', post-processed' if report['baseline_postprocess'] else ''}) on {report['num_requests']} "
        f"held-out requests ({report['requests']}), {report['samples_per_request']} ad(s) each.", "",
        f"**ΔCTCVR (eq. 10, simulated market): {pct(report['delta_ctcvr_sim'])}** "
        f"(95 % paired bootstrap over requests: [{pct(low)}, {pct(high)}])", "",
    ]
    if report.get("gsb"):
        g = report["gsb"]
        lines += [f"**Good : Same : Bad** (judge, both orders): {g['good']} : {g['same']} : {g['bad']}", ""]
    lines += ["| metric | policy | baseline |", "|---|---|---|"]
    for key, label, fmt in ROWS:
        lines.append(f"| {label} | {fmt.format(report[key])} | {fmt.format(base[key])} |")
    path.write_text("\n".join(lines) + "\n")
