"""Ray start-up, the checks that a plan fits the cluster, and the placement of each planned actor."""

from __future__ import annotations

import logging
import os

import ray

from relate_ray.trainer.plan import ActorSpec, RunPlan

log = logging.getLogger(__name__)
NAMESPACE = "relate_ray"


class PlacementError(RuntimeError):
    """The cluster cannot hold the plan's actors (too few CPUs or GPUs): a user-facing, one-line stop."""


def check_placeable(plan: RunPlan, resources: dict) -> None:
    """Raise PlacementError when the cluster's totals (ray.cluster_resources()) cannot hold the
    plan: Ray would leave the extra actors pending forever, with no message."""
    actors = plan.actors
    lines = []
    asked = {"CPU": lambda a: a.cpus, "GPU": lambda a: a.gpus}
    for name in sorted({k for a in actors for k in a.resources}):
        asked[name] = lambda a, name=name: a.resources.get(name, 0.0)
    for key, amount in asked.items():
        need = sum(amount(a) for a in actors)
        have = float(resources.get(key, 0.0))
        if need > have + 1e-9:
            roles = ", ".join(f"{a.name} {amount(a):g}" for a in actors if amount(a))
            unit = f"{key}s" if key in ("CPU", "GPU") else f"of resource {key}"
            lines.append(f"the plan needs {need:g} {unit} ({roles}) and the cluster has {have:g}")
    if lines:
        raise PlacementError("cluster: " + "; ".join(lines) + " (add nodes, raise cluster.num_cpus, or shrink "
                             "rollout.num_workers / learner.num_ranks / reward_workers.pool_size)")


def start_ray(cfg, plan: RunPlan) -> None:
    """Start a local Ray instance (cluster.address=local) or join an existing cluster."""
    if cfg.cluster.address == "local":
        # Logical CPUs: actors take turns (the loop is sequential), so they may outnumber cores.
        num_cpus = cfg.cluster.num_cpus or max(len(plan.actors) + 1, os.cpu_count() or 1)
        os.environ["RAY_memory_usage_threshold"] = str(cfg.cluster.memory_kill_threshold)  # read by the raylet it starts
        # address="local": a new instance even when `ray start` left a cluster on this machine, which a
        # bare ray.init() would join (and refuse, since num_cpus is given).
        context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=cfg.cluster.include_dashboard,
                           dashboard_host="127.0.0.1", namespace=NAMESPACE, log_to_driver=False)
    else:
        context = ray.init(address=cfg.cluster.address, namespace=NAMESPACE, log_to_driver=False)
    if context.dashboard_url:
        log.info("Ray dashboard: http://%s (actors in namespace %s)", context.dashboard_url, NAMESPACE)
    check_placeable(plan, ray.cluster_resources())


def start_job_ray(cfg) -> None:
    """Ray for a job without a run plan (evaluate, sft): a local instance (no dashboard) or the
    cluster at cluster.address; nothing if this process already has one."""
    if ray.is_initialized():
        return
    if cfg.cluster.address == "local":
        ray.init(address="local", num_cpus=max(4, os.cpu_count() or 1), include_dashboard=False, namespace=NAMESPACE,
                 log_to_driver=False)
    else:
        ray.init(address=cfg.cluster.address, namespace=NAMESPACE, log_to_driver=False)


def reserve_placement_groups(plan: RunPlan, timeout_s: float) -> dict:
    """One Ray placement group per planned group, ready: {name: PlacementGroup}. A group the
    cluster cannot reserve within `timeout_s` (STRICT_PACK bundles no single node holds, say)
    raises PlacementError naming it and its bundles."""
    from ray.util.placement_group import placement_group, remove_placement_group

    if not plan.placements:
        return {}
    groups = {p.name: placement_group(list(p.bundles), strategy=p.strategy) for p in plan.placements}
    refs = {p.name: groups[p.name].ready() for p in plan.placements}
    _, waiting = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    late = [p for p in plan.placements if refs[p.name] in waiting]
    if late:
        for group in groups.values():
            remove_placement_group(group)
        raise PlacementError("cluster: placement group " + "; ".join(
            f"{p.name} ({p.strategy}, bundles {list(p.bundles)})" for p in late)
            + f" not reserved after cluster.start_timeout_s={timeout_s:g} s (no node, or set of nodes, holds "
              "its bundles that way: add nodes, or set cluster.rollout_placement / cluster.learner_placement)")
    return groups


def actor_options(actor: ActorSpec, groups: dict) -> dict:
    """The Ray `.options()` that place `actor` as planned: its name, resources and bundle."""
    options = {"name": actor.name, "num_cpus": actor.cpus, "num_gpus": actor.gpus}
    if actor.resources:
        options["resources"] = dict(actor.resources)
    if actor.placement:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            groups[actor.placement], placement_group_bundle_index=actor.bundle)
    return options
