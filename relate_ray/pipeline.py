"""`python -m relate_ray.pipeline out=DIR [seeds=[0,1]] [judge=NAME|DIR] [any run override]`

The paper's Table 1 comparison in one command, stage by stage, each a job of its own (a process
with its own Ray instance, its log in DIR/logs/):

  sft               DIR/sft/                 the cold start: SFT on the logged best ads (`relate_ray.sft`)
  eval_sft_vs_nlg   DIR/eval_sft_vs_nlg/     SFT + post-processing against NLG (the base model, prompted)
  relate_seed<S>    DIR/relate_seed<S>/      RELATE from the SFT checkpoint (`relate_ray.launch`)
  eval_seed<S>_vs_sft DIR/eval_seed<S>_vs_sft/ the RELATE checkpoint against SFT + post-processing
  report            DIR/report/              Table 1 over the seeds, GSB, Figure 3 (report.md, report.json)

A stage whose output is complete is skipped, so a killed pipeline resumes where it stopped (a
RELATE run killed mid-training continues from its last checkpoint). Every evaluation runs on the same
held-out requests with the same market (data.seed), so RELATE's ΔCTCVR against NLG is paired
through the requests both evaluations share.

Overrides go to every job that knows the key (`model.dtype=float32` to all, `trainer.*` and `learner.*`
to training, `eval.*` to the evaluations, `sft.*` to the cold start). Without `+experiment=...` the
training stage adds `+experiment=cold_start_cpu` (RL sized for a 2-core machine, from SFT);
`+experiment=paper` takes the paper's sizes instead. Bad input: one line, exit 2, before any stage.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("relate_ray.pipeline")

DONE = ".stage_done"  # written into a stage's folder when its job exited 0
DEFAULT_EXPERIMENT = "cold_start_cpu"
# Keys only one job's schema has: they go to that job alone.
EVAL_ONLY = ("eval.", "checkpoint=", "baseline=", "postprocess=")
SFT_ONLY = ("sft.",)


class PipelineError(Exception):
    """A stage failed or the pipeline was asked something it cannot do; one line."""


@dataclass
class PipelineArgs:
    out: Path
    seeds: list[int]
    judge: str = ""
    overrides: list[str] = field(default_factory=list)


def parse_args(argv: list[str]) -> PipelineArgs:
    """out=, seeds= and judge= are the pipeline's; everything else is a run override."""
    out, seeds, judge, overrides = None, [0, 1], "", []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key == "out" and sep:
            out = Path(value)
        elif key == "seeds" and sep:
            seeds = _parse_seeds(value)
        elif key == "judge" and sep:
            judge = value
        elif key == "seed" and sep:
            raise PipelineError("seed: the pipeline trains one run per seed; pass seeds=[S,...]")
        elif key.lstrip("+") in ("hydra.run.dir", "resume", "checkpoint", "baseline", "postprocess"):
            raise PipelineError(f"{key}: the pipeline sets it for each stage; remove it")
        else:
            overrides.append(arg)
    if out is None:
        raise PipelineError("out: name the pipeline's folder (out=DIR)")
    return PipelineArgs(out, seeds, judge, overrides)


