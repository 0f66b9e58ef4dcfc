"""Batch machinery: sources, labels, manifest, executors, resume, recovery, gather, Dask.

These tests use a fake per-video processor (tests/batch_support.py) that decodes the video and writes
a sensor at rest, so they are fast and their outputs are known in closed form; the acceptance tests
with the real pipeline are in test_batch_acceptance.py. Every test runs under a guard that refuses
any connection to an address other than loopback, in this process and in every child process.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imusynth.batch.executors import LocalExecutor
from imusynth.batch.gather import GatherError, gather
from imusynth.batch.ingest import (
    LabelRow,
    SourceError,
    expand_sources,
    item_key,
    read_labels,
    read_url_list,
)
from imusynth.batch.manifest import MANIFEST_NAME, Manifest, ManifestError, Status
from imusynth.batch.runner import (
    Action,
    BatchError,
    outdir_lock,
    plan_action,
    recover,
    run_batch,
)
from imusynth.config import config_hash, load_pipeline_config, with_overrides
from imusynth.core.conventions import G0
from imusynth.io.hdf5 import read_clips, validate_file
from imusynth.video.fetch import DownloadOptions
from tests.batch_support import (
    PROXY_VARIABLES,
    LocalSite,
    fake_process_video,
    loopback_only,
    playlist_page,
    rss_feed,
    synthetic_video,
    task_die,
    task_pid,
    task_raise,
)
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def loopback_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Fail the test if anything (here or in a worker) tried to reach a non-loopback address."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with loopback_only(tmp_path) as log:
        yield log
    assert log.read_text() == "", f"a test tried to reach a non-loopback address:\n{log.read_text()}"


@pytest.fixture
def cfg():
    return load_pipeline_config(None)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three tiny synthetic videos (1 s at 10 fps) in a folder."""
    d = tmp_path / "videos"
    d.mkdir()
    for name in ("a", "b", "c"):
        synthetic_video(d / f"{name}.mp4")
    return d


def _run(sources, outdir, cfg, **kw):
    kw.setdefault("process_fn", fake_process_video)
    kw.setdefault("progress", False)
    kw.setdefault("echo", lambda _msg: None)
    kw.setdefault("download", DownloadOptions(cache_dir=outdir / "cache", proxy="", backoff_s=0.01))
    return run_batch([str(s) for s in sources], outdir, config=cfg, **kw)


def _records(outdir: Path):
    with Manifest(outdir / MANIFEST_NAME, readonly=True) as m:
        return m.records()


# ---------------------------------------------------------------------------------------------------
# the guard itself


def test_guard_refuses_non_loopback_here_and_in_children(loopback_guard: Path):
    with pytest.raises(OSError, match="test guard"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1, never routed
    child = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"],
        capture_output=True, text=True, timeout=60,
    )
    assert child.returncode != 0 and "test guard" in child.stderr
    logged = loopback_guard.read_text().splitlines()
    assert len(logged) >= 2 and all("192.0.2.1" in line for line in logged)
    loopback_guard.write_text("")  # the refusals above were the point of this test


# ---------------------------------------------------------------------------------------------------
# sources and labels


def test_url_list_strips_comments_keeps_fragments(tmp_path: Path):
    f = tmp_path / "urls.txt"
    f.write_text("# my runs\nhttps://example.org/v1  # first\n\n  https://example.org/v2#t=3\n#https://x/v3\n")
    assert read_url_list(f) == ["https://example.org/v1", "https://example.org/v2#t=3"]


