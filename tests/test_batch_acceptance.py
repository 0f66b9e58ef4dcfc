"""Acceptance of the batch command (issue 5) with real yt-dlp, real videos and the real video pipeline.

A web site on 127.0.0.1 serves an HTML page with four ``<video>`` elements (yt-dlp's generic extractor
reads it as a playlist): three short real videos of people made from ../shared/videos at test time,
and one broken link. Nothing may reach an address other than 127.0.0.1 (guard in every process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imusynth.batch.gather import gather
from imusynth.batch.ingest import LabelRow
from imusynth.batch.manifest import MANIFEST_NAME, Manifest, Status
from imusynth.batch.runner import Action, run_batch
from imusynth.config import load_pipeline_config
from imusynth.io.hdf5 import read_clips, validate_file
from imusynth.video.fetch import DownloadOptions
from tests.batch_support import (
    PROXY_VARIABLES,
    LocalSite,
    loopback_only,
    make_test_videos,
    playlist_page,
)
from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.slow

LABELS = {"running.mp4": "run", "walking.mp4": "walk", "balance.mp4": "balance"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_test_videos(shared_path(), tmp_path_factory.mktemp("videos"))


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Loopback only (here and in every worker), no proxy, pose models from ../shared/models."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMUSYNTH_MODEL_DIR", str(shared_path("models")))
    with loopback_only(tmp_path) as log:
        yield
    assert log.read_text() == "", f"a test tried to reach a non-loopback address:\n{log.read_text()}"


@pytest.fixture
def site(tmp_path: Path, videos: dict[str, Path]):
    root = tmp_path / "site"
    root.mkdir()
    for path in videos.values():
        (root / path.name).write_bytes(path.read_bytes())
    (root / "playlist.html").write_text(playlist_page("Activities", [*LABELS, "missing.mp4"]))
    with LocalSite(root) as s:
        yield s


def _batch(site: LocalSite, out: Path, **kw):
    labels = [LabelRow(site.url(name), label) for name, label in LABELS.items()]
    options = DownloadOptions(cache_dir=out / "cache", proxy="", backoff_s=0.01)
    return run_batch([site.url("playlist.html")], out, config=load_pipeline_config(None), labels=labels,
                     download=options, progress=False, echo=lambda _m: None, **kw)


def _done(out: Path) -> dict[str, Path]:
    with Manifest(out / MANIFEST_NAME, readonly=True) as m:
        return {r.url: out / r.output for r in m.records(Status.DONE)}


def _mtimes(files: dict[str, Path]) -> dict[str, int]:
    return {k: p.stat().st_mtime_ns for k, p in files.items()}


def test_playlist_rerun_retry_gather_and_windows(site: LocalSite, tmp_path: Path):
    out = tmp_path / "out"
    first = _batch(site, out, workers=2)
    # the runner is filmed from her right: the default (left) wrist sensor has no valid sample, so that
    # item is done but "empty" (issue 10); the other two videos see the left wrist
    assert first.status == {"done": 2, "empty": 1, "failed": 1}
    assert [why for _, why in first.empties] == ["no valid sample for sensor wrist (hidden in this view?)"]
    assert first.downloads == 3 and first.processed == 3
    (failed_id, reason), = first.failures
    assert failed_id == "missing"
    assert reason.startswith("download failed:") and "HTTP Error 404" in reason
    done = _done(out)
    assert set(done) == {site.url(name) for name in LABELS}
    for url, path in done.items():
        assert validate_file(path) == []
        clips = read_clips(path, with_motion=False)
        assert clips and all(c.label == LABELS[url.rsplit("/", 1)[1]] for c in clips)
        assert all(c.attrs["source_url"] == url and c.attrs["source_extractor"] == "Generic" for c in clips)
        assert all(c.group == c.attrs["batch_video_id"] for c in clips)
    before = _mtimes(done)

    site.clear()  # a rerun downloads nothing and processes nothing
    rerun = _batch(site, out, workers=2)
    assert rerun.actions == {Action.KEEP: 3, Action.LEAVE_FAILED: 1}
    assert rerun.downloads == 0 and rerun.processed == 0 and site.video_requests() == []
    assert _mtimes(_done(out)) == before

    site.clear()  # --retry-failed retries only the failure
    retry = _batch(site, out, workers=2, retry_failed=True)
    assert retry.actions == {Action.KEEP: 3, Action.FETCH: 1}
    assert set(site.video_requests()) == {"/missing.mp4"}
    assert retry.status == {"done": 2, "empty": 1, "failed": 1} and _mtimes(_done(out)) == before

    (site.root / "missing.mp4").write_bytes((site.root / "running.mp4").read_bytes())  # link repaired
    repaired = _batch(site, out, workers=2, retry_failed=True)
    assert repaired.status == {"done": 2, "empty": 2} and repaired.processed == 1  # a copy of running.mp4

    kept = gather(out, tmp_path / "kept.h5")  # empty items are left out by default
    assert kept.groups == 2 and len(kept.empty) == 2
    dataset = tmp_path / "dataset.h5"
    summary = gather(out, dataset, include_empty=True)
    assert validate_file(dataset) == []
    clips = read_clips(dataset, with_motion=False)
    assert summary.clips == len(clips) >= 4 and summary.groups == 4
    assert {c.label for c in clips} == {None, *LABELS.values()}  # the repaired link has no label row

    from imusynth.cli.har import windows_from_files

    windows = windows_from_files([dataset], window_s=0.5, overlap=0.5, rate_hz=50.0)
    assert len(windows) > 0 and windows.X.shape[1:] == (25, 6)
    assert set(windows.class_names) <= set(LABELS.values())
    assert set(windows.group.tolist()) <= {c.group for c in clips}


def test_killed_batch_resumes_without_duplicates_or_corrupt_files(site: LocalSite, tmp_path: Path):
    out = tmp_path / "out"
    code = "import typer; from imusynth.cli.batch import batch; typer.run(batch)"
    labels = tmp_path / "labels.csv"
    labels.write_text("source,label\n" + "".join(f"{site.url(n)},{lab}\n" for n, lab in LABELS.items()))
    args = [site.url("playlist.html"), "-o", str(out), "--labels", str(labels), "--workers", "1",
            "--proxy", "", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        done_before_kill: dict[str, Path] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / MANIFEST_NAME).is_file():
                done_before_kill = _done(out)
                if done_before_kill:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert done_before_kill, "no video was done within 300 s"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker process, at once
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Manifest(out / MANIFEST_NAME, readonly=True) as m:
        counts = m.counts()
    assert counts[Status.DONE] < 3  # really killed midway
    for path in (out / "videos").glob("*.h5"):  # whatever is there under its final name is complete
        assert validate_file(path) == []
    before = _mtimes(_done(out))

    site.clear()
    resumed = _batch(site, out, workers=2)
    assert resumed.status == {"done": 2, "empty": 1, "failed": 1}
    done = _done(out)
    assert _mtimes({k: done[k] for k in before}) == before  # finished work was kept
    files = sorted((out / "videos").iterdir())
    assert [f.name for f in files if f.name.startswith(".")] == []  # no temporary left
    assert sorted(files) == sorted(done.values())  # one file per done video: no duplicate
    assert all(validate_file(f) == [] for f in files)
    assert not {f"/{Path(u).name}" for u in before} & set(site.video_requests())  # nothing fetched twice
