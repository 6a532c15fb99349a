"""The run's plan: every actor it starts, what each asks of the cluster, and where it is placed.

One value, built from the config and the reward registry before Ray starts. `dry_run=true` prints
it; `build_actors` creates exactly its actors, in its order, with its names, resources and
placement-group bundles, and nothing else (tests/test_plan_matches_ray.py reads Ray's actor table
back against it). Actor names (namespace `relate_ray`) make health readable on the Ray dashboard:
rollout-<i>, learner-rank<r>, reward-<group>-<i> (reward-<group> for a stateful group's one member).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from relate_ray.rewards.registry import reward_spec

# cluster.*_placement -> Ray's placement-group strategy ("none": no group, Ray places each actor).
STRATEGIES = {"pack": "PACK", "spread": "SPREAD", "strict_pack": "STRICT_PACK", "strict_spread": "STRICT_SPREAD"}


@dataclass(frozen=True)
class ActorSpec:
    name: str
    kind: str  # rollout | learner | reward
    index: int  # the rollout worker's index, the learner's rank, the reward group member's index
    label: str  # what the actor is, for the dry run
    cpus: float
    gpus: float
    resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources
    placement: str | None = None  # the placement group that holds it, and its bundle there
    bundle: int = -1
    group: str = ""  # reward actors: the group, the components it hosts, and whether one of them keeps
    components: tuple[str, ...] = ()  # state (the group is then this one member, seeing whole batches)
    stateful: bool = False
    env: dict[str, str] = field(default_factory=dict)  # learner ranks: the torch.distributed environment

    def bundle_resources(self) -> dict[str, float]:
        """What this actor's placement-group bundle reserves: exactly what the actor asks."""
        return {"CPU": self.cpus, **({"GPU": self.gpus} if self.gpus else {}), **self.resources}


@dataclass(frozen=True)
class PlacementSpec:
    name: str
    strategy: str  # Ray's: PACK, SPREAD, STRICT_PACK, STRICT_SPREAD
    bundles: tuple[dict[str, float], ...]  # what each bundle reserves


@dataclass(frozen=True)
class RunPlan:
    actors: tuple[ActorSpec, ...]
    placements: tuple[PlacementSpec, ...] = ()

    def of(self, kind: str) -> list[ActorSpec]:
        return [a for a in self.actors if a.kind == kind]

    def reward_groups(self) -> dict[str, list[ActorSpec]]:
        """Reward actors by group, groups in plan order."""
        groups: dict[str, list[ActorSpec]] = {}
        for a in self.of("reward"):
            groups.setdefault(a.group, []).append(a)
        return groups


def reward_group_layout(components) -> dict[str, dict]:
    """{group: {"components": (names...), "stateful": bool, "uses_gpu": bool}} from the registry,
    groups sorted by name. A group with a stateful component runs as one member."""
    groups: dict[str, dict] = {}
    for name in components:
        spec = reward_spec(name)
        g = groups.setdefault(spec.group, {"components": (), "stateful": False, "uses_gpu": False})
        g["components"] += (name,)
        g["stateful"] |= spec.stateful
        g["uses_gpu"] |= spec.uses_gpu
    return dict(sorted(groups.items()))


def build_plan(cfg) -> RunPlan:
    """Every actor the run starts, from the config and the reward registry."""
    cl = cfg.cluster
    actors = [ActorSpec(f"rollout-{i}", "rollout", i, "RolloutWorker (vLLM)", 1, cl.gpus_per_rollout_worker,
                        dict(cl.rollout_resources)) for i in range(cfg.rollout.num_workers)]
    ranks = cfg.learner.num_ranks
    actors += [ActorSpec(f"learner-rank{r}", "learner", r, "LearnerWorker (DeepSpeed ZeRO-2)", 1,
                         cl.gpus_per_learner_rank, dict(cl.learner_resources),
                         env={"RANK": str(r), "WORLD_SIZE": str(ranks), "LOCAL_RANK": "0",
                              "MASTER_ADDR": "<node of learner-rank0>"})
               for r in range(ranks)]
    for group, layout in reward_group_layout(cfg.reward.components).items():
        size = 1 if layout["stateful"] else cfg.reward_workers.pool_size
        gpus = cl.gpus_per_judge if layout["uses_gpu"] else 0.0
        label = f"RewardWorker ({', '.join(layout['components'])})"
        actors += [ActorSpec(f"reward-{group}" + ("" if layout["stateful"] else f"-{i}"), "reward", i, label, 1,
                             gpus, dict(cl.reward_resources), group=group, components=layout["components"],
                             stateful=layout["stateful"])
                   for i in range(size)]
    return RunPlan(*_place(cfg, actors))


