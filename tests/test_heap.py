"""relate_ray.workers.heap: the learner gives what a step frees back to the OS, where glibc would keep it."""

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


def resident_after_step(mode: str) -> float:
    result = subprocess.run([sys.executable, "-c", STEP, mode], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return float(result.stdout.split()[-1])


@pytest.mark.skipif(heap._LIBC is None, reason="glibc's malloc_trim and mallopt are what is tested")
def test_freed_tensors_are_returned_to_the_os():
    kept = resident_after_step("off")
    returned = resident_after_step("on")
    # About 0.9 GB passes through; 24 tensors (about 15 MB) stay alive. glibc alone keeps ~110 MB of
    # the freed blocks (the control: without it this test could not fail); with both calls, ~28 MB.
    assert kept > 80, kept
    assert returned < 45, returned
