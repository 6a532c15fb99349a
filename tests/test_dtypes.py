"""`auto` dtypes: what each model runs in on a machine, from its CPU flags, and the learner's `auto`."""

import io

import pytest
from omegaconf import OmegaConf

from relate_ray import dtypes
from relate_ray.config import RelateConfig
from relate_ray.trainer.setup import learner_dtype

AVX2_ONLY = "flags\t\t: fpu sse2 avx avx2 fma\n"
ZEN4 = "flags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n"


@pytest.mark.parametrize("flags, expected", [(AVX2_ONLY, "float32"), (ZEN4, "bfloat16"), (SAPPHIRE_RAPIDS, "bfloat16")])
def test_auto_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, flags, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dtypes, "open", lambda *a, **k: io.StringIO(flags), raising=False)
    assert dtypes.resolve_dtype("auto") == expected
    assert dtypes.resolve_dtype("float32") == "float32"  # an explicit choice is kept, even where bf16 is native


def test_the_learners_auto_is_the_engines_dtype_and_an_explicit_one_is_kept():
    cfg = OmegaConf.structured(RelateConfig)
    assert cfg.learner.dtype == "auto" and learner_dtype(cfg) == cfg.model.dtype == "auto"
    cfg.model.dtype = "float32"  # an AVX2 user's choice, or the fp32 check on a bf16 machine
    assert learner_dtype(cfg) == "float32"
    cfg.model.dtype, cfg.learner.dtype = "bfloat16", "float32"
    assert learner_dtype(cfg) == "float32"


@pytest.mark.parametrize("flags, training, expected", [
    (AVX2_ONLY, "float32", "float32"),  # bf16 would be emulated: the reference stays with the policy
    (AVX2_ONLY, "bfloat16", "bfloat16"),  # a forced-bf16 run keeps its reference as before
    (ZEN4, "float32", "bfloat16"),
    (SAPPHIRE_RAPIDS, "float32", "bfloat16"),
    (SAPPHIRE_RAPIDS, "bfloat16", "bfloat16")])
def test_the_reference_runs_bf16_where_native_and_else_in_the_training_dtype(monkeypatch, flags, training, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dtypes, "open", lambda *a, **k: io.StringIO(flags), raising=False)
    assert dtypes.reference_dtype("auto", training) == expected
    assert dtypes.reference_dtype("float32", training) == "float32"  # an explicit choice is kept


def test_the_reference_dtype_reaches_the_learner_and_a_wrong_one_is_refused():
    from transformers import AutoTokenizer

    from relate_ray.assets import resolve_model
    from relate_ray.config import ConfigError
    from relate_ray.trainer.setup import learner_config
    from relate_ray.validation import validate_config

    cfg = OmegaConf.structured(RelateConfig)
    cfg.learner.reference_dtype = "float32"  # the exact KL term, on any machine
    assert learner_config(cfg, AutoTokenizer.from_pretrained(resolve_model(cfg.model.policy)))["reference_dtype"] == "float32"
    cfg.learner.reference_dtype = "float16"
    with pytest.raises(ConfigError, match="learner.reference_dtype"):
        validate_config(cfg)
