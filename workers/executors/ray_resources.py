"""What a trial's Ray actor asks for (its ``Shape``), how many trials a cluster runs at once, and
whether any node of the cluster could ever host a shape. Pure functions of the cluster's
resources as Ray reports them (``ray.cluster_resources()``, each alive node's ``Resources``),
so they are tested without Ray.

A request's GPUs (``TrialRequest.gpus``, the job's ``resources.gpus_per_trial``) become a
request of the resource named by ``NAS_RAY_GPU_RESOURCE``: ``GPU`` by default, or a custom
resource that stands in for it on machines without one (tests: ``fake_gpu``, given to a node by
``ray start --resources '{"fake_gpu": 1}'``). None: one GPU when the cluster has any, else one
CPU (the executor's choice); 0: one CPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GPU_RESOURCE_ENV = "NAS_RAY_GPU_RESOURCE"
CPU = "CPU"
GPU = "GPU"


def gpu_resource() -> str:
    """The Ray resource a trial's GPUs are asked as (``NAS_RAY_GPU_RESOURCE``, else ``GPU``)."""
    return os.environ.get(GPU_RESOURCE_ENV) or GPU


@dataclass(frozen=True)
class Shape:
    """One actor's resource request: ``amount`` of ``resource`` (``CPU``, ``GPU`` or a stand-in
    custom resource). A GPU-shaped actor reserves no CPU: fractional trials share a GPU."""

    resource: str
    amount: float

    @property
    def stand_in(self) -> bool:
        """A custom resource standing in for GPUs: the trial trains on the CPU by design."""
        return self.resource not in (CPU, GPU)

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``ray.remote(...).options`` for an actor of this shape."""
        if self.resource == CPU:
            return {"num_cpus": self.amount}
        if self.resource == GPU:
            return {"num_cpus": 0, "num_gpus": self.amount}
        return {"num_cpus": 0, "resources": {self.resource: self.amount}}

    def describe(self) -> str:
        """``0.25 GPU``, ``1 CPU``, ``0.5 fake_gpu``."""
        return f"{self.amount:g} {self.resource}"


def shape_of(gpus: float | None, gpu_name: str, cluster_gpus: float) -> Shape:
    """The shape of a trial that reserves ``gpus`` (None: one GPU when the cluster has any of
    ``gpu_name``, else one CPU)."""
    if gpus is None:
        return Shape(gpu_name, 1.0) if cluster_gpus > 0 else Shape(CPU, 1.0)
    return Shape(gpu_name, gpus) if gpus > 0 else Shape(CPU, 1.0)


def slots(shapes: Iterable[Shape], resources: Mapping[str, float]) -> int:
    """Trials the cluster runs at once: the most of any shape in use that its totals hold (at
    least 1: with no room at all, a trial waits in Ray for a node, and says so)."""
    most = 0
    for shape in shapes:
        total = resources.get(shape.resource, 0.0)
        most = max(most, math.floor(total / shape.amount + 1e-9))
    return max(1, most)


def offered(shape: Shape, nodes: Iterable[Mapping[str, float]]) -> bool:
    """Whether some node's total resources hold one actor of ``shape``: if none does, its
    trials wait for a node to join (none of the cluster's will ever host them)."""
    return any(node.get(shape.resource, 0.0) + 1e-9 >= shape.amount for node in nodes)


def waiting_notice(shape: Shape) -> str:
    """What a trial no node can host waits for: ``a node with 0.25 GPU``."""
    return f"a node with {shape.describe()}"
