"""Where each step's numbers go: metrics.jsonl (one object per step, always), the loggers the run
names (trainer.loggers: TensorBoard, Weights & Biases), a progress bar."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tqdm import tqdm

from relate_ray.fsutil import folder_hash

log = logging.getLogger(__name__)


class TensorBoardLogger:
    def __init__(self, out_dir: Path, cfg) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out_dir / "tensorboard"))

    def log(self, scalars: dict, step: int) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """Weights & Biases, one run per training run; a resumed run continues the same wandb run."""

    def __init__(self, out_dir: Path, cfg) -> None:
        try:
            import wandb
        except ImportError:
            from relate_ray.config import ConfigError

            raise ConfigError("trainer.loggers: wandb is not installed (pip install 'relate-ray[wandb]')") from None
        from omegaconf import OmegaConf

        self.wandb = wandb
        run_id = "relate-" + folder_hash(out_dir)
        self.run = wandb.init(project=cfg.trainer.wandb_project, mode=cfg.trainer.wandb_mode, dir=str(out_dir),
                              id=run_id, resume="allow", name=out_dir.name, reinit="create_new",
                              config=OmegaConf.to_container(cfg, resolve=True))

    def log(self, scalars: dict, step: int) -> None:
        self.run.log(scalars, step=step)

    def close(self) -> None:
        self.run.finish()


LOGGERS = {"tensorboard": TensorBoardLogger, "wandb": WandbLogger}


class MetricsSink:
    def __init__(self, out_dir: Path, total_steps: int, start_step: int = 0, cfg=None) -> None:
        self.path = out_dir / "metrics.jsonl"
        self.samples_path = out_dir / "samples.jsonl"
        self.eval_samples_path = out_dir / "eval_samples.jsonl"
        if start_step:
            # A run stopped after its last checkpoint (killed, crashed) logged steps that the resume
            # runs again: keep each step once, as the resumed run logs it.
            for path in (self.path, self.samples_path, self.eval_samples_path):
                drop_steps_after(path, start_step)
        names = list(cfg.trainer.loggers) if cfg is not None else ["tensorboard"]
        self.loggers = [LOGGERS[name](out_dir, cfg) for name in names]
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    def log(self, metrics: dict) -> None:
        step = int(metrics["step"])
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(metrics) + "\n")
        scalars = {k: v for k, v in metrics.items() if k != "step" and isinstance(v, (int, float))}
        for logger in self.loggers:
            logger.log(scalars, step)
        if "reward/total" in metrics:
            self.bar.set_postfix(reward=f"{metrics['reward/total']:.3f}", step_s=f"{metrics['time/step']:.1f}")
            self.bar.update(1)

    def log_samples(self, rows: list[dict], evaluation: bool = False) -> None:
        """A few responses per step with their rewards (or every greedy evaluation ad), to read what
        the policy writes."""
        with open(self.eval_samples_path if evaluation else self.samples_path, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.bar.close()
        for logger in self.loggers:
            logger.close()


def drop_steps_after(path: Path, step: int) -> int:
    """Rewrite a JSON-lines log without its rows of steps after `step`; returns how many went."""
    if not path.exists():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            # The line a killed run was writing: torn, and of a step that runs again anyway.
            log.warning("%s:%d: dropped an unfinished row", path.name, number)
            continue
        if row.get("step", 0) <= step:
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        tmp.replace(path)
        log.info("%s: dropped %d rows logged after step %d (the resume logs them again)", path.name,
                 len(lines) - len(kept), step)
    return len(lines) - len(kept)
