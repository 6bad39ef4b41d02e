"""What a trial's Ray actor asks for, the capacity a cluster gives, and what a trial no node can
host waits for (``workers.executors.ray_resources``): pure functions, no Ray."""

from __future__ import annotations

import pytest

from workers.executors.ray_resources import (
    CPU,
    GPU,
    GPU_RESOURCE_ENV,
    Shape,
    gpu_resource,
    offered,
    shape_of,
    slots,
    waiting_notice,
)


def test_a_trials_gpus_become_its_actors_request() -> None:
    assert shape_of(0.25, GPU, cluster_gpus=0) == Shape(GPU, 0.25)
    assert shape_of(2, "fake_gpu", cluster_gpus=0) == Shape("fake_gpu", 2)
    assert shape_of(0, GPU, cluster_gpus=4) == Shape(CPU, 1)  # 0: CPU only, GPUs or not
    # None: the executor's choice, one GPU when the cluster has any
    assert shape_of(None, GPU, cluster_gpus=4) == Shape(GPU, 1)
    assert shape_of(None, GPU, cluster_gpus=0) == Shape(CPU, 1)

    assert Shape(CPU, 1).options() == {"num_cpus": 1}
    assert Shape(GPU, 0.25).options() == {"num_cpus": 0, "num_gpus": 0.25}
    assert Shape("fake_gpu", 0.5).options() == {"num_cpus": 0, "resources": {"fake_gpu": 0.5}}
    assert Shape("fake_gpu", 0.5).stand_in and not Shape(GPU, 0.5).stand_in
    assert not Shape(CPU, 1).stand_in


def test_the_stand_in_resource_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GPU_RESOURCE_ENV, raising=False)
    assert gpu_resource() == GPU
    monkeypatch.setenv(GPU_RESOURCE_ENV, "fake_gpu")
    assert gpu_resource() == "fake_gpu"


def test_capacity_is_what_the_cluster_holds_of_the_shapes_in_use() -> None:
    cluster = {"CPU": 3.0, GPU: 2.0, "memory": 1e9}
    assert slots([Shape(CPU, 1)], cluster) == 3
    assert slots([Shape(GPU, 0.25)], cluster) == 8  # four trials per GPU
    assert slots([Shape(GPU, 1), Shape(CPU, 1)], cluster) == 3
    assert slots([Shape(GPU, 0.3)], cluster) == 6  # 2 / 0.3, rounded down
    # no room at all: one, so the trial is handed to Ray and waits there (visibly)
    assert slots([Shape("fake_gpu", 0.5)], cluster) == 1
    assert slots([Shape(CPU, 1)], {}) == 1


def test_a_shape_no_node_can_host_waits_for_a_node_that_has_it() -> None:
    nodes = [{"CPU": 1.0, "node_a": 1.0}, {"CPU": 0.0, "fake_gpu": 0.5}]
    assert offered(Shape(CPU, 1), nodes)
    assert offered(Shape("fake_gpu", 0.5), nodes)
    assert not offered(Shape("fake_gpu", 1), nodes)  # 0.5 on a node, 1 in none
    assert not offered(Shape(GPU, 0.25), nodes)
    assert not offered(Shape(CPU, 1), [])
    assert waiting_notice(Shape(GPU, 0.25)) == "a node with 0.25 GPU"
    assert waiting_notice(Shape("fake_gpu", 1)) == "a node with 1 fake_gpu"