def _place(cfg, actors: list[ActorSpec]) -> tuple[tuple[ActorSpec, ...], tuple[PlacementSpec, ...]]:
    """Assign bundles. Per role (cluster.rollout_placement / learner_placement): one group, one
    bundle per actor holding exactly its ask. With cluster.colocate: one group of one whole-GPU
    bundle per learner rank, which rank r, rollout worker i (bundle i mod ranks) and each GPU reward
    member share, so no two ranks can land on one device."""
    cl = cfg.cluster
    where: dict[str, tuple[str, int]] = {}
    placements = []
    if cl.colocate:
        ranks = cfg.learner.num_ranks
        shared = [a for a in actors if a.gpus]
        for a in shared:
            where[a.name] = ("colocated", a.index % ranks)
        bundles = []
        for b in range(ranks):
            members = [a for a in shared if where[a.name][1] == b]
            bundle: dict[str, float] = {"CPU": sum(a.cpus for a in members), "GPU": 1.0}
            for a in members:
                for key, amount in a.resources.items():
                    bundle[key] = bundle.get(key, 0.0) + amount
            bundles.append(bundle)
        placements.append(PlacementSpec("colocated", STRATEGIES.get(cl.learner_placement, "PACK"), tuple(bundles)))
    for kind, choice in (("rollout", cl.rollout_placement), ("learner", cl.learner_placement)):
        members = [a for a in actors if a.kind == kind and a.name not in where]
        if choice != "none" and members:
            for i, a in enumerate(members):
                where[a.name] = (kind, i)
            placements.append(PlacementSpec(kind, STRATEGIES[choice], tuple(a.bundle_resources() for a in members)))
    placed = tuple(replace(a, placement=where[a.name][0], bundle=where[a.name][1]) if a.name in where else a
                   for a in actors)
    return placed, tuple(placements)


def colocated_gpu_overflow(plan: RunPlan) -> list[str]:
    """Bundles of the colocated group whose members ask more than one GPU in total."""
    totals: dict[int, list[ActorSpec]] = {}
    for a in plan.actors:
        if a.placement == "colocated":
            totals.setdefault(a.bundle, []).append(a)
    return [f"bundle {b}: " + " + ".join(f"{a.name} {a.gpus:g}" for a in members)
            + f" = {sum(a.gpus for a in members):g}" for b, members in sorted(totals.items())
            if sum(a.gpus for a in members) > 1 + 1e-9]


def format_plan(cfg, plan: RunPlan) -> str:
    """The plan as the dry run prints it (and the run logs it)."""
    gpus = sum(a.gpus for a in plan.actors)
    lines = [f"resource plan: {len(plan.actors)} actors, {sum(a.cpus for a in plan.actors):g} CPUs, {gpus:g} GPUs",
             f"  policy {cfg.model.policy}; G={cfg.rollout.group_size}; "
             f"global batch {cfg.trainer.prompts_per_step * cfg.rollout.group_size} samples "
             f"({cfg.trainer.prompts_per_step} prompts); ZeRO-2 over {cfg.learner.num_ranks} ranks; "
             f"sync backend {cfg.sync.backend}"]
    for a in plan.actors:
        where = f" pg={a.placement}[{a.bundle}]" if a.placement else ""
        lines.append(f"  {a.name:<22} {a.label:<34} cpu={a.cpus:g} gpu={a.gpus:g}"
                     + "".join(f" {k}={v:g}" for k, v in sorted(a.resources.items())) + where
                     + "".join(f" {k}={v}" for k, v in a.env.items()))
    for p in plan.placements:
        lines.append(f"  placement group {p.name}: {p.strategy}, bundles "
                     + ", ".join("{" + " ".join(f"{k}={v:g}" for k, v in b.items()) + "}" for b in p.bundles))
    if gpus:
        lines.append("  GPUs: an actor asking a fraction < 1 shares a device with others (colocation)")
    return "\n".join(lines)
