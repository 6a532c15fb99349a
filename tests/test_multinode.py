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
        stop_cluster(int(env["RAY_PORT"]))


def stop_cluster(port: int) -> None:
    """End this test's two nodes and everything they started, and nothing else: `ray stop` would end
    every Ray on the machine, another test's cluster too when the suite runs in parallel. Each of
    the nodes' processes names the head's port in its command line (gcs_server's --gcs_server_port,
    the others' --gcs-address); the workers and agents descend from them."""
    import psutil

    def ours(process: psutil.Process) -> bool:
        try:
            line = " ".join(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return f"--gcs_server_port={port}" in line or f":{port}" in line

    roots = [p for p in psutil.process_iter() if p.pid != os.getpid() and ours(p)]
    tree = {p.pid: p for root in roots for p in [root, *_descendants(root)]}
    for process in tree.values():
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    # The GCS server and the autoscaler's monitor outlive a SIGTERM by 15 s and more (measured): the
    # cluster's state goes with the test, so what is left after 3 s is killed.
    _, alive = psutil.wait_procs(list(tree.values()), timeout=3)
    for process in alive:
        process.kill()
    # As `ray stop` does: the file that announces the head to `ray.init(address="auto")` goes too.
    announced = Path("/tmp/ray/ray_current_cluster")
    if announced.is_file() and announced.read_text().strip().endswith(f":{port}"):
        announced.unlink()


def _descendants(process):
    import psutil

    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


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
