"""Keep CPython from mapping and unmapping a frame-stack chunk on every call of a hot loop.

CPython 3.11 and 3.12 keep Python frames on a per-thread stack made of 16 KiB chunks: a call that
does not fit in the current chunk maps a new one (mmap), and the return of the frame that opened it
unmaps it (munmap). A loop that calls across a chunk's end pays both on every call, plus the fresh
pages' faults and, with a second thread running, a TLB shootdown on every unmap (CPython
gh-142183; fixed in 2026 releases of 3.13 and 3.14 by caching one chunk per thread, not in 3.11 or
3.12). Whether a loop sits at that boundary is an accident of how deep it was called.

Found in the rollout actor: the compiled vLLM engine's decode loop sat on the boundary when Ray
drove `generate_stream` as a streaming generator (how the fleet calls it), one frame shallower than
through `generate`. strace of the actor during one bench rollout (2 prompts x 5 x 48 tokens, fp32,
compiled, 2 threads, AMD EPYC Zen 4): 8,640 mmap and 8,640 munmap streaming (180 an engine step),
48-101 each through `generate`; 2.51-2.69 s against 2.25-2.42 s a rollout, the extra time in the
compiled graph's wrapper and the OMP threads waiting on its kernels. An extra frame anywhere on the
way moved the loop off the boundary.

`cache_frame_chunks` fixes it where the cost arises, for any depth: it wraps the interpreter's arena
allocator (which serves the chunks) so that one freed chunk is kept for the next request of that
size, as CPython's fix does per thread. The wrapper is C (`frame_chunk_cache.c`, built here with the
system's C compiler on first use, a fraction of a second); without a compiler the process runs as
before and says so once.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024  # CPython's DATA_STACK_CHUNK_SIZE (Python/pystate.c)
SOURCE = Path(__file__).with_name("frame_chunk_cache.c")

_library: ctypes.CDLL | None = None


def applies() -> bool:
    """True where frames live on chunked per-thread stacks (CPython 3.11 and later) and the GIL
    guards the arena allocator, as the one kept chunk needs (not the free-threaded builds)."""
    return (platform.python_implementation() == "CPython" and sys.version_info >= (3, 11)
            and not sysconfig.get_config_var("Py_GIL_DISABLED"))


def build_library(cache: Path | None = None) -> Path:
    """The wrapper's shared library, compiled into the relate_ray cache (once per source and
    interpreter version). Raises RuntimeError if there is no C compiler or it fails."""
    from relate_ray.assets import cache_dir
    from relate_ray.fsutil import atomic_path

    tag = hashlib.sha256(SOURCE.read_bytes() + sys.version.encode()).hexdigest()[:16]
    target = (cache or cache_dir()) / "native" / f"frame_chunk_cache-{tag}.so"
    if target.exists():
        return target
    configured = (sysconfig.get_config_var("CC") or "cc").split()[0]  # the compiler Python was built with
    compiler = shutil.which(configured) or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH")
    # Renamed into place once built: processes starting together never load a half-written file.
    with atomic_path(target) as partial:
        done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(partial), str(SOURCE)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} failed on {SOURCE}: {done.stderr.strip()[-500:]}")
    return target


def cache_frame_chunks(cache: Path | None = None) -> bool:
    """Keep one freed frame-stack chunk in this process for the next call that needs one. True if
    the wrapper is in place (installed now or before); False where it does not apply or cannot be
    built (logged), which leaves the interpreter as it was."""
    global _library
    if _library is not None:
        return True
    if not applies():
        return False
    try:
        library = ctypes.CDLL(str(build_library(cache)))
    except (RuntimeError, OSError) as err:
        log.warning("frame-stack chunks not cached (a loop at a chunk boundary maps memory on every call): %s", err)
        return False
    library.relate_cache_frame_chunks.argtypes = [ctypes.c_size_t]
    library.relate_frame_chunks_reused.restype = ctypes.c_ulonglong
    library.relate_cache_frame_chunks(CHUNK_BYTES)
    _library = library
    return True


def chunks_reused() -> int:
    """How many chunk requests the kept chunk has served in this process (0 without the wrapper)."""
    return int(_library.relate_frame_chunks_reused()) if _library is not None else 0
