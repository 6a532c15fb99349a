"""Killing real actors by their pid in the middle of a step, as `kill -9` would (slow).

Each run is the main job (`python -m relate_ray.launch`) at tiny size with the model3 preset (rules,
CTCVR and the stateful diversity scorer). A step is caught in its rollout by the rollout actor's
process title, which Ray sets to `ray::RolloutWorker.generate` while it generates. Every killed
run is held against one uninterrupted run of the same config: the same samples, rewards, losses
and diversity window mean nothing was lost or counted twice.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from test_training_e2e import GRADED_CTCVR, TINY, read_metrics

pytestmark = pytest.mark.slow

STEPS = 4
COMPARED = ("batch/samples", "reward/total", "reward/diversity", "reward/ctcvr", "loss", "kl", "grad_norm",
            "sync/rollout_checksum", "sync/version")


@pytest.fixture(scope="module")
def config(tiny_policy_dir):
    # 48 new tokens: the rollout is long enough to be caught mid-generation.
    return [f"model.policy={tiny_policy_dir}", *TINY, "rollout.max_new_tokens=48", "reward=model3", GRADED_CTCVR,
            f"trainer.steps={STEPS}"]


class Run:
    """The main job in a subprocess, watched from outside as a user's shell would."""

    def __init__(self, run_dir: Path, *overrides: str) -> None:
        self.run_dir = run_dir
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        attempt = len(list(run_dir.parent.glob(f"{run_dir.name}*.stderr")))
        self.stderr = open(run_dir.parent / f"{run_dir.name}.{attempt}.stderr", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "relate_ray.launch", *overrides,
                                      f"hydra.run.dir={run_dir}"], stdout=subprocess.DEVNULL, stderr=self.stderr, env=env)

    def rows(self) -> list[dict]:
        path = self.run_dir / "metrics.jsonl"
        return read_metrics(self.run_dir) if path.exists() and path.read_text().endswith("\n") else []

    def wait_for(self, what, timeout: float = 600.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            assert self.proc.poll() is None, f"the run ended early: {self.error()}"
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def generating_pid(self, after_step: int) -> int:
        """The rollout actor's pid while it generates the step after `after_step`."""
        self.wait_for(lambda: len(self.rows()) >= after_step)
        return self.wait_for(lambda: next(iter(processes("ray::RolloutWorker.generate", self.proc.pid)), None)).pid

    def actor_pid(self, name: str) -> int:
        """From the run's log line `actor pids: rollout-0=123, ...`."""
        line = self.wait_for(lambda: next((ln for ln in (self.run_dir / "launch.log").read_text().splitlines()
                                           if "actor pids:" in ln), None) if (self.run_dir / "launch.log").exists() else None)
        pids = dict(item.split("@")[0].split("=") for item in line.split("actor pids: ")[1].split(", "))
        return int(pids[name])

    def finish(self, timeout: float = 900.0) -> int:
        return self.proc.wait(timeout=timeout)

    def error(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]


def processes(title: str, driver: int | None = None) -> list[psutil.Process]:
    """Processes whose title (as Ray sets it: ray::Class or ray::Class.method) starts with `title`;
    with `driver`, only that run's (its local Ray's actors descend from it): the suite runs in
    parallel, and another test's cluster has actors of the same names."""
    if driver is None:
        candidates = psutil.process_iter(["cmdline"])
    else:
        try:
            candidates = psutil.Process(driver).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
    found = []
    for process in candidates:
        try:
            if " ".join(process.cmdline()).startswith(title):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # ended while listed
    return found


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def assert_same_steps(run_dir: Path, straight_dir: Path, steps: range) -> None:
    rows, straight = read_metrics(run_dir), read_metrics(straight_dir)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # each step once
    for step in steps:
        for key in COMPARED:
            assert rows[step - 1][key] == pytest.approx(straight[step - 1][key], rel=1e-5, abs=1e-7), (step, key)


def reward_state(run_dir: Path) -> dict:
    return json.loads((run_dir / "checkpoints" / f"step_{STEPS}" / "reward_state.json").read_text())


def sampler_state(run_dir: Path) -> dict:
    return json.loads((run_dir / "checkpoints" / f"step_{STEPS}" / "trainer_state.json").read_text())["sampler"]


def sampled_texts(run_dir: Path) -> list[tuple[int, str]]:
    """(step, text) of every logged sample, each step once (a resume drops what it runs again)."""
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return [(row["step"], row["text"]) for row in rows]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, config):
    run_dir = tmp_path_factory.mktemp("faults") / "straight"
    run = Run(run_dir, *config)
    assert run.finish() == 0, run.error()
    return run_dir


