"""The kept frame-stack chunk (relate_ray/workers/frame_stack.py): it serves a loop that calls across
a chunk's end, and the interpreter runs correctly on top of it. Each check runs in a fresh
interpreter, so pytest's own process keeps CPython's allocator."""

import subprocess
import sys
import textwrap

import pytest

from relate_ray.workers import frame_stack

pytestmark = pytest.mark.skipif(not frame_stack.applies(), reason="frames live on a chunked stack from CPython 3.11")


def run_fresh(code: str, cache) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(cache)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_loop_calling_across_a_chunk_end_is_served_by_the_kept_chunk(tmp_path):
    # Descend one level at a time, then call a frame larger than one level 200 times: at some depth
    # the loop's frame fits in a chunk and the callee's does not, so every call needs a new chunk.
    # Without the kept chunk each of those is a fresh mapping and nothing is reused.
    out = run_fresh("""
        import sys
        from pathlib import Path
        from relate_ray.workers.frame_stack import cache_frame_chunks, chunks_reused
        assert cache_frame_chunks(Path(sys.argv[1]))

        def wide():
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = a12 = a13 = a14 = a15 = 0
            b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = b8 = b9 = b10 = b11 = b12 = b13 = b14 = b15 = 0
            return a0

        def calls_at(depth):
            if depth:
                return calls_at(depth - 1)
            before = chunks_reused()
            for _ in range(200):
                wide()
            return chunks_reused() - before

        print(max(calls_at(depth) for depth in range(600)))
    """, tmp_path)
    assert int(out) >= 199


def test_the_interpreter_runs_deep_recursion_generators_and_threads_on_it(tmp_path):
    out = run_fresh("""
        import sys, threading
        from pathlib import Path
        from relate_ray.workers.frame_stack import cache_frame_chunks, chunks_reused
        assert cache_frame_chunks(Path(sys.argv[1])) and cache_frame_chunks(Path(sys.argv[1]))
        sys.setrecursionlimit(20000)

        def depth_sum(n):
            return n + depth_sum(n - 1) if n else 0

        def countdown(n):
            while n:
                yield depth_sum(n % 300)
                n -= 1

        results = []
        def work():
            results.append(sum(depth_sum(n) for n in range(0, 15000, 500)) + sum(countdown(2000)))
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        work()
        for t in threads:
            t.join()
        print(len(set(results)), results[0], chunks_reused() > 0)
    """, tmp_path)
    expected = sum(n * (n + 1) // 2 for n in range(0, 15000, 500)) + sum(
        (n % 300) * (n % 300 + 1) // 2 for n in range(1, 2001))
    assert out.split() == ["1", str(expected), "True"]


def test_without_a_compiler_the_process_runs_on_and_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(frame_stack.shutil, "which", lambda name: None)
    monkeypatch.setattr(frame_stack, "_library", None)
    assert frame_stack.cache_frame_chunks(tmp_path) is False
    assert "no C compiler" in caplog.text and frame_stack.chunks_reused() == 0
    assert not list(tmp_path.rglob("*.so"))
