"""`python -m relate_ray.launch [hydra overrides]`: the main job.

With no overrides it runs the embedded default on this machine. User errors (a bad value, a missing
file or model) end in one line naming what and where, and exit code 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from relate_ray.assets import ModelNotFoundError
from relate_ray.config import ConfigError, register_configs, validate_config
from relate_ray.data.prompts import PromptTemplateError
from relate_ray.data.readers import DataFileError

log = logging.getLogger("relate_ray.launch")
USER_ERRORS = (ConfigError, DataFileError, ModelNotFoundError, PromptTemplateError)

register_configs()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from relate_ray.smoke import run_smoke

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        validate_config(cfg)
        run_smoke(cfg, out_dir)
    except USER_ERRORS as err:
        log.error("%s", err)
        sys.stderr.write(f"error: {err}\n")
        sys.exit(1)
    log.info("outputs in %s", out_dir)


if __name__ == "__main__":
    main()