def test_labels_csv_sections_and_errors(tmp_path: Path):
    good = tmp_path / "labels.csv"
    good.write_text("url,label,start,end\nhttps://e/v,run,1.5,4\nhttps://e/v,walk,4,\nabc123,jump,,\n")
    assert read_labels(good) == [
        LabelRow("https://e/v", "run", 1.5, 4.0), LabelRow("https://e/v", "walk", 4.0, None),
        LabelRow("abc123", "jump", None, None),
    ]
    for text, message in (
        ("video,activity\nx,run\n", "needs a header"),
        ("source,label,start,end\nx,run,5,2\n", "must be after start"),
        ("source,label,start\nx,run,soon\n", "number of seconds"),
        ("source,label\nx,\n", "empty label"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(SourceError, match=message):
            read_labels(bad)


def test_expand_folder_labels_by_file_name_and_sections(folder: Path, tmp_path: Path):
    labels = [LabelRow("a.mp4", "run", 0.0, 0.5), LabelRow("a.mp4", "rest", 0.5, None), LabelRow("b", "walk")]
    items = expand_sources([str(folder)], options=DownloadOptions(cache_dir=tmp_path / "c"), labels=labels,
                           default_label="other")
    by_key = {i.key: i for i in items}
    a = str((folder / "a.mp4").resolve())
    assert set(by_key) == {item_key(a, 0.0, 0.5), item_key(a, 0.5, None), str((folder / "b.mp4").resolve()),
                           str((folder / "c.mp4").resolve())}
    assert by_key[item_key(a, 0.5, None)].label == "rest"
    assert by_key[str((folder / "b.mp4").resolve())].label == "walk"
    assert by_key[str((folder / "c.mp4").resolve())].label == "other"
    assert all(i.local for i in items)
    with pytest.raises(SourceError, match="neither a URL nor an existing file"):
        expand_sources([str(tmp_path / "nope.mp4")], options=DownloadOptions(cache_dir=tmp_path / "c"))


def test_flat_playlist_entries_ids_and_urls():
    from imusynth.batch.ingest import _entries

    # the shapes yt-dlp gives with extract_flat="in_playlist": links to a site extractor (YouTube),
    # and resolved entries of a generic page (numbered ids, media URLs)
    youtube = {"_type": "playlist", "entries": [
        {"_type": "url", "ie_key": "Youtube", "id": "dQw4w9WgXcQ",
         "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "title": "A"},
        None,  # an unavailable entry
        {"_type": "playlist", "entries": [{"_type": "url", "ie_key": "Youtube", "id": "x_y-z",
                                           "url": "https://www.youtube.com/watch?v=x_y-z"}]},
    ]}
    found = list(_entries(youtube, playlist_url="https://www.youtube.com/playlist?list=PL1"))
    assert [(f.url, f.video_id) for f in found] == [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/watch?v=x_y-z", "x_y-z"),
    ]
    assert found[0].names == ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ",
                              "https://www.youtube.com/playlist?list=PL1")
    page = "http://127.0.0.1/page.html"
    generic = {"_type": "playlist", "entries": [
        {"id": "page-1", "url": "http://127.0.0.1/media/run%201.mp4", "webpage_url": page},
    ]}
    (entry,) = _entries(generic, playlist_url=page)
    assert (entry.url, entry.video_id) == ("http://127.0.0.1/media/run%201.mp4", "run_1")


# ---------------------------------------------------------------------------------------------------
# manifest and plan


def test_manifest_transitions_reset_and_readonly(tmp_path: Path):
    path = tmp_path / MANIFEST_NAME
    with Manifest(path) as m:
        r = m.add("u1", url="u1", video_id="v1", label="run", start_s=None, end_s=None)
        assert r.status == Status.PENDING
        m.mark_running("u1", "fetch")
        assert m.reset("u1") == Status.PENDING  # no video yet
        video = synthetic_video(tmp_path / "v1.mp4")
        m.mark_downloaded("u1", video_id="v1", video_path=str(video), provenance={"source_title": "T"},
                          download_s=0.5)
        m.mark_running("u1", "process", config_hash="h1", output="videos/v1.h5")
        assert m.reset("u1") == Status.DOWNLOADED  # the video is in the cache
        m.mark_done("u1", output="videos/v1.h5", config_hash="h1", process_s=2.0)
        again = m.add("u1", url="u1", video_id="other", label="walk", start_s=None, end_s=None)
        assert (again.status, again.label, again.video_id) == (Status.DONE, "walk", "v1")  # relabel only
        assert again.provenance == {"source_title": "T"} and again.attempts == 1
        m.add("u2", url="u2", video_id="v2", label=None, start_s=None, end_s=None)
        assert m.output_taken("videos/v1.h5", by_other_than="u2")
        assert not m.output_taken("videos/v1.h5", by_other_than="u1")
        m.mark_failed("u2", "download failed:\n  HTTP Error 404")
        assert m.get("u2").reason == "download failed: HTTP Error 404"  # one line
        assert m.counts()[Status.DONE] == 1 and m.counts()[Status.FAILED] == 1
    with Manifest(path, readonly=True) as ro:
        assert [r.key for r in ro.records()] == ["u1", "u2"]
        with pytest.raises(ManifestError, match="read-only"):
            ro.mark_failed("u1", "x")
    with pytest.raises(ManifestError, match="no batch manifest"):
        Manifest(tmp_path / "elsewhere" / MANIFEST_NAME, readonly=True)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database " * 100)
    with pytest.raises(ManifestError, match="is not an imusynth batch manifest"):
        Manifest(junk)


def test_plan_actions(tmp_path: Path):
    video = synthetic_video(tmp_path / "v.mp4")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "v.h5").write_bytes(b"x")
    base = dict(key="k", url="u", video_id="v", label=None, start_s=None, end_s=None)
    from imusynth.batch.manifest import Record

    def plan(status, *, local=False, retry_failed=False, **kw):
        record = None if status is None else Record(**base, status=status, **kw)
        return plan_action(record, local=local, config_hash="h", retry_failed=retry_failed, outdir=tmp_path)

    assert plan(None) == Action.FETCH
    assert plan(None, local=True) == Action.PROCESS
    assert plan(Status.DONE, config_hash="h", output="videos/v.h5", video_path=str(video)) == Action.KEEP
    assert plan(Status.DONE, config_hash="old", output="videos/v.h5", video_path=str(video)) == Action.PROCESS
    gone = plan(Status.DONE, config_hash="h", output="videos/gone.h5", video_path=str(video))
    assert gone == Action.PROCESS
    assert plan(Status.DONE, config_hash="old", output="videos/v.h5") == Action.FETCH  # cache cleared
    assert plan(Status.FAILED, video_path=str(video)) == Action.LEAVE_FAILED
    assert plan(Status.FAILED, video_path=str(video), retry_failed=True) == Action.PROCESS
    assert plan(Status.FAILED, retry_failed=True) == Action.FETCH
    assert plan(Status.SKIPPED) == Action.FETCH
    assert plan(Status.DOWNLOADED, video_path=str(video)) == Action.PROCESS


# ---------------------------------------------------------------------------------------------------
# local executor


def _collect(pool: LocalExecutor, n: int, timeout_s: float = 120.0) -> dict[int, object]:
    outcomes = {}
    deadline = time.monotonic() + timeout_s
    while len(outcomes) < n and time.monotonic() < deadline:
        outcomes.update((o.handle, o) for o in pool.wait(timeout=5))
    assert len(outcomes) == n, f"only {len(outcomes)} of {n} tasks finished in {timeout_s} s"
    return outcomes


def test_local_executor_spawned_workers_and_crash_isolation():
    pool = LocalExecutor(2)
    try:
        handles = {pool.submit(task_pid, i): i for i in range(4)}
        crash = pool.submit(task_die, 0)
        bad = pool.submit(task_raise, 5)
        outcomes = _collect(pool, 6)
        values = [outcomes[h].value for h in handles]
        assert sorted(v[0] for v in values) == [0, 1, 2, 3]
        pids = {v[1] for v in values}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        assert "worker process died" in outcomes[crash].error and "exit code 7" in outcomes[crash].error
        assert outcomes[bad].error == "ValueError: bad input 5"
        again = pool.submit(task_pid, 9)  # the dead worker was replaced
        (o,) = _collect(pool, 1).values()
        assert o.handle == again and o.value[0] == 9
        os.kill(o.value[1], signal.SIGKILL)  # an idle worker killed from outside (OOM killer)
        time.sleep(0.5)
        late = {pool.submit(task_pid, k) for k in (10, 11)}
        results = _collect(pool, 2)
        assert set(results) == late and all(r.error is None for r in results.values())
    finally:
        pool.close()


# ---------------------------------------------------------------------------------------------------
# resumable runs on local files


def test_local_batch_resume_relabel_and_config_change(folder: Path, tmp_path: Path, cfg):
    out = tmp_path / "out"
    first = _run([folder], out, cfg, workers=2, default_label="walk")
    assert first.status == {"done": 3} and first.processed == 3 and first.downloads == 0
    records = _records(out)
    mtimes = {r.key: (out / r.output).stat().st_mtime_ns for r in records}
    for r in records:
        (clip,) = read_clips(out / r.output)
        assert clip.label == "walk" and clip.group == r.video_id
        assert clip.attrs["batch_key"] == r.key and clip.attrs["batch_config_hash"] == config_hash(cfg)
        acc = clip.sensors["wrist"].acc
        # a sensor at rest with z up reads +G0 on z; float32 storage: 1e-6 relative
        np.testing.assert_allclose(acc, np.tile([0.0, 0.0, G0], (len(acc), 1)), rtol=1e-6, atol=1e-6)
    assert len({r.output for r in records}) == 3

    rerun = _run([folder], out, cfg, workers=2, default_label="walk")
    assert rerun.processed == 0 and rerun.actions == {Action.KEEP: 3}
    assert {r.key: (out / r.output).stat().st_mtime_ns for r in _records(out)} == mtimes

    relabel = _run([folder], out, cfg, workers=2, labels=[LabelRow("a.mp4", "run")], default_label="walk")
    assert relabel.processed == 0  # labels live in the manifest; gather applies them
    summary = gather(out, tmp_path / "ds.h5")
    assert summary.clips == 3 and summary.labels == {"run": 1, "walk": 2} and summary.groups == 3
    assert validate_file(tmp_path / "ds.h5") == []

    new_cfg = with_overrides(cfg, {"output.rate_hz": 25.0})
    changed = _run([folder], out, new_cfg, workers=2)
    assert changed.processed == 3
    assert all(r.config_hash == config_hash(new_cfg) for r in _records(out))


def test_one_crash_or_failure_never_stops_the_batch(folder: Path, tmp_path: Path, cfg):
    synthetic_video(folder / "crash.mp4")
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "out"
    summary = _run([folder], out, cfg, workers=2)
    assert summary.status == {"done": 3, "failed": 2}
    reasons = dict(summary.failures)
    crash = next(v for k, v in reasons.items() if k.startswith("crash"))
    broken = next(v for k, v in reasons.items() if k.startswith("broken"))
    assert "worker process died" in crash
    assert broken.startswith("processing failed: ValueError") and "no decodable frame" in broken

    (folder / "broken.mp4").unlink()
    synthetic_video(folder / "broken.mp4")  # fixed by the user
    again = _run([folder], out, cfg, workers=2)
    assert again.processed == 0 and again.actions[Action.LEAVE_FAILED] == 2
    retry = _run([folder], out, cfg, workers=2, retry_failed=True)
    assert retry.actions == {Action.KEEP: 3, Action.PROCESS: 2}
    assert retry.status == {"done": 4, "failed": 1} and retry.processed == 1


def test_sections_are_processed_as_separate_items(folder: Path, tmp_path: Path, cfg):
    labels = [LabelRow("a.mp4", "run", 0.0, 0.4), LabelRow("a.mp4", "rest", 0.4, None)]
    out = tmp_path / "out"
    summary = _run([folder / "a.mp4"], out, cfg, labels=labels)
    assert summary.status == {"done": 2}
    spans = {}
    for r in _records(out):
        (clip,) = read_clips(out / r.output)
        spans[r.label] = (clip.sensors["wrist"].time[0], clip.duration_s)
    # the fake processor samples [start, end) at rate_hz (50 Hz): exact to one sample
    assert spans["run"][0] == pytest.approx(0.0) and spans["run"][1] == pytest.approx(0.4)
    assert spans["rest"][0] == pytest.approx(0.4) and spans["rest"][1] == pytest.approx(0.6)


def test_recover_adopts_valid_outputs_and_resets_the_rest(folder: Path, tmp_path: Path, cfg):
    out = tmp_path / "out"
    _run([folder], out, cfg)
    records = _records(out)
    keep, broken, fetching = records
    (out / broken.output).write_bytes(b"half")  # what a crash inside a non-atomic writer would leave
    stale = out / "videos" / f".{Path(keep.output).name}.abc123.part"
    stale.write_bytes(b"partial")
    with Manifest(out / MANIFEST_NAME) as m:
        for r in records:
            m.mark_running(r.key, "process", config_hash=config_hash(cfg), output=r.output)
        m.mark_running(fetching.key, "fetch")
        adopted = recover(m, out)
        assert adopted == [keep.key]
        assert m.get(keep.key).status == Status.DONE
        assert m.get(broken.key).status == Status.DOWNLOADED  # local file: nothing to fetch again
        assert m.get(fetching.key).status == Status.DOWNLOADED
    assert not stale.exists()
    summary = _run([folder], out, cfg)
    assert summary.processed == 2 and summary.status == {"done": 3}
    assert all(validate_file(out / r.output) == [] for r in _records(out))


def test_one_batch_per_outdir_and_dry_run_changes_nothing(folder: Path, tmp_path: Path, cfg):
    out = tmp_path / "out"
    out.mkdir()
    with outdir_lock(out), pytest.raises(BatchError, match="another imusynth batch"):
        _run([folder], out, cfg)
    plan = _run([folder], out, cfg, dry_run=True)
    assert plan.actions == {Action.PROCESS: 3} and not (out / MANIFEST_NAME).exists()
    with pytest.raises(BatchError, match="unknown executor"):
        _run([folder], out, cfg, executor="ray")


def test_gather_refuses_mixed_configurations(folder: Path, tmp_path: Path, cfg):
    out = tmp_path / "out"
    _run([folder / "a.mp4"], out, cfg)
    other = with_overrides(cfg, {"output.rate_hz": 25.0})
    _run([folder / "b.mp4"], out, other)
    with pytest.raises(GatherError, match="2 pipeline configurations"):
        gather(out, tmp_path / "ds.h5")
    summary = gather(out, tmp_path / "ds.h5", config_hash=config_hash(other), group_by="uploader")
    (clip,) = read_clips(tmp_path / "ds.h5")
    assert summary.clips == 1 and clip.sensors["wrist"].rate_hz == 25.0
    assert clip.group == _records(out)[1].video_id  # local files have no uploader: video id


# ---------------------------------------------------------------------------------------------------
# yt-dlp against a local web site (fake processor)


@pytest.fixture
def site(tmp_path: Path):
    root = tmp_path / "site"
    root.mkdir()
    for name in ("one", "two", "three"):
        synthetic_video(root / f"{name}.mp4")
    with LocalSite(root) as s:
        yield s


def test_rss_feed_retries_cache_and_cookies(site: LocalSite, tmp_path: Path, cfg):
    feed = rss_feed("Runs", [("First run", site.url("one.mp4")), ("Second run", site.url("two.mp4"))])
    (site.root / "feed.xml").write_text(feed)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tsecret42\n")
    site.fail["/two.mp4"] = 2  # two "503 Service Unavailable" before it is served
    cache = tmp_path / "shared_cache"
    options = DownloadOptions(cache_dir=cache, proxy="", backoff_s=0.01, retries=3, cookies_file=cookies)
    out = tmp_path / "out"
    summary = _run([site.url("feed.xml")], out, cfg, download=options, workers=2)
    assert summary.status == {"done": 2} and summary.downloads == 2, summary.failures
    assert site.requests.count("/two.mp4") >= 3  # two refusals, then served
    assert site.cookies.get("/one.mp4") == "session=secret42"
    (one,) = read_clips(out / next(r.output for r in _records(out) if r.url.endswith("one.mp4")))
    assert one.attrs["source_url"] == site.url("one.mp4") and one.attrs["source_extractor"] == "Generic"

    site.clear()  # a second output folder sharing the cache fetches nothing
    second = _run([site.url("feed.xml")], tmp_path / "out2", cfg, download=options)
    assert second.status == {"done": 2} and second.downloads == 0
    assert site.video_requests() == []


def test_require_license_skips_without_downloading(site: LocalSite, tmp_path: Path, cfg):
    options = DownloadOptions(cache_dir=tmp_path / "cache", proxy="", require_license="creative commons")
    out = tmp_path / "out"
    summary = _run([site.url("one.mp4")], out, cfg, download=options)
    assert summary.status == {"skipped": 1}
    assert summary.skips[0][1] == "licence None does not match --require-license 'creative commons'"
    assert not list((tmp_path / "cache").glob("*.mp4"))
    site.clear()  # a rerun decides from the manifest and the cached info JSON: no request at all
    assert _run([site.url("one.mp4")], out, cfg, download=options).status == {"skipped": 1}
    assert site.requests == []
    relaxed = dataclasses.replace(options, require_license=None)
    assert _run([site.url("one.mp4")], out, cfg, download=relaxed).status == {"done": 1}


# ---------------------------------------------------------------------------------------------------
# Dask


def test_dask_executor_same_manifest_semantics(site: LocalSite, tmp_path: Path, cfg):
    distributed = pytest.importorskip("distributed")
    (site.root / "page.html").write_text(playlist_page("Acts", ["one.mp4", "two.mp4", "missing.mp4"]))
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        out = tmp_path / "out"
        address = cluster.scheduler_address
        summary = _run([site.url("page.html")], out, cfg, executor="dask", scheduler=address)
        assert summary.status == {"done": 2, "failed": 1}
        assert "HTTP Error 404" in summary.failures[0][1]
        pids = {read_clips(out / r.output)[0].attrs["worker_pid"] for r in _records(out) if r.output}
        with distributed.Client(cluster) as client:
            worker_pids = set(client.run(os.getpid).values())
        assert pids <= worker_pids  # processed on the cluster's worker processes
        site.clear()
        rerun = _run([site.url("page.html")], out, cfg, executor="dask", scheduler=address)
        assert rerun.processed == 0 and site.video_requests() == []
    finally:
        cluster.close()


# ---------------------------------------------------------------------------------------------------
# Ctrl-C


def test_ctrl_c_stops_cleanly_and_loses_no_record(folder: Path, tmp_path: Path, cfg):
    out = tmp_path / "out"
    # a terminal delivers Ctrl-C to a process that handles it; a test run started in the background
    # (nohup, `&` in a script) inherits SIGINT ignored, so the child restores Python's handler first
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "import sys; from pathlib import Path; from tests.batch_support import fake_process_video; "
        "from imusynth.batch.runner import run_batch; from imusynth.config import load_pipeline_config; "
        "run_batch([sys.argv[1]], Path(sys.argv[2]), config=load_pipeline_config(None), "
        "process_fn=fake_process_video, workers=1, progress=False)"
    )
    env = {**os.environ, "IMUSYNTH_FAKE_DELAY_S": "1.5"}
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(out)], cwd=REPO, env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / MANIFEST_NAME).is_file() and any(r.status == Status.DONE for r in _records(out)):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the batch ended before Ctrl-C"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    assert "batch interrupted" in stdout
    statuses = [r.status for r in _records(out)]
    assert Status.RUNNING not in statuses and Status.DONE in statuses and len(statuses) == 3
    assert Status.DOWNLOADED in statuses  # the interrupted item was put back, ready to process
    assert not list((out / "videos").glob(".*.part"))
    resumed = _run([folder], out, cfg)
    assert resumed.status == {"done": 3} and resumed.processed == 3 - statuses.count(Status.DONE)


def test_cli_commands_help_and_dry_run(folder: Path, tmp_path: Path):
    import typer
    from typer.testing import CliRunner

    from imusynth.cli.batch import batch
    from imusynth.cli.batch import gather as gather_cmd

    app = typer.Typer()
    app.command("batch")(batch)
    app.command("gather")(gather_cmd)
    runner = CliRunner()
    for command in ("batch", "gather"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "--output" in result.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(folder), "-o", str(out), "--dry-run", "--label", "walk"])
    assert result.exit_code == 0, result.output
    assert "dry run: 3 item(s)" in result.output and f"{Action.PROCESS:<16}{3:>7}" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["gather", str(out), "-o", str(tmp_path / "ds.h5")])
    assert isinstance(result.exception, ManifestError) and "no batch manifest" in str(result.exception)