def test_a_worker_that_keeps_dying_stops_the_run_with_one_line_and_keeps_its_checkpoint(straight, config):
    from relate_ray.trainer.checkpoint import latest_checkpoint

    run = Run(straight.parent / "lost", *config, "fault.max_restarts=0")
    kill(run.generating_pid(after_step=1))
    assert run.finish() == 3
    message = run.error().strip().splitlines()[-1]
    assert message.startswith("error: rollout-0 died") and "fault.max_restarts=0" in message
    # The step before the death is kept; resuming from a checkpoint is tested after a killed driver below.
    folder, state = latest_checkpoint(run.run_dir)
    assert folder.name == "step_1" and state["step"] == 1


def test_workers_and_then_the_driver_killed_mid_step_lose_nothing_and_resume_to_the_uninterrupted_run(straight, config):
    # One run meets three deaths, each while the rollout generates: the rollout actor in step 2, the
    # stateful diversity scorer in step 3 (its next call meets a restarted, empty process), the driver
    # in step 4, after step 3's checkpoint. One run for the three: each launch costs ~40 s of start-up.
    run = Run(straight.parent / "faults", *config)
    kill(run.generating_pid(after_step=1))
    diversity = run.actor_pid("reward-diversity")
    run.generating_pid(after_step=2)
    kill(diversity)
    run.generating_pid(after_step=3)  # mid-step 4
    actors = [p for role in ("ray::RolloutWorker", "ray::LearnerWorker", "ray::RewardWorker")
              for p in processes(role, run.proc.pid)]
    assert len(actors) >= 5
    kill(run.proc.pid)
    run.finish(timeout=60)
    # Ray ends the dead driver's actors (and their engines) by itself.
    gone, alive = psutil.wait_procs(actors, timeout=120)
    assert not alive, [p.pid for p in alive]
    # Ray 2.60 leaves the dead cluster's dashboard and runtime-env agents behind, orphaned.
    for agent in processes("ray::DashboardAgent") + processes("ray::RuntimeEnvAgent"):
        if agent.ppid() == 1:
            agent.kill()
    rows = read_metrics(run.run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [r["faults/restarts"] for r in rows] == [0, 1, 1]
    assert rows[-1]["faults/restarts_total"] == 2
    log = (run.run_dir / "launch.log").read_text()
    assert "rollout-0 died" in log and "reward-diversity" in log
    # Exact resume: the same prompts, the same samples (the sampler is reseeded per step), the same
    # optimizer state and diversity window, so the resumed step 4 is an uninterrupted run's step 4.
    # Before it, the redone shares were the samples an uninterrupted run draws, with its weights, and
    # the diversity window got its state back and remembered every step once.
    resumed = Run(run.run_dir, *config, "resume=true")
    assert resumed.finish() == 0, resumed.error()
    assert_same_steps(run.run_dir, straight, range(1, STEPS + 1))
    assert sampled_texts(run.run_dir) == sampled_texts(straight)
    assert sampler_state(run.run_dir) == sampler_state(straight)
    assert sampler_state(straight)["position"] == STEPS * 2  # trainer.prompts_per_step=2, drawn in order
    assert reward_state(run.run_dir) == reward_state(straight)


def test_an_engine_lost_to_a_gloo_broadcast_stops_the_run_in_one_line_at_once(tmp_path, config):
    # The rollout engine dies while the learner trains step 2; its weight sync then meets a restarted
    # engine that holds no place in the broadcast group. The learner would wait in the broadcast for
    # sync.timeout_s (300 s) and the run end in a traceback; it stops at once instead, naming the engine.
    run = Run(tmp_path / "gloo", *config, "sync.backend=gloo")
    run.wait_for(lambda: len(run.rows()) >= 1)
    rollout = run.actor_pid("rollout-0")
    run.wait_for(lambda: next(iter(processes("ray::LearnerWorker.train_step", run.proc.pid)), None))
    kill(rollout)
    assert run.finish(timeout=120) == 3
    message = run.error().strip().splitlines()[-1]
    assert message.startswith("error: rollout-0 was lost during the gloo weight sync of version 2"), message
    assert "resume=true" in message
    from relate_ray.trainer.checkpoint import latest_checkpoint

    assert latest_checkpoint(run.run_dir)[0].name == "step_1"
