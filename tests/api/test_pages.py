"""The HTML pages (escaping, 404 pages, the jobs table) and the vendored charting library,
served and packaged; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch

from tests.api.harness import ROOT, Harness, result

# ---- the pages -----------------------------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_pages_escape_what_users_named(h: Harness) -> None:
    job_id, store = h.job(name=EVIL, strategies=[{"name": "grid", "label": "<b>grid</b>"}])
    h.add(store, "<b>grid</b>")
    listing = h.client.get("/")
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/html")
    page = h.client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    for html in (listing.text, page.text):
        assert EVIL not in html and "<b>grid</b>" not in html
        assert "&lt;script&gt;alert(" in html
        assert not re.search(r"<script>(?!</script>)[^<]*alert", html)
    assert f'data-api="/api/v1/jobs/{job_id}/leaderboard"' in page.text
    assert "/static/vendor/uplot-1.6.32/uPlot.iife.min.js" in page.text


def test_job_page_for_an_unknown_job_is_a_404_page(h: Harness) -> None:
    response = h.client.get("/jobs/424242")
    assert response.status_code == 404 and "No job 424242" in response.text
    assert h.client.get("/?offset=-1").status_code == 422


def test_the_jobs_page_shows_state_and_progress(h: Harness) -> None:
    job_id, store = h.job(name="progressing")
    ids = [h.add(store) for _ in range(4)]
    store.mark_running(ids[0])
    store.finish(ids[0], result(0.8, 1000, 1e9), None)
    store.mark_running(ids[1])
    html = h.client.get("/").text
    row = html[html.index(f'data-job-id="{job_id}"') :]
    row = row[: row.index("</tr>")]
    assert "progressing" in row and "queued" in row
    assert "1 / 4 finished" in row and "1 running" in row


# ---- the vendored library is served and packaged ---------------------------------------------

VENDOR = ROOT / "api" / "static" / "vendor" / "uplot-1.6.32"


def test_the_vendored_charting_library_is_served(h: Harness) -> None:
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        assert (VENDOR / name).is_file(), name
    response = h.client.get("/static/vendor/uplot-1.6.32/uPlot.iife.min.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert response.content == (VENDOR / "uPlot.iife.min.js").read_bytes()
    assert "MIT License" in (VENDOR / "LICENSE").read_text()
    assert "uplot@$(UPLOT_VERSION)" in (ROOT / "Makefile").read_text()


def test_package_data_covers_templates_and_static_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["api"]
    files = [
        p.relative_to(ROOT / "api").as_posix()
        for folder in ("templates", "static")
        for p in (ROOT / "api" / folder).rglob("*")
        if p.is_file()
    ]
    assert files
    missing = [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, f"not packaged: {missing}"
