"""`python -m relate_ray.report` on hand-made run and evaluation folders: Table 3, Table 1, Figure 3."""

import json

import pytest

from relate_ray.evaluation.figure import moving_average
from relate_ray.evaluation.run_tables import read_run, table3_row
from relate_ray.report import main


def _run(root, preset, rewards_by_step, evals):
    run = root / preset
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"reward:\n  name: {preset}\n")
    rows = []
    for step in range(0, len(rewards_by_step) + 1):
        row = {"step": step}
        if step:
            row.update({f"reward/{k}": v for k, v in rewards_by_step[step - 1].items()})
            row["reward/total"] = sum(rewards_by_step[step - 1].values())
        if step in evals:
            row.update({"eval/sim_ctcvr": evals[step], "eval/ctcvr_pred": 2 * evals[step], "eval/format_ok": 0.5})
        rows.append(row)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_table3_averages_the_window_up_to_the_step_on_the_papers_scales(tmp_path):
    steps = [{"length": -1.0, "format": -1.0, "diversity": -0.5}] * 2 + [{"length": 1.0, "format": 0.0,
                                                                          "diversity": -0.25}] * 2
    run = read_run(_run(tmp_path, "model3", steps, {0: 0.001, 2: 0.002, 4: 0.004}))
    row = table3_row(run, step=4, window=2)
    assert row["structural_quality"] == pytest.approx((1.0 + 0.5) / 2)  # unit(1) and unit(0)
    assert row["diversity"] == pytest.approx(0.75)
    assert row["ctcvr_sim_pct"] == pytest.approx(0.4) and row["ctcvr_pred_pct"] == pytest.approx(0.8)
    assert row["semantic_quality"] is None  # model3 logs no semantic reward
    early = table3_row(run, step=3, window=2)
    assert early["ctcvr_sim_pct"] == pytest.approx(0.2) and early["eval_step"] == 2


def test_report_writes_both_tables_and_the_figure(tmp_path):
    steps = [{"length": 0.1 * i, "format": 0.0} for i in range(4)]
    relate = _run(tmp_path / "runs", "relate", steps, {0: 0.001, 4: 0.003})
    model1 = _run(tmp_path / "runs", "model1", steps, {0: 0.001, 4: 0.002})
    ev = tmp_path / "eval_relate"
    ev.mkdir()
    base = {"compliance_rate": 0.8, "diversity": 0.5, "num_requests": 40}
    (ev / "report.json").write_text(json.dumps({**base, "compliance_rate": 0.95, "diversity": 0.7,
                                                "delta_ctcvr_sim": 0.25, "delta_ctcvr_sim_ci": [0.1, 0.4],
                                                "gsb": {"good": 3, "same": 36, "bad": 1}, "postprocess": False,
                                                "baseline_kind": "nlg", "baseline": base}))
    out = tmp_path / "out"
    assert main([str(relate), str(model1), f"evals={ev}", f"out={out}", "step=4"]) == 0
    text = (out / "report.md").read_text()
    assert text.index("| model1 |") < text.index("| relate |")  # Table 2's order, not the argument order
    assert "| NLG | 0.800 | 0.500 | – |" in text
    assert "| eval_relate | 0.950 | 0.700 | +25.00% | [+10.0%, +40.0%] | 3:36:1 | 40 |" in text
    assert (out / "rewards.png").is_file()


def _has_colour(image, hex_colour: str) -> bool:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return bool((abs(image[:, :, :3] - rgb).max(axis=2) < 0.02).any())


def test_figure_draws_each_logged_component_with_one_line_per_run(tmp_path):
    from matplotlib.image import imread

    from relate_ray.evaluation.figure import plot_rewards

    relate = read_run(_run(tmp_path, "relate", [{"ctcvr": 0.1 * i, "format": 0.0, "dropped_groups": 0.0}
                                                for i in range(4)], {}))
    model1 = read_run(_run(tmp_path, "model1", [{"format": -0.2 * i} for i in range(4)], {}))
    drawn = plot_rewards([relate, model1], tmp_path / "f.png")
    assert drawn == ["total", "ctcvr", "format"]  # a count of dropped groups is not a reward
    image = imread(tmp_path / "f.png")
    # Matplotlib's first two cycle colours: the first run's lines and the second's are both there.
    assert _has_colour(image, "#1f77b4") and _has_colour(image, "#ff7f0e")
    assert not _has_colour(image, "#2ca02c")  # and no third run


def test_bad_report_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), f"out={tmp_path / 'o'}"]) == 2
    assert "not a run folder (no metrics.jsonl)" in capsys.readouterr().err
    assert main(["stepp=3", str(tmp_path)]) == 2
    assert "unknown option 'stepp'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_moving_average_is_trailing():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
