"""Figure 3: every reward component over training steps, one line per reward preset."""

from __future__ import annotations

from pathlib import Path


def moving_average(values: list[float], width: int) -> list[float]:
    """Trailing mean over up to `width` values (the first points average what they have)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= width:
            total -= values[i - width]
        out.append(total / min(i + 1, width))
    return out


def plot_rewards(runs, path: Path, smooth: int = 5) -> list[str]:
    """One panel per reward component present in any run; returns the components drawn."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    # reward/total first, then every component in the order the runs logged them.
    keys = dict.fromkeys(k for run in runs for r in run.rows for k in r if k.startswith("reward/"))
    keys.pop("reward/dropped_groups", None)  # a count of failed groups, not a reward
    drawn = ["total"] * ("reward/total" in keys) + [k.split("/", 1)[1] for k in keys if k != "reward/total"]
    cols = 3
    rows = (len(drawn) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, component in zip(axes.flat, drawn):
        for run in runs:
            points = [(r["step"], r[f"reward/{component}"]) for r in run.rows if f"reward/{component}" in r]
            if points:
                steps, values = zip(*points)
                ax.plot(steps, moving_average(list(values), smooth), label=run.preset, linewidth=1.5)
        ax.set_title(f"reward/{component}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(drawn):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Rewards over training (trailing mean of {smooth} steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn
