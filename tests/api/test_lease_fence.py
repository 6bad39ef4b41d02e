"""The lease fence (``api.store.fence``): once a server no longer holds a job's lease (another
took it over, it let go, or the job was cancelled), every write it makes for the job is refused
with the same ``LeaseLost``, and nothing of it is stored; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from api.db.models import Job
from api.db.session import session_scope
from api.store import JobRepository, LeaseLost
from nas.errors import NotFoundError
from tests.api.store_helpers import report, request, result
from tests.fakes import make_job
from workers.jobs.store import BudgetUse

LEASE = timedelta(minutes=5)


def take_over(repo: JobRepository, job_id: int) -> str:
    with session_scope(repo.factory) as session:  # a's lease lapses: a stalled past it
        past = datetime.now(UTC) - timedelta(hours=1)
        session.execute(sa.update(Job).where(Job.id == job_id).values(lease_expires_at=past))
    assert [j.id for j in repo.claim("b", LEASE)] == [job_id]
    return f"job {job_id} is held by b, not a"


def let_go(repo: JobRepository, job_id: int) -> str:
    repo.release("a", [job_id])
    return f"job {job_id} is held by no server, not a"


def cancel(repo: JobRepository, job_id: int) -> str:
    repo.cancel(job_id)
    return f"job {job_id} is cancelled"


@pytest.mark.parametrize("lose", [take_over, let_go, cancel], ids=lambda f: f.__name__)
def test_every_write_of_a_server_that_lost_the_lease_is_refused_alike(
    repo: JobRepository, lose: Callable[[JobRepository, int], str]
) -> None:
    job = repo.create(make_job())
    assert [j.id for j in repo.claim("a", LEASE)] == [job.id]
    store = repo.trial_store(job.id, lease_owner="a")
    done, running, queued = (store.add(request("grid", n)) for n in range(3))
    store.mark_running(done.id)
    store.mark_running(running.id)
    expected = lose(repo, job.id)
    version = repo.get(job.id).version
    trials = store.trials()
    use = BudgetUse(unit="flops", budget=4e9, spent=1e9, trials=1, fraction=0.25)
    writes: dict[str, Callable[[], object]] = {
        "trial insert": lambda: store.add(request("grid", 3)),
        "trial start": lambda: store.mark_running(queued.id),
        "progress": lambda: store.record_progress(running.id, report(1)),
        "result": lambda: store.finish(done.id, result(), None),
        "failure": lambda: store.finish(running.id, None, "worker lost", log="traceback"),
        "skip": lambda: store.skip(queued.id, "over budget"),
        "budget use": lambda: store.record_budget({"grid": use}),
        "job state": lambda: repo.set_state(job.id, "failed", error="boom", owner="a"),
        "job completion": lambda: repo.complete(job.id, "a", job.spec.budget),
    }
    refused: dict[str, tuple[type[BaseException], str, str | None]] = {}
    for name, write in writes.items():
        with pytest.raises(LeaseLost) as caught:
            write()
        refused[name] = (type(caught.value), caught.value.message, caught.value.field)
    assert refused == dict.fromkeys(writes, (LeaseLost, expected, "state"))
    assert repo.get(job.id).version == version  # nothing stored
    assert store.trials() == trials


def test_a_write_for_a_job_that_is_gone_is_not_found(repo: JobRepository) -> None:
    job = repo.create(make_job())
    repo.claim("a", LEASE)
    store = repo.trial_store(job.id, lease_owner="a")
    repo.cancel(job.id)
    repo.delete(job.id)
    for write in (
        lambda: store.add(request("grid", 0)),
        lambda: repo.set_state(job.id, "failed", owner="a"),
    ):
        with pytest.raises(NotFoundError) as caught:
            write()
        assert caught.value.message == f"no job {job.id}" and caught.value.field == "job_id"
