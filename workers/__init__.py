"""Execution, in two parts: ``workers.executors`` runs trials somewhere (in this thread, local
worker processes, Ray actors) and ``workers.jobs`` runs jobs (the runner, the budget, the trial
store, confirmation, ranking and simulation against an oracle table)."""

from nas.moved import moved

_EXECUTORS = {
    "executor": "interface",
    "local_executor": "local_workers",
    "ray_executor": "ray_actors",
    "ray_supervisor": "ray_supervised",
    **{name: name for name in ("ray_bridge", "processes", "protocol", "backoff")},
    **{name: name for name in ("trial_process", "trial_entry")},
}
_JOBS = ("runner", "pool", "steps", "budget", "confirm", "store", "ranking", "simulation", "units")

moved(
    {  # issue 27's renames and the executors/jobs split: the old paths import the new modules
        "workers.leaderboard": "workers.jobs.ranking",
        "workers.oracle": "workers.jobs.simulation",
        **{f"workers.{old}": f"workers.executors.{new}" for old, new in _EXECUTORS.items()},
        **{f"workers.{name}": f"workers.jobs.{name}" for name in _JOBS},
    }
)
