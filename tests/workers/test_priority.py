"""Trial workers run at a lower OS priority than the server (``workers.executors.priority``):
every thread of a local worker at the configured niceness, the server's setting handed to its
executors, and a process already nicer left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api.executors import get
from api.settings import Settings
from tests.fakes import DATA, collect, request
from workers.executors import ray_actors
from workers.executors.local_workers import LocalExecutor
from workers.executors.priority import DEFAULT_NICE, NICE_ENV, autogroup_nice, env_nice
from workers.executors.processes import child_env

ROOT = Path(__file__).resolve().parents[2]


def thread_nices(pid: int) -> dict[int, int]:
    """The niceness of every thread of process ``pid`` (Linux: per thread)."""
    tasks = Path(f"/proc/{pid}/task")
    return {int(t.name): os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in tasks.iterdir()}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_every_thread_of_a_local_worker_runs_at_the_configured_niceness() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    own_group = autogroup_nice()
    wanted = min(19, own + 7)
    seen: list[dict[int, int]] = []
    groups: list[int | None] = []
    with LocalExecutor(nice=wanted, heartbeat_interval=0.5) as executor:

        def look(_report: object) -> bool:
            pid = executor.pid(1)
            assert pid is not None
            seen.append(thread_nices(pid))  # mid-trial: torch's threads have started
            groups.append(autogroup_nice(pid))
            return False

        executor.submit(1, request(2), DATA, look)
        [done] = collect(executor, 1).values()
    assert done.error is None and done.result is not None
    assert seen and len(seen[0]) > 1  # the heartbeat and inbox threads at least
    assert all(set(threads.values()) == {wanted} for threads in seen)
    if autogroup_nice() is not None:  # Linux with autogroup: the worker's session's group too
        assert set(groups) == {wanted}
        assert autogroup_nice() == own_group  # not the server's (here: the test's)
    assert os.getpriority(os.PRIO_PROCESS, 0) == own  # the server (here: the test) is untouched


def run_python(code: str, env: dict[str, str], nice: int = 0) -> str:
    """What ``code`` prints, run in a new Python process ``nice`` nicer than this one."""
    done = subprocess.run(
        [sys.executable, "-c", f"import os\nos.nice({nice})\n" + textwrap.dedent(code)],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    return done.stdout.strip()


LOWER = """
    import os, threading
    from workers.executors.priority import lower_priority
    started = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), stop.wait()))
    thread.start()
    started.wait()
    after = lower_priority()
    later = threading.Thread(target=lambda: print(os.getpriority(os.PRIO_PROCESS, 0)))
    later.start()
    later.join()
    print(after, os.getpriority(os.PRIO_PROCESS, thread.native_id))
    stop.set()
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_lowering_reaches_threads_started_before_and_after() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    own_group = autogroup_nice()
    wanted = min(19, own + 5)
    later, main_and_earlier = run_python(LOWER, {NICE_ENV: str(wanted)}).splitlines()
    assert int(later) == wanted
    assert [int(v) for v in main_and_earlier.split()] == [wanted, wanted]
    # it shares this session: its group (this test's too) is left alone
    assert autogroup_nice() == own_group


def test_a_process_already_nicer_keeps_its_niceness() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    if own > 15:
        pytest.skip("this process is already too nice to test with")
    lines = run_python(LOWER, {NICE_ENV: str(own + 1)}, nice=3).splitlines()
    assert int(lines[0]) == own + 3
    assert [int(v) for v in lines[1].split()] == [own + 3, own + 3]


def test_the_setting_reaches_the_executors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NICE_ENV, raising=False)
    assert Settings().worker_nice == DEFAULT_NICE == env_nice() == 10
    monkeypatch.setenv(NICE_ENV, "3")
    settings = Settings()
    assert settings.worker_nice == 3 == env_nice()
    local = get("local")(settings)
    assert isinstance(local, LocalExecutor) and local.env[NICE_ENV] == "3"
    assert local._worker_env()[NICE_ENV] == "3"  # what its worker processes get
    monkeypatch.setenv(NICE_ENV, "20")
    assert env_nice() == 19  # as nice as Linux goes
    monkeypatch.setenv(NICE_ENV, "low")
    with pytest.raises(ValueError, match=NICE_ENV):
        env_nice()


def test_a_ray_trial_lowers_its_priority_before_it_trains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int | None] = []
    monkeypatch.setattr(ray_actors, "lower_priority", lambda nice=None: calls.append(nice) or 10)
    line = ray_actors.TrialActor().run("not a trial job")  # fails after lowering
    assert calls == [None]  # NAS_WORKER_NICE of the node, or the default
    assert '"error"' in line
