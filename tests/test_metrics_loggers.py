"""Step metrics reach every logger the run names: TensorBoard and Weights & Biases (offline)."""

import json

import pytest
from omegaconf import OmegaConf

from relate_ray.config import RelateConfig
from relate_ray.trainer.metrics import MetricsSink


def _cfg(loggers):
    cfg = OmegaConf.structured(RelateConfig)
    cfg.trainer.loggers = loggers
    return cfg


def test_wandb_offline_and_tensorboard_both_get_each_step(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    sink = MetricsSink(tmp_path, total_steps=2, cfg=_cfg(["tensorboard", "wandb"]))
    for step in (1, 2):
        sink.log({"step": step, "reward/total": 0.5 * step, "time/step": 1.0, "note": "not a number"})
    sink.close()
    assert [json.loads(l)["step"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("reward/total")] == [(1, 0.5), (2, 1.0)]
    assert "note" not in events.Tags()["scalars"]
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # The offline run's record file (what `wandb sync` uploads) holds the logged keys; strings are left out.
    records = next(runs[0].glob("run-*.wandb")).read_bytes()
    assert b"reward/total" in records and b"time/step" in records and b"note" not in records

def test_an_unknown_logger_is_refused_at_start():
    from relate_ray.config import ConfigError
    from relate_ray.validation import validate_config

    with pytest.raises(ConfigError, match="trainer.loggers: each must be one of tensorboard, wandb"):
        validate_config(_cfg(["tensorboard", "mlflow"]))
