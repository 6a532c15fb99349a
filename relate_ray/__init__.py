"""relate-ray: RELATE (RL-enhanced LLM framework for advertising text) on Ray, vLLM and DeepSpeed."""

import os as _os

# No code path may touch the network: models come from installed packages or local folders.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
