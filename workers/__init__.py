"""Execution: executors, the trial entry point, trial stores and the job runner (scheduler)."""

from nas.moved import moved

moved(
    {  # issue 27's renames: the old paths import the new modules
        "workers.leaderboard": "workers.ranking",
        "workers.oracle": "workers.simulation",
    }
)
