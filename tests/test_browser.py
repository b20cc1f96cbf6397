"""The dashboard in a real browser: `streamlit run app.py` on the demo store, every page opened
in Debian's Chromium through Playwright, no exception box, a screenshot of each page.

Screenshots go to ``build/screenshots/`` (git-ignored). Needs /usr/bin/chromium (`.ci/run`
installs Debian's chromium); never `playwright install`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "screenshots"
# url path → text that only that page shows once it has rendered its content
PAGES = {
    "": "Sites to look at first",
    "velocity_probability": "Points with a probability",
    "thresholds": "Baseline sites",
    "site": "Relative to ring",
    "time_series": "Time series",
    "corridor": "Asset corridor",
    "gnss_validation": "GNSS validation",
    "rerun": "Runs of this dataset",
}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_store: Store, tmp_path_factory: pytest.TempPathFactory):
    port = _free_port()
    env = dict(os.environ, GROUNDWATCH_HOME=str(demo_store.root))
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"  # uploads and reruns open
    secrets.write_text("allow_anonymous_reruns = true\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--secrets.files", str(secrets)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def benchmarks_csv(demo_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five GNSS benchmarks on demo points, rates = the points' velocities ± 0.5 mm/yr."""
    points = demo_store.read_points("demo", columns=["lon", "lat", "velocity"]).to_pandas()
    picked = points.iloc[:: max(1, len(points) // 5)].head(5)
    path = tmp_path_factory.mktemp("gnss") / "benchmarks.csv"
    rows = [f"B{i},{r.lon:.7f},{r.lat:.7f},{r.velocity + (-0.5) ** i:.2f}"
            for i, r in enumerate(picked.itertuples())]  # fmt: skip
    path.write_text("id,lon,lat,rate_mm_yr\n" + "\n".join(rows) + "\n")
    return path


def test_every_page_renders_its_content_without_an_exception(server: str, benchmarks_csv: Path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path, marker in PAGES.items():
            page.goto(f"{server}/{path}", wait_until="domcontentloaded", timeout=90_000)
            if path == "corridor":  # show a real corridor, not the empty page
                page.get_by_role("button", name="Use an example route").click()
                marker = "Sites in corridor"
            elif path == "gnss_validation":
                page.locator('input[type="file"]').set_input_files(str(benchmarks_csv))
                marker = "Benchmarks matched"
            page.get_by_text(marker).first.wait_for(timeout=90_000)
            _wait_until_idle(page)
            shot = SHOTS / f"{path or 'overview'}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0, path
            # components (maps, charts) report their own failures as "Error: …" boxes
            assert page.get_by_text("Error:").count() == 0, path
            assert shot.stat().st_size > 20_000, f"{path}: screenshot looks empty"
        browser.close()


def _wait_until_idle(page, timeout_s: float = 90.0) -> None:
    """Until the script has finished (no Stop button) and the charts have drawn."""
    deadline = time.monotonic() + timeout_s
    while page.get_by_role("button", name="Stop").count() and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    page.wait_for_load_state("networkidle", timeout=90_000)
    page.wait_for_timeout(2000)
