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


#: appended after the page's own script: sorts by duration twice, filters by text and by flag, and writes what
#: the table showed into <body data-*> for --dump-dom
PROBE = """<script>(function(){var t=document.getElementById('clips'),b=document.body.dataset;
function order(){return Array.prototype.map.call(t.tBodies[0].rows,
function(r){return r.dataset.clip;}).join(',');}
function shown(){return Array.prototype.filter.call(t.tBodies[0].rows,function(r){return !r.hidden;})
.map(function(r){return r.dataset.clip;}).join(',');}
var th=Array.prototype.find.call(t.tHead.rows[0].cells,
function(c){return c.textContent.indexOf('duration')===0;});
th.click();b.asc=order();th.click();b.desc=order();
var q=document.getElementById('q'),f=document.getElementById('fflag');
q.value='walking';q.dispatchEvent(new Event('input'));b.text=shown();
b.count=document.getElementById('nshown').textContent;
q.value='';q.dispatchEvent(new Event('input'));f.value='low_valid';f.dispatchEvent(new Event('change'));
b.flag=shown();f.value='none';f.dispatchEvent(new Event('change'));b.none=shown();})();</script>"""


def test_sorting_and_filtering_in_the_browser(rendered, tmp_path):
    _, _, png = rendered
    page = (png.parent / "report.html").read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = Page(run_browser(browser(), "--dump-dom", probe.as_uri()))
    body = dom.attrs_of["body"][0]
    assert body["data-asc"] == "run,walk" and body["data-desc"] == "walk,run"     # 1.07 s < 22.8 s
    assert body["data-text"] == "walk" and body["data-count"] == "1"
    flags = {k: r["attrs"]["data-flags"].split() for k, r in rendered[0].rows.items()}
    assert body["data-flag"] == ",".join(k for k in ("walk", "run") if "low_valid" in flags[k]) == "run"
    assert body["data-none"] == ",".join(k for k in ("walk", "run") if not flags[k])


def test_dark_scheme_follows_the_system(rendered, tmp_path):
    _, _, png = rendered
    dark = tmp_path / "dark.png"
    page = (png.parent / "report.html").resolve().as_uri()
    run_browser(browser(), "--force-dark-mode", "--blink-settings=preferredColorScheme=0",
                f"--screenshot={dark}", "--window-size=1280,4000", page)
    import matplotlib.image

    px = (np.asarray(matplotlib.image.imread(dark))[..., :3] * 255).round().astype(np.int16)
    assert np.all(np.abs(px[4, 4] - np.array([22, 24, 28])) <= 2)                # the dark background
    assert _near(px, (255, 107, 107)) > 500                                       # x traces, dark palette
    assert _near(px, (214, 39, 40), 10) < 50                                      # not the light palette's
