"""One ranking rule (``workers.jobs.ranking.is_ranked``) for the page and the CLI: the leaderboard's
``ranked`` column and the trials listing's ``?ranked=true`` pick the same trials, on SQLite and
PostgreSQL, and neither ranks a confirmation run, a skipped proposal, a pruned, failed or
unfinished trial."""

from __future__ import annotations

from nas.job import CONFIRM
from nas.trial import TrialRequest
from tests.api.harness import BASE, Harness, result
from workers.jobs.ranking import is_ranked


def test_the_page_and_the_listing_rank_the_same_trials(h: Harness) -> None:
    job_id, store = h.job(confirm_seeds=2)
    completed = [h.add(store, key) for key in ("grid", "random", "ds", "grid")]
    for trial, accuracy in zip(completed, (0.7, 0.9, 0.8, 0.9), strict=True):
        store.mark_running(trial)
        store.finish(trial, result(accuracy, 1_000_000, 1e9), None)
    pruned = h.add(store, "random")
    store.mark_running(pruned)
    store.finish(pruned, result(0.95, 1_000_000, 1e9, pruned=True), None)
    failed = h.add(store, "ds")
    store.mark_running(failed)
    store.finish(failed, None, "boom")
    skipped = h.add(store, "grid")
    store.skip(skipped, "over budget: needs 1.05 base epochs, 0.98 left")
    running = h.add(store, "grid")
    store.mark_running(running)
    queued = h.add(store, "random")
    confirms = []
    for number, accuracy in enumerate((0.97, 0.85)):  # better than any search trial, once
        request = TrialRequest(
            spec=BASE, epochs=2, strategy=CONFIRM, number=number, params={"confirms": completed[1]}
        )
        trial = store.add(request).id
        store.mark_running(trial)
        store.finish(trial, result(accuracy, 1_000_000, 1e9), None)
        confirms.append(trial)

    board = h.board(job_id)
    columns = board["trials"]
    strategies, states = board["strategies"], board["states"]
    flags = dict(zip(columns["id"], columns["ranked"], strict=True))
    by_rule = {
        trial_id: is_ranked(strategies[s], states[st], a)
        for trial_id, s, st, a in zip(
            columns["id"], columns["strategy"], columns["state"], columns["accuracy"], strict=True
        )
    }
    assert flags == by_rule
    listed = h.client.get(
        f"/api/v1/jobs/{job_id}/trials", params={"ranked": "true", "limit": 200}
    ).json()
    assert listed["total"] == 4
    # most accurate first, ties to the earlier trial
    assert [t["id"] for t in listed["items"]] == [
        completed[1],
        completed[3],
        completed[2],
        completed[0],
    ]
    assert {i for i, ranked in flags.items() if ranked} == set(completed)
    for unranked in (pruned, failed, skipped, running, queued, *confirms):
        assert not flags[unranked]
    # without the filter the listing still has every trial (the CSV and --json need them)
    everything = h.client.get(f"/api/v1/jobs/{job_id}/trials", params={"limit": 200}).json()
    assert everything["total"] == len(flags) == 11
