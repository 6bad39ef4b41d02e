"""The server's executors, looked up by name (``NAS_EXECUTOR``, ``nas serve --executor``).

``names()`` lists them; ``get(name)`` returns the builder, which makes the executor from the
server's settings; ``executor_factory(settings)`` is what the scheduler calls (in its own thread,
so a Ray bridge or worker pool starts only when a job runs). ``Settings.executor`` accepts exactly
these names (a test checks that the two agree).
"""

from __future__ import annotations

from collections.abc import Callable

from api.settings import Settings
from nas.registry import Registry
from workers.executors.interface import Executor, InlineExecutor
from workers.executors.priority import NICE_ENV

ExecutorFactory = Callable[[], Executor]
ExecutorBuilder = Callable[[Settings], Executor]
EXECUTORS: Registry[ExecutorBuilder] = Registry("executor")
register = EXECUTORS.register
"""Decorator: make ``builder`` the executor ``name``."""


@register("local")
def _local(settings: Settings) -> Executor:
    """A pool of worker processes on this machine."""
    from workers.executors.local_workers import LocalExecutor

    return LocalExecutor(
        capacity=settings.max_parallel_trials,
        heartbeat_timeout=settings.heartbeat_timeout,
        nice=settings.worker_nice,
    )


@register("ray")
def _ray(settings: Settings) -> Executor:
    """Ray actors, driven from a supervised bridge process (the server outlives its cluster)."""
    from workers.executors.ray_supervised import SupervisedRayExecutor

    return SupervisedRayExecutor(
        address=settings.ray_address,
        heartbeat_timeout=settings.heartbeat_timeout,
        gpu_resource=settings.ray_gpu_resource,
        env={NICE_ENV: str(settings.worker_nice)},  # a local Ray's actors inherit it
    )


@register("inline")
def _inline(settings: Settings) -> Executor:
    """Trials run in the scheduler's own thread, one at a time (tests, small demos)."""
    return InlineExecutor()


def names() -> list[str]:
    return EXECUTORS.names()


def get(name: str) -> ExecutorBuilder:
    return EXECUTORS.get(name)


def executor_factory(settings: Settings) -> ExecutorFactory:
    """The executor named by the settings, made when called (in the scheduler thread)."""
    build = get(settings.executor)
    return lambda: build(settings)


__all__ = [
    "EXECUTORS",
    "ExecutorBuilder",
    "ExecutorFactory",
    "executor_factory",
    "get",
    "names",
    "register",
]
