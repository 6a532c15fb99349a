"""Two Ray nodes on loopback (slow), started with the launch/ scripts a cluster user runs: the
rollout engine on one node, the learner on the other (custom resources pin them), weights moving
over the gloo broadcast group, the job submitted with launch/submit.sh."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from relate_ray.sync.broadcast import free_port
from test_training_e2e import GRADED_CTCVR, TINY, read_metrics

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def two_nodes():
    # The scripts call `ray` and `python` from PATH: this interpreter's environment. Token
    # authentication off, as on a private network (else every node needs the head's token file).
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", RAY_PORT=str(free_port()),
               RAY_AUTH_MODE="disabled")

    def run(*args):
        result = subprocess.run([str(ROOT / "launch" / args[0]), *args[1:]], env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result

    try:
        run("start_head.sh", "--num-cpus=3", '--resources={"learner_node": 1}', "--include-dashboard=false")
        run("start_worker.sh", "127.0.0.1", "--num-cpus=2", '--resources={"rollout_node": 1}')
        yield run
    finally:
        subprocess.run([str(Path(sys.executable).parent / "ray"), "stop"], env=env, capture_output=True, timeout=120)


def test_rollout_and_learner_on_two_nodes_train_with_weights_over_gloo(two_nodes, tmp_path, tiny_policy_dir):
    two_nodes("submit.sh", "+cluster.rollout_resources.rollout_node=1", "+cluster.learner_resources.learner_node=1",
              "sync.backend=gloo", "reward=model2", GRADED_CTCVR, "model.dtype=float32", "trainer.steps=2",
              f"model.policy={tiny_policy_dir}", *TINY, f"hydra.run.dir={tmp_path}")
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2] and all(r["grad_norm"] > 0 for r in rows)
    # Both steps' weights reached the engine on the other node: its loaded sum changed with them.
    assert rows[0]["sync/tensors"] == 20 and rows[0]["sync/rollout_checksum"] != rows[1]["sync/rollout_checksum"]
    line = next(ln for ln in (tmp_path / "launch.log").read_text().splitlines() if "actor pids:" in ln)
    nodes = dict(re.findall(r"([\w-]+)=\d+@(\w+)", line))
    assert nodes["rollout-0"] != nodes["learner-rank0"]
