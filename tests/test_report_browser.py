"""``imusynth report`` in a real browser: headless Chromium loads the page from disk, runs its script, and
paints the table, the plots and the frame image.

Two looks: ``--dump-dom`` gives the DOM after the page's script ran (the script marks ``<html data-ready>``;
rows, ``svg`` and ``image`` elements are counted), and ``--screenshot`` gives pixels, checked for the
colours only rendered content has (trace colours, the skeleton's bones, shaded invalid spans, a photo's
many colours). The page and the screenshot stay in ``benchmarks/results/report_browser/`` (a CI
artefact). Under CI (``CI`` set) a missing Chromium fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from imusynth.cli.main import main
from tests.test_report import Page, make_batch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "report_browser"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def browser() -> str:
    """Path of a Chromium; fails under CI and skips elsewhere when there is none."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    msg = "no Chromium on PATH (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def run_browser(exe: str, *args: str, timeout: float = 120.0) -> str:
    """Run headless Chromium with a fresh profile (never the user's); return its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Page, np.ndarray, Path]:
    exe = browser()
    out = make_batch(tmp_path_factory.mktemp("browser"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    html = RESULTS / "report.html"
    main(["report", str(out), "-o", str(html), "--force"])
    dom = run_browser(exe, "--virtual-time-budget=5000", "--dump-dom", html.resolve().as_uri())
    png = RESULTS / "report.png"
    png.unlink(missing_ok=True)
    run_browser(exe, f"--screenshot={png}", "--window-size=1280,4000", html.resolve().as_uri())
    import matplotlib.image

    pixels = (np.asarray(matplotlib.image.imread(png))[..., :3] * 255).round().astype(np.int16)
    return Page(dom), pixels, png


def _near(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> int:
    return int(np.count_nonzero(np.all(np.abs(pixels - np.array(rgb)) <= tol, axis=-1)))


def test_script_ran_and_dom_has_table_plots_and_image(rendered):
    page, _, _ = rendered
    html_attrs = page.attrs_of["html"][0]
    assert html_attrs.get("data-ready") == "1"                       # the inline script ran without error
    assert sorted(page.rows) == ["run", "walk"]                       # both clip rows, none hidden
    assert not any("hidden" in r["attrs"] for r in page.rows.values())
    assert page.tags["svg"] >= 2 + 2 + 2 * 2                          # skeletons, signals, histograms
    images = page.attrs_of.get("image", [])
    assert images and all(a["href"].startswith("data:image/jpeg;base64,") for a in images)


def test_screenshot_shows_plots_skeleton_shading_and_photo(rendered):
    _, px, png = rendered
    assert png.stat().st_size > 10_000
    white = np.all(px >= 250, axis=-1)
    assert white.mean() < 0.97, "screenshot nearly blank"
    for rgb in ((214, 39, 40), (42, 157, 58), (31, 95, 214)):         # x, y, z traces (light scheme)
        assert _near(px, rgb) > 500, f"no trace in colour {rgb}"
    assert _near(px, (255, 204, 0), 30) > 50                          # skeleton bones
    assert _near(px, (249, 224, 224), 6) > 5000                       # shaded invalid spans (hidden wrist)
    dark = np.all(px < 90, axis=-1)
    assert dark[:600].mean() > 0.002                                  # text of the summary and tables
    # the frame photo: some 32x32 tiles hold far more distinct colours than any flat drawing or text
    tiles = 0
    for y in range(0, px.shape[0] - 32, 32):
        for x in range(0, 400, 32):
            tile = px[y:y + 32, x:x + 32].reshape(-1, 3).astype(np.int64)
            tiles += len(np.unique(tile[:, 0] * 65536 + tile[:, 1] * 256 + tile[:, 2])) > 300
    assert tiles >= 4, "no photo-like region: the frame image did not render"