def _parse_seeds(value: str) -> list[int]:
    body = value.strip().removeprefix("[").removesuffix("]")
    try:
        seeds = [int(s) for s in body.split(",") if s.strip()]
    except ValueError:
        raise PipelineError(f"seeds: must be a list of integers such as [0,1], got {value!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise PipelineError(f"seeds: must be distinct non-negative integers, got {value!r}")
    return seeds


def overrides_for(job: str, overrides: list[str]) -> list[str]:
    """The run overrides a job takes: eval.* only to evaluate, sft.* only to sft, the rest to all;
    the training job gets the CPU cold-start experiment unless another experiment is named."""
    picked = [o for o in overrides
              if not (o.lstrip("+").startswith(EVAL_ONLY) and job != "evaluate")
              and not (o.lstrip("+").startswith(SFT_ONLY) and job != "sft")]
    if job == "launch" and not any(o.lstrip("+").startswith("experiment=") for o in overrides):
        picked = [f"+experiment={DEFAULT_EXPERIMENT}", *picked]
    return picked


@dataclass
class Stage:
    """One job of the pipeline: its name, its folder, and the module with its arguments."""

    name: str
    folder: Path
    module: str
    args: list[str]
    # The user's settings this job runs with (its share of the overrides, the judge): a stage done
    # with other settings is not reused.
    settings: list[str] = field(default_factory=list)

    def done(self) -> bool:
        """Its job exited 0 (the marker), with these settings; PipelineError if with others."""
        marker = self.folder / DONE
        if not marker.is_file():
            return False
        recorded = json.loads(marker.read_text()).get("settings")
        if recorded is not None and recorded != self.settings:  # None: a marker from before settings were kept
            raise PipelineError(f"{self.name}: {self.folder} was made with other settings ({' '.join(recorded) or 'none'}; "
                                f"now {' '.join(self.settings) or 'none'}); name another out= or delete that folder")
        return True


def final_checkpoint(run_dir: Path) -> Path:
    """The newest checkpoints/step_<N> of a finished training run."""
    from relate_ray.trainer.checkpoint import step_folders

    folders = step_folders(run_dir / "checkpoints")
    if not folders:
        raise PipelineError(f"{run_dir}: the training stage finished without a checkpoint")
    return folders[0][1]  # newest first


def plan_stages(args: PipelineArgs) -> list[Stage]:
    """Every stage in order. The evaluation of a seed names its checkpoint when it runs (the
    training stage before it writes it), so its args hold a placeholder until then."""
    out = args.out.resolve()
    sft = out / "sft"
    judge = [f"eval.judge_model={args.judge}"] if args.judge else []
    # The user's overrides first, the stage's own last (the last of a key wins): model.policy is the
    # base model for the cold start and NLG, the SFT checkpoint for RELATE.
    stages = [
        Stage("sft", sft, "relate_ray.sft", [*overrides_for("sft", args.overrides), f"out={sft}"],
              overrides_for("sft", args.overrides)),
        Stage("eval_sft_vs_nlg", out / "eval_sft_vs_nlg", "relate_ray.evaluate",
              [*overrides_for("evaluate", args.overrides), f"checkpoint={sft}", "postprocess=true", "baseline=nlg",
               "eval.gsb=false", f"out={out / 'eval_sft_vs_nlg'}"], overrides_for("evaluate", args.overrides)),
    ]
    for seed in args.seeds:
        run = out / f"relate_seed{seed}"
        stages.append(Stage(f"relate_seed{seed}", run, "relate_ray.launch",
                            [*overrides_for("launch", args.overrides), f"hydra.run.dir={run}", f"model.policy={sft}",
                             f"seed={seed}"], overrides_for("launch", args.overrides)))
        stages.append(Stage(f"eval_seed{seed}_vs_sft", out / f"eval_seed{seed}_vs_sft", "relate_ray.evaluate",
                            [*overrides_for("evaluate", args.overrides), *judge,
                             "checkpoint={final:" + str(run) + "}", f"baseline=sft:{sft}",
                             f"out={out / f'eval_seed{seed}_vs_sft'}"], [*overrides_for("evaluate", args.overrides), *judge]))
    return stages


def _resolved(stage: Stage) -> list[str]:
    args = []
    for a in stage.args:
        if "{final:" in a:
            key, _, rest = a.partition("={final:")
            a = f"{key}={final_checkpoint(Path(rest.rstrip('}')))}"
        args.append(a)
    if stage.module == "relate_ray.launch":
        from relate_ray.trainer.checkpoint import latest_checkpoint

        if latest_checkpoint(stage.folder) is not None:
            args.append("resume=true")  # killed mid-training: continue from its last checkpoint
    return args


def check_stages(stages: list[Stage], out: Path) -> None:
    """Compose and check every job's config before anything runs (one line names the problem).
    The folders earlier stages will write (the SFT checkpoint, a run's final step) are left out of
    the check; the user's own paths (model.policy, data files) are checked."""
    from relate_ray.launch import check_overrides

    checked = set()
    for stage in stages:
        job = stage.module.rsplit(".", 1)[1]
        schema, validate, config = _job_schema(job)
        args = [a for a in stage.args if str(out) not in a.partition("=")[2] and "{final:" not in a
                and not a.startswith("hydra.")]
        key = (job, tuple(a for a in args if not a.startswith("seed=")))
        if key in checked:
            continue
        problem = check_overrides(args, config, validate, schema)
        if problem:
            raise PipelineError(f"{stage.name}: {problem}")
        checked.add(key)


def _job_schema(job: str):
    from relate_ray import evaluate, sft
    from relate_ray.config import RelateConfig
    from relate_ray.evaluation.config import EvaluateJobConfig, SFTJobConfig
    from relate_ray.launch import validate_run

    if job == "launch":
        return RelateConfig, validate_run, "config"
    if job == "sft":
        return SFTJobConfig, sft.validate, "sft"
    return EvaluateJobConfig, evaluate.validate, "evaluate"


def run_stage(stage: Stage, logs: Path, number: int, total: int) -> float:
    """Run one stage's job to completion (its output to logs/<name>.log); seconds taken."""
    args = _resolved(stage)
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"{stage.name}.log"
    log.info("[%d/%d] %s: running (log %s)", number, total, stage.name, log_file)
    started = time.time()
    with open(log_file, "a", encoding="utf-8") as f:
        f.write(f"$ {sys.executable} -m {stage.module} {' '.join(args)}\n")
        f.flush()
        code = subprocess.call([sys.executable, "-m", stage.module, *args], stdout=f, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.time() - started
    if code != 0:
        tail = _last_error(log_file)
        raise PipelineError(f"stage {stage.name} failed (exit {code}) after {seconds:.0f} s"
                            + (f": {tail}" if tail else "") + f"; see {log_file}")
    stage.folder.mkdir(parents=True, exist_ok=True)
    (stage.folder / DONE).write_text(json.dumps({"seconds": round(seconds, 1), "settings": stage.settings,
                                                 "args": args}) + "\n")
    log.info("[%d/%d] %s: done in %.1f min", number, total, stage.name, seconds / 60)
    return seconds


def _last_error(log_file: Path) -> str:
    lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return errors[-1] if errors else ""


def run_pipeline(args: PipelineArgs) -> Path:
    """Every stage not yet done, then the report; returns DIR/report/report.md."""
    from relate_ray.evaluation.pipeline_report import write_pipeline_report

    stages = plan_stages(args)
    check_stages(stages, args.out.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    for number, stage in enumerate(stages, 1):
        if stage.done():
            log.info("[%d/%d] %s: already done, skipped", number, len(stages) + 1, stage.name)
            continue
        run_stage(stage, args.out / "logs", number, len(stages) + 1)
    log.info("[%d/%d] report", len(stages) + 1, len(stages) + 1)
    return write_pipeline_report(args.out.resolve(), args.seeds, args.judge)


def main(argv: list[str]) -> int:
    from relate_ray.data.readers import DataFileError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        args = parse_args(argv)
        report = run_pipeline(args)
    except PipelineError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2 if "failed (exit" not in str(err) else 1
    except DataFileError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    sys.stdout.write(f"{report}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
