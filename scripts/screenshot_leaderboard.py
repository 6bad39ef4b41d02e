"""A screenshot of a job's leaderboard page (for docs/): Debian's Chromium through Playwright.

python scripts/screenshot_leaderboard.py [URL] [OUT]
# defaults: http://127.0.0.1:8000/jobs/1 and docs/leaderboard.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import chromium


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/jobs/1"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/leaderboard.png")
    executable = chromium.executable()
    if executable is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright, executable)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_selector("table tbody tr")
        page.wait_for_timeout(1500)  # the charts draw after the first data
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
