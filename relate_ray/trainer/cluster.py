"""Ray start-up, the resource plan, and building the named actors the controller drives.

Actor names (namespace `relate_ray`) make their health readable on the Ray dashboard:
rollout-<i>, learner-rank<r>, reward-rules-<i>, reward-diversity, reward-ctcvr-<i>, reward-judge-<i>.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import ray

log = logging.getLogger(__name__)
NAMESPACE = "relate_ray"
# Which reward group serves each component; 'diversity' is stateful (one member, whole batch).
GROUP_OF = {"length": "rules", "format": "rules", "correctness": "rules", "relevance": "rules", "risk": "rules",
            "diversity": "diversity", "ctcvr": "ctcvr", "judge": "judge"}


@dataclass
class ActorPlan:
    name: str
    role: str
    cpus: float
    gpus: float
    resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources

    def options(self) -> dict:
        """The Ray `.options()` that place this actor: built from the plan, so a dry run prints
        exactly what the run asks for."""
        return {"name": self.name, "num_cpus": self.cpus, "num_gpus": self.gpus,
                **({"resources": dict(self.resources)} if self.resources else {})}


def resource_plan(cfg) -> list[ActorPlan]:
    """Every actor the run will start, with its resources: what a dry run prints."""
    cl = cfg.cluster
    rollout, learner, reward = (dict(cl.rollout_resources), dict(cl.learner_resources), dict(cl.reward_resources))
    plan = [ActorPlan(f"rollout-{i}", "RolloutWorker (vLLM)", 1, cl.gpus_per_rollout_worker, rollout)
            for i in range(cfg.rollout.num_workers)]
    plan += [ActorPlan(f"learner-rank{r}", "LearnerWorker (DeepSpeed ZeRO-2)", 1, cl.gpus_per_learner_rank, learner)
             for r in range(cfg.learner.num_ranks)]
    groups = sorted({GROUP_OF.get(name, "rules") for name in cfg.reward.components})
    for group in groups:
        size = 1 if group == "diversity" else cfg.reward_workers.pool_size
        gpus = cl.gpus_per_judge if group == "judge" else 0.0
        role = "RewardWorker (vLLM judge)" if group == "judge" else "RewardWorker"
        plan += [ActorPlan(f"reward-{group}" + ("" if group == "diversity" else f"-{i}"), role, 1, gpus, reward)
                 for i in range(size)]
    return plan


def format_plan(cfg, plan: list[ActorPlan]) -> str:
    gpus = sum(a.gpus for a in plan)
    lines = [f"resource plan: {len(plan)} actors, {sum(a.cpus for a in plan):g} CPUs, {gpus:g} GPUs",
             f"  policy {cfg.model.policy}; G={cfg.rollout.group_size}; "
             f"global batch {cfg.trainer.prompts_per_step * cfg.rollout.group_size} samples "
             f"({cfg.trainer.prompts_per_step} prompts); ZeRO-2 over {cfg.learner.num_ranks} ranks; "
             f"sync backend {cfg.sync.backend}"]
    lines += [f"  {a.name:<22} {a.role:<34} cpu={a.cpus:g} gpu={a.gpus:g}"
              + "".join(f" {k}={v:g}" for k, v in sorted(a.resources.items())) for a in plan]
    if gpus:
        lines.append("  placement: Ray places each actor by its fractional GPU request, so rollout engines, "
                     "learner ranks and judges with fractions < 1 share devices (colocation)")
    return "\n".join(lines)


class PlacementError(RuntimeError):
    """The cluster cannot hold the plan's actors (too few CPUs or GPUs): a user-facing, one-line stop."""


def check_placeable(plan: list[ActorPlan], resources: dict) -> None:
    """Raise PlacementError when the cluster's totals (ray.cluster_resources()) cannot hold the
    plan: Ray would leave the extra actors pending forever, with no message."""
    lines = []
    asked = {"CPU": lambda a: a.cpus, "GPU": lambda a: a.gpus}
    for name in sorted({k for a in plan for k in a.resources}):
        asked[name] = lambda a, name=name: a.resources.get(name, 0.0)
    for key, amount in asked.items():
        need = sum(amount(a) for a in plan)
        have = float(resources.get(key, 0.0))
        if need > have + 1e-9:
            roles = ", ".join(f"{a.name} {amount(a):g}" for a in plan if amount(a))
            unit = f"{key}s" if key in ("CPU", "GPU") else f"of resource {key}"
            lines.append(f"the plan needs {need:g} {unit} ({roles}) and the cluster has {have:g}")
    if lines:
        raise PlacementError("cluster: " + "; ".join(lines) + " (add nodes, raise cluster.num_cpus, or shrink "
                             "rollout.num_workers / learner.num_ranks / reward_workers.pool_size)")


def start_ray(cfg, plan: list[ActorPlan]) -> None:
    """Start a local Ray instance (cluster.address=local) or join an existing cluster."""
    if cfg.cluster.address == "local":
        # Logical CPUs: actors take turns (the loop is sequential), so they may outnumber cores.
        num_cpus = cfg.cluster.num_cpus or max(len(plan) + 1, os.cpu_count() or 1)
        context = ray.init(num_cpus=num_cpus, include_dashboard=cfg.cluster.include_dashboard,
                           dashboard_host="127.0.0.1", namespace=NAMESPACE, log_to_driver=False)
    else:
        context = ray.init(address=cfg.cluster.address, namespace=NAMESPACE, log_to_driver=False)
    if context.dashboard_url:
        log.info("Ray dashboard: http://%s (actors in namespace %s)", context.dashboard_url, NAMESPACE)
    check_placeable(plan, ray.cluster_resources())
