"""Running a test's script in a process of its own, for tests whose subject keeps process-wide state
that would outlive the test in pytest's process (DeepSpeed's process group, an in-process vLLM engine).
The scripts can import this folder's helpers: `run_script` puts it on their path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent


def run_script(source: str, folder: Path, *args: str, timeout: int = 300) -> None:
    """Run `source` as a script in a process of its own (in `folder`, with `args`); it passes when it
    exits 0 with "ok" as its last output."""
    script = folder / "own_process_script.py"
    script.write_text(source)
    path = [str(TESTS_DIR)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(path)})
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
