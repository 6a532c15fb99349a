"""relate_ray.workers.heap: the lean learner gives what a step frees back to the OS, where glibc would
keep it; the fast one reuses it, where glibc would fault in fresh pages."""

import subprocess
import sys

import pytest

from relate_ray.workers import heap

# A step in miniature, in a fresh process (the allocator's settings are per process): tensors of
# 1 MB and up (mapped once map_large_blocks is on) between 128 KB ones (always from the heap), a few
# kept alive between the freed ones as a step's outputs are. Prints the MB still resident.
STEP = """
import sys, psutil, torch
from relate_ray.workers.heap import map_large_blocks, return_free_heap
on = sys.argv[1] == "on"
if on:
    map_large_blocks()
process = psutil.Process()
base = process.memory_info().rss
blocks = []
for i in range(600):
    blocks.append(torch.ones(2**18 + 64 * i))
    blocks.append(torch.ones(2**15 + 16 * i))
kept = blocks[::50]
del blocks
if on:
    return_free_heap()
print((process.memory_info().rss - base) / 2**20)
"""


def run_step(script: str, mode: str) -> float:
    """Run a miniature step in a fresh process; the number it printed last."""
    result = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return float(result.stdout.split()[-1])


@pytest.mark.skipif(heap._LIBC is None, reason="glibc's malloc_trim and mallopt are what is tested")
def test_freed_tensors_are_returned_to_the_os():
    kept = run_step(STEP, "off")
    returned = run_step(STEP, "on")
    # About 0.9 GB passes through; 24 tensors (about 15 MB) stay alive. glibc alone keeps ~110 MB of
    # the freed blocks (the control: without it this test could not fail); with both calls, ~28 MB.
    assert kept > 80, kept
    assert returned < 45, returned


# A step in miniature, in a fresh process (the allocator's settings are per process): tensors of
# 64 MB (above the 32 MB glibc's own threshold ever reaches, so mapped afresh each time by default),
# 4 MB and 256 KB are written and freed, a few kept alive as a step's outputs are; one warm-up step,
# then three. Prints the MB faulted in per later step.
REUSE_STEP = """
import resource, sys, torch
from relate_ray.workers.heap import reuse_freed_blocks
mode = sys.argv[1]
if mode != "default":
    reuse_freed_blocks()
kept = []
def step():
    blocks = []
    for i in range(8):
        blocks += [torch.ones(2**24), torch.ones(2**20 + 1024 * i), torch.ones(2**16 + 256 * i)]
    kept.append(blocks[-1])
step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
faulted = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) * resource.getpagesize() / 3
print(faulted / 2**20)
"""


@pytest.mark.skipif(heap._LIBC is None, reason="glibc's mallopt and malloc_trim are what is tested")
def test_a_step_reuses_the_pages_it_freed():
    # About 650 MB pass through a step. glibc's defaults map every 64 MB tensor afresh (the control:
    # without it this test could not fail); reusing the heap faults in about 40 MB a step after warm-up.
    faulted_default = run_step(REUSE_STEP, "default")
    faulted_reused = run_step(REUSE_STEP, "reuse")
    assert faulted_default > 400, faulted_default
    assert faulted_reused < 100, faulted_reused


# A weight load's working set in miniature, in a fresh process with the heap reused: sixteen 16 MB
# blocks written and freed, with or without `reserve_heap` of twice their size first, as the rollout
# engine reserves twice a load's bytes at start so that its first loads do not grow the heap onto
# fresh pages (README Performance, "The engine's reload"). Exactly their size is not enough: one or
# two of the blocks (16 or 32 MB, varying run to run) still faulted in, most likely as the blocks'
# headers and the process's other allocations take part of the reserve. Prints the MB the load faulted in.
FIRST_LOAD = """
import resource, sys, torch
from relate_ray.workers.heap import reserve_heap, reuse_freed_blocks
reuse_freed_blocks()
if sys.argv[1] == "reserve":
    reserve_heap(2 * 16 * 2**24)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
blocks = [torch.ones(2**22) for _ in range(16)]
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) * resource.getpagesize() / 2**20)
"""


@pytest.mark.skipif(heap._LIBC is None, reason="glibc's mallopt is what is tested")
def test_a_reserved_heap_serves_a_load_from_resident_pages():
    grown = run_step(FIRST_LOAD, "none")
    reserved = run_step(FIRST_LOAD, "reserve")
    # Without the reserve the load's 256 MB fault in (the control: without it this test could not
    # fail); with it nearly nothing does (a reserve freed in chunks the heap then trimmed would fail).
    assert grown > 200, grown
    assert reserved < 20, reserved
