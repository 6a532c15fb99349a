"""`python -m relate_ray.launch [hydra overrides]`: the main job (GRPO training with the RELATE rewards).

With no overrides it runs the embedded default on this machine: a local Ray instance, the bundled
SmolLM2-135M policy, the synthetic English data, and the `relate` reward preset. `-m reward=a,b`
sweeps presets; `dry_run=true` prints the resource plan and exits. User errors (an unknown key, a
bad value, a missing file or model) end in one line naming what and where, and a non-zero exit.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from relate_ray.assets import ModelNotFoundError
from relate_ray.config import ConfigError, register_configs, validate_config
from relate_ray.data.prompts import DEFAULT_CONF_DIR, PromptTemplateError
from relate_ray.data.readers import DataFileError
from relate_ray.trainer.checkpoint import CheckpointSpaceError
from relate_ray.trainer.cluster import PlacementError
from relate_ray.trainer.recovery import WorkerLostError
from relate_ray.trainer.reward_pool import RewardFailure

log = logging.getLogger("relate_ray.launch")
USER_ERRORS = (ConfigError, DataFileError, ModelNotFoundError, PromptTemplateError, CheckpointSpaceError,
               PlacementError)
# The run itself failed (a worker lost for good, a reward component that raised): exit 3, one line;
# the last checkpoint is untouched and resume=true continues from it.
RUN_FAILURES = (WorkerLostError, RewardFailure)
RUN_FAILURE_EXIT = 3

register_configs()


def _first_sweep_value(override: str) -> str:
    """`key=a,b` (a sweep) -> `key=a`: each value composes the same way, checking one is enough."""
    key, sep, value = override.partition("=")
    if sep and "," in value and not value.strip().startswith(("[", "{", "'", '"')):
        value = value.split(",")[0]
    return f"{key}{sep}{value}"


def check_overrides(argv: list[str], config_name: str = "config", validate=validate_config,
                    schema=None) -> str | None:
    """Compose the config (conf/<config_name>.yaml) with the command line's overrides and check it
    with `validate`; the one-line problem, or None. schema: the job's config class (RelateConfig)."""
    from hydra import compose, initialize_config_dir

    overrides = [_first_sweep_value(a) for a in argv if not a.startswith("-") and not a.startswith("hydra.")]
    try:
        with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides)
    except Exception as err:  # Hydra and OmegaConf raise several types; all mean a bad override
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        reason = next((line for line in lines[1:] if line.startswith(("Value ", "Key "))), "")
        return f"bad override: {lines[0]}" + (f" {reason}" if reason else "")
    for override in overrides:
        unknown = unknown_added_key(override, schema)
        if unknown:
            return f"bad override: {override}: the config has no key {unknown} (a + adds only a config group " \
                   f"option or a key of a free dict, such as reward.components.NAME.options)"
    try:
        validate(cfg)
    except USER_ERRORS as err:
        return str(err)
    return None


def unknown_added_key(override: str, schema=None) -> str | None:
    """For `+a.b=v` / `++a.b=v`: the first part of the key the schema does not know, or None.

    `+group=option` appends a config group (conf/<group>/), and keys under a free dict (the reward
    components, a component's options) are the user's to add; every other key must be in the
    schema, or Hydra would take a typo (`+trainer.stesp=10`) without a word."""
    from omegaconf import DictConfig, OmegaConf

    from relate_ray.config import RelateConfig

    if not override.startswith("+"):
        return None
    parts = override.lstrip("+").split("=", 1)[0].split(".")
    if len(parts) == 1 and (DEFAULT_CONF_DIR / parts[0]).is_dir():
        return None
    node = OmegaConf.structured(schema or RelateConfig)
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return None  # under a leaf the user may fill with anything
        element = node._metadata.element_type
        if OmegaConf.get_type(node) is dict:
            if not dataclasses.is_dataclass(element):
                return None  # a free dict of plain values: any key
            node = OmegaConf.structured(element)  # a named entry of typed items: go on in the item's schema
            continue
        if part not in node:
            return ".".join(parts[: depth + 1])
        node = node._get_node(part)
    return None


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from relate_ray.trainer.plan import build_plan, format_plan

    from relate_ray.rewards.presets import add_monitored_components

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        add_monitored_components(cfg)
        validate_config(cfg)
        if cfg.dry_run:
            sys.stdout.write(format_plan(cfg, build_plan(cfg)) + "\n")
            return
        from relate_ray.trainer.controller import Controller

        Controller(cfg, out_dir).run()
    except USER_ERRORS as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(1)
    except RUN_FAILURES as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(RUN_FAILURE_EXIT)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    log.info("outputs in %s", out_dir)


def run_job(config_name: str, schema, validate, job) -> None:
    """The `__main__` of a Hydra job beside the main one (`evaluate`, `sft`): a bad override or value
    is one line and exit 2 before anything starts; then `job(cfg)` runs under conf/<config_name>.yaml,
    a user error in it is one line and exit 1, and Ray is shut down whatever happens."""
    problem = check_overrides(sys.argv[1:], config_name, validate, schema)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        sys.exit(2)

    # Absolute: Hydra resolves a relative path against the module that declares the function, which
    # here is not the job's own __main__.
    @hydra.main(config_path=str(DEFAULT_CONF_DIR), config_name=config_name, version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        try:
            validate(cfg)
            job(cfg)
        except USER_ERRORS as err:
            sys.stderr.write(f"error: {err}\n")
            sys.exit(1)
        finally:
            import ray

            if ray.is_initialized():
                ray.shutdown()

    _main()


if __name__ == "__main__":
    problem = check_overrides(sys.argv[1:])
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        sys.exit(2)
    main()
