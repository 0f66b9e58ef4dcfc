"""``imusynth report``: the numbers and flags on the page match the HDF5 files they come from.

A small batch output is built from ../shared: a labelled walk from Azure Kinect skeletons (good), the
Sports2D side-view run through the video pipeline (its left wrist is hidden: no valid sample), and a
failed source in the manifest. The page is parsed with the stdlib ``html.parser`` through the ``data-*``
attributes the page puts on its cells. Closed-form checks cover the flags and the metrics.
"""

from __future__ import annotations

import dataclasses
import math
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from imusynth.cli.main import main
from imusynth.config import ReportConfig, config_hash, load_pipeline_config, with_overrides
from imusynth.core.conventions import G0
from imusynth.core.sensors import SensorSignals
from imusynth.io.hdf5 import Clip, read_clips, write_clips
from imusynth.report import ClipFile, build_report, metrics
from tests.conftest import shared_path

WALK = ("imu", "sevivi", "skeletons", "joint_synchronization_walking", "positions_3d.csv.gz")
RUN = ("videos", "sports2d", "demo3_running.mp4")
FAILED_URL = "https://example.org/videos/gone.mp4"
FAILED_REASON = "HTTP Error 404: Not Found"


class Page(HTMLParser):
    """The parts of a report page the tests read: clip rows, cards, tables by id, elements by tag."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.cards: dict[str, str] = {}
        self.table_rows: dict[str, list[dict]] = {}
        self.tags: dict[str, int] = {}
        self.attrs_of: dict[str, list[dict]] = {}
        self._table: list[str] = []
        self._row: dict | None = None
        self._cell: dict | None = None
        self.hist: dict[tuple[str, str], int] = {}
        self._hist_label = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v or "") for k, v in attrs}
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs_of.setdefault(tag, []).append(a)
        if tag == "table":
            self._table.append(a.get("id", ""))
        elif tag == "tr":
            self._row = {"attrs": a, "cells": {}, "texts": []}
            if self._table and self._table[-1] == "clips" and "data-clip" in a:
                self.rows[a["data-clip"]] = self._row
            elif self._table:
                self.table_rows.setdefault(self._table[-1], []).append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"attrs": a, "text": ""}
            if "data-col" in a:
                self._row["cells"][a["data-col"]] = self._cell
            self._row["texts"].append(self._cell)
        elif tag == "div" and "data-summary" in a:
            self.cards[a["data-summary"]] = a["data-v"]
        elif tag == "div" and "hists" in a.get("class", "").split():
            self._hist_label = a["data-label"]
        elif tag == "polyline" and "data-name" in a:
            self.hist[(self._hist_label, a["data-name"])] = int(a["data-n"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data

    def value(self, clip: str, col: str) -> float:
        return float(self.rows[clip]["cells"][col]["attrs"]["data-v"])


def make_batch(root: Path) -> Path:
    """A batch output folder: manifest, videos/walk.h5 (good), videos/run.h5 (hidden wrist), one failure."""
    from imusynth.batch.manifest import MANIFEST_NAME, Manifest
    from imusynth.io.motion_job import run_motion_job
    from imusynth.video.job import process_video

    walk_src, run_src = shared_path(*WALK), shared_path(*RUN)
    os.environ.setdefault("IMUSYNTH_MODEL_DIR", str(shared_path("models")))
    out = root / "batch"
    (out / "videos").mkdir(parents=True)
    cfg = with_overrides(load_pipeline_config(), {"output.placements": ["wrist", "thigh"]})
    run_motion_job(walk_src, out / "videos" / "walk.h5", cfg=cfg, clip_id="walk")
    process_video(run_src, out / "videos" / "run.h5", config=cfg)
    with Manifest(out / MANIFEST_NAME) as m:
        for key, label, output in (
            ("walk", "walking", "videos/walk.h5"),
            ("run", "running", "videos/run.h5"),
        ):
            src = walk_src if key == "walk" else run_src
            m.add(str(src), url=str(src), video_id=key, label=label, start_s=None, end_s=None)
            m.mark_running(str(src), "process", config_hash=config_hash(cfg), output=output)
            m.mark_done(str(src), output=output, config_hash=config_hash(cfg), process_s=1.0)
        m.add(FAILED_URL, url=FAILED_URL, video_id="gone", label="running", start_s=None, end_s=None)
        m.mark_failed(FAILED_URL, FAILED_REASON)
    return out


@pytest.fixture(scope="module")
def batch_report(tmp_path_factory) -> tuple[Path, Path, Page]:
    root = tmp_path_factory.mktemp("report")
    out = make_batch(root)
    html = root / "report.html"
    main(["report", str(out), "-o", str(html)])
    return out, html, Page(html.read_text(encoding="utf-8"))


def _norm_peak(values: np.ndarray, valid: np.ndarray) -> float:
    n = np.linalg.norm(values[valid], axis=1)
    return float(n.max()) if n.size else float("nan")


def test_clip_rows_match_the_hdf5(batch_report):
    out, _, page = batch_report
    assert sorted(page.rows) == ["run", "walk"]
    for key, label in (("walk", "walking"), ("run", "running")):
        (clip,) = read_clips(out / "videos" / f"{key}.h5", with_motion=True, with_pose=True)
        row = page.rows[key]  # gather's rule: the file's stem
        assert row["attrs"]["data-label"] == label
        assert row["cells"]["group"]["text"] == key  # the manifest's video id
        cells = {k: float(v["attrs"]["data-v"]) for k, v in row["cells"].items() if "data-v" in v["attrs"]}
        assert cells["duration_s"] == pytest.approx(clip.duration_s, rel=1e-9)
        for name, s in clip.sensors.items():
            assert cells[f"valid:{name}"] == pytest.approx(100.0 * s.valid.mean(), rel=1e-9)
        peak_acc = max(_norm_peak(s.acc, s.valid) for s in clip.sensors.values())
        peak_gyro = max(_norm_peak(s.gyro, s.valid) for s in clip.sensors.values())
        assert cells["peak_acc_g"] == pytest.approx(peak_acc / G0, rel=1e-6)  # float32 storage
        assert cells["peak_gyro_rad_s"] == pytest.approx(peak_gyro, rel=1e-6)
        assert cells["pose_confidence"] == pytest.approx(float(np.mean(clip.motion.confidence)), rel=1e-6)
        flags = row["attrs"]["data-flags"].split()
        assert ("acc_high" in flags) == (peak_acc > 8.0 * G0)
        assert ("gyro_high" in flags) == (peak_gyro > 20.0)
        assert ("low_valid" in flags) == any(s.valid.mean() < 0.5 for s in clip.sensors.values())


def test_hidden_sensor_is_flagged_and_listed_as_empty(batch_report):
    out, _, page = batch_report
    (clip,) = read_clips(out / "videos" / "run.h5")
    hidden = [n for n, s in clip.sensors.items() if not s.valid.any()]
    assert hidden, "the side-view run should hide one wrist (test data changed?)"
    assert page.value("run", f"valid:{hidden[0]}") == 0.0
    assert "low_valid" in page.rows["run"]["attrs"]["data-flags"].split()
    assert "low_valid" not in page.rows["walk"]["attrs"]["data-flags"].split()
    problems = {
        r["attrs"]["data-status"]: [c["text"] for c in r["texts"]]
        for r in page.table_rows["problems"]
        if "data-status" in r["attrs"]
    }
    assert FAILED_REASON in problems["failed"] and FAILED_URL in problems["failed"]
    assert any(hidden[0] in t and "no valid sample" in t for t in problems["empty"])


def test_video_columns_come_from_the_pose_arrays(batch_report):
    out, _, page = batch_report
    (clip,) = read_clips(out / "videos" / "run.h5", with_pose=True)
    pose = clip.pose
    assert page.value("run", "identity_switches") == metrics.identity_switches(pose["left_right_swapped"])
    R, t = pose["camera_rotation"].astype(np.float64), pose["time"]
    angles = [math.acos(min(1.0, (np.trace(R[k].T @ R[k + 1]) - 1) / 2)) for k in range(len(t) - 1)]
    assert page.value("run", "camera_rate_deg_s") == pytest.approx(
        np.degrees(sum(angles) / (t[-1] - t[0])), rel=1e-6, abs=1e-9
    )
    assert page.value("run", "shot_cuts") == clip.attrs["n_shots"] - 1
    assert page.rows["run"]["cells"]["person"]["text"] == str(clip.attrs["track_id"])
    assert math.isnan(page.value("walk", "camera_rate_deg_s"))  # motion clip: no camera


def test_summary_and_windows_match_export(batch_report):
    from imusynth.cli.har import windows_from_files

    out, _, page = batch_report
    clips = [read_clips(out / "videos" / f"{k}.h5")[0] for k in ("walk", "run")]
    assert int(page.cards["clips"]) == 2
    assert float(page.cards["hours"]) == pytest.approx(sum(c.duration_s for c in clips) / 3600, rel=1e-2)
    # the windows a default export cuts from the walk (labelled the manifest's way)
    walk = out / "videos" / "walk.h5"
    ws = windows_from_files([walk], label="walking")
    assert len(ws) > 0
    assert page.value("walk", "windows") == len(ws)
    labels = {r["attrs"]["data-label"]: r for r in page.table_rows["labels"] if "data-label" in r["attrs"]}
    assert float(labels["walking"]["cells"]["windows"]["attrs"]["data-v"]) == len(ws)
    placements = {
        r["attrs"]["data-placement"]: r
        for r in page.table_rows["placements"]
        if "data-placement" in r["attrs"]
    }
    for name in ("wrist", "thigh"):
        v = np.concatenate([c.sensors[name].valid for c in clips])
        assert float(placements[name]["cells"]["valid_share"]["attrs"]["data-v"]) == pytest.approx(v.mean())


def test_page_is_self_contained_with_thresholds_shown(batch_report):
    _, html, page = batch_report
    text = html.read_text(encoding="utf-8")
    assert "src=" not in text and "<link" not in text and "@import" not in text and "url(" not in text
    hrefs = [a["href"] for a in page.attrs_of.get("a", [])] + [
        a["href"] for a in page.attrs_of.get("image", [])
    ]
    assert all(h.startswith(("#", "data:image/jpeg;base64,", FAILED_URL)) for h in hrefs), hrefs
    assert page.tags["image"] >= 1  # the run's frame, from the source video
    assert page.tags["svg"] >= 2 + 2 + 2 * 2  # skeletons, signals, histograms
    shown = {
        r["attrs"]["data-key"]: r["attrs"]["data-v"]
        for r in page.table_rows["thresholds"]
        if "data-key" in r["attrs"]
    }
    assert shown == {k: f"{v:g}" for k, v in dataclasses.asdict(ReportConfig()).items()}
    assert not list(html.parent.glob(".*.part"))  # atomic write left nothing behind


def test_pipeline_thresholds_change_flags_and_page(batch_report, tmp_path):
    out, _, _ = batch_report
    toml = tmp_path / "strict.toml"
    toml.write_text("[report]\nmin_valid_share = 0.999\nmax_acc_g = 0.5\n")
    html = tmp_path / "strict.html"
    main(["report", str(out / "videos" / "walk.h5"), "-o", str(html), "--pipeline", str(toml), "--no-frames"])
    page = Page(html.read_text(encoding="utf-8"))
    (clip,) = read_clips(out / "videos" / "walk.h5")
    flags = page.rows["walk"]["attrs"]["data-flags"].split()
    assert ("low_valid" in flags) == any(s.valid.mean() < 0.999 for s in clip.sensors.values())
    assert "acc_high" in flags  # > 0.5 g anywhere: walking
    shown = {
        r["attrs"]["data-key"]: r["attrs"]["data-v"]
        for r in page.table_rows["thresholds"]
        if "data-key" in r["attrs"]
    }
    assert shown["min_valid_share"] == "0.999" and shown["max_acc_g"] == "0.5"


def test_report_threshold_does_not_change_config_hash():
    cfg = load_pipeline_config()
    assert config_hash(cfg) == config_hash(with_overrides(cfg, {"report.max_acc_g": 3.0}))


def _signals(n: int, rate: float, acc: np.ndarray, gyro: np.ndarray, valid: np.ndarray) -> SensorSignals:
    t = np.arange(n) / rate
    q = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    return SensorSignals(
        placement="wrist",
        time=t,
        acc=acc,
        gyro=gyro,
        orientation=q,
        valid=valid,
        rate_hz=rate,
        cutoff_hz=6.0,
        frame="test",
        placement_toml="",
    )


def test_flags_closed_form(tmp_path):
    """Spikes at valid samples flag, the same spikes at invalid samples do not; shares are exact."""
    n, rate = 200, 50.0
    acc = np.tile([0.0, 0.0, G0], (n, 1))
    gyro = np.zeros((n, 3))
    valid = np.ones(n, dtype=bool)
    acc[50] = [0.0, 0.0, 8.01 * G0]  # just above 8 g
    gyro[60] = [0.0, 20.01, 0.0]  # just above 20 rad/s
    valid[100:181] = False  # 119 of 200 valid: share 0.595
    hot = _signals(n, rate, acc, gyro, valid)
    acc2, gyro2, valid2 = acc.copy(), gyro.copy(), np.ones(n, dtype=bool)
    valid2[[50, 60]] = False  # the same spikes, but not valid
    acc2[[50, 60]] = np.nan
    gyro2[[50, 60]] = np.nan
    acc2[70] = [0.0, 0.0, 7.99 * G0]  # just below
    cold = _signals(n, rate, acc2, gyro2, valid2)
    clips = [
        Clip(cid, "x.trc", "", "motion", rate, n / rate, "", {"wrist": s}, label="jump")
        for cid, s in (("hot", hot), ("cold", cold))
    ]
    h5 = tmp_path / "c.h5"
    write_clips(h5, clips)
    html = tmp_path / "c.html"
    build_report(html, clip_files=[ClipFile(h5)], thresholds=ReportConfig(min_valid_share=0.6))
    page = Page(html.read_text(encoding="utf-8"))
    assert page.rows["hot"]["attrs"]["data-flags"] == "acc_high gyro_high low_valid"
    assert page.rows["cold"]["attrs"]["data-flags"] == ""
    assert page.value("hot", "valid:wrist") == pytest.approx(100 * 119 / 200, rel=1e-12)
    assert page.value("hot", "peak_acc_g") == pytest.approx(8.01, rel=1e-6)
    assert page.value("cold", "peak_acc_g") == pytest.approx(7.99, rel=1e-6)
    assert page.value("hot", "peak_gyro_rad_s") == pytest.approx(20.01, rel=1e-6)
    assert page.value("cold", "peak_gyro_rad_s") == 0.0


def test_camera_rotation_rate_of_a_steady_pan():
    w, rate = 0.3, 30.0  # rad/s about the vertical
    t = np.arange(61) / rate
    c, s = np.cos(w * t), np.sin(w * t)
    R = np.zeros((t.size, 3, 3))
    R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1.0
    assert metrics.camera_rotation_rate(R, t) == pytest.approx(w, rel=1e-9)


def test_depth_jumps_and_identity_switches():
    t = np.arange(100) / 30.0
    z = 3.0 - 0.5 * t  # walking towards the camera, 0.5 m/s
    assert metrics.depth_jumps(z, t, max_speed_m_s=3.0) == 0
    z2 = z.copy()
    z2[40:] += 0.5  # a 0.5 m step in one frame: 15 m/s
    z2[70:] -= 0.5
    z2[[10, 11]] = np.nan  # unknown frames are skipped
    assert metrics.depth_jumps(z2, t, max_speed_m_s=3.0) == 2
    pts = np.full((3, 33, 3), np.nan)
    pts[:, 23, 2], pts[:, 24, 2], pts[:, 0, 2] = [2.0, 2.0, 2.0], [4.0, 4.0, np.nan], 9.0
    assert np.allclose(metrics.body_depth(pts, (23, 24)), [3.0, 3.0, 5.5])  # hips, else the median
    sw = np.zeros((10, 3), dtype=bool)
    sw[3:6, 1] = True  # one swap on, then off: two switches
    sw[8:, 2] = True
    assert metrics.identity_switches(sw) == 3


def test_decimation_keeps_every_peak_and_spans():
    t = np.arange(10_000) / 100.0
    y = np.sin(t)
    y[1234], y[8765] = 50.0, -40.0
    td, yd = metrics.decimate_minmax(t, y, 100)
    assert yd.size <= 200 and yd.max() == 50.0 and yd.min() == -40.0
    assert np.all(np.diff(td) >= 0)
    valid = np.ones(10, dtype=bool)
    valid[2:4] = False
    valid[9] = False
    assert metrics.invalid_spans(np.arange(10.0), valid) == [(1.5, 3.5), (8.5, 9.5)]


def test_windows_file_and_real_device(batch_report, tmp_path):
    """A windows file's counts per label, and a real device's |acc| beside the virtual one per label."""
    from imusynth.calibrate import load_recordings
    from imusynth.cli.har import windows_from_files
    from imusynth.har import save_windows

    out, _, _ = batch_report
    real = shared_path("imu", "spsw-har", "DATA", "s01", "s01_01_sw.csv")
    ws = windows_from_files([out / "videos" / "walk.h5"], label="walking")
    win = save_windows(ws, tmp_path / "w.h5")
    html = tmp_path / "w.html"
    main(["report", str(win), str(out / "videos" / "walk.h5"), "-o", str(html), "--real", str(real),
          "--real-preset", "spsw_har", "--no-frames"])
    page = Page(html.read_text(encoding="utf-8"))
    wfile = [r for r in page.table_rows[""] if r["attrs"].get("data-label") == "walking"]
    assert float(wfile[0]["cells"]["windows"]["attrs"]["data-v"]) == len(ws)
    (rec,) = load_recordings([real], preset="spsw_har")
    (s,) = rec.series.values()
    # the windows file's samples are labelled "walking": the real device's WALKING samples are beside them
    assert page.hist[("walking", "real WALKING")] == int(np.count_nonzero(s.labels == "WALKING"))
    assert page.hist[("walking", "wrist")] == ws.X.shape[0] * ws.X.shape[1]
    # the clip read on its own has no label: all the real samples are beside it
    (clip,) = read_clips(out / "videos" / "walk.h5")
    assert clip.label is None
    assert page.hist[("(unlabelled)", "real (all labels)")] == s.n
    assert page.hist[("(unlabelled)", "wrist")] == int(clip.sensors["wrist"].valid.sum())


@pytest.mark.parametrize("command", ["video", "batch"])
def test_report_option_of_video_and_batch(command, tmp_path, monkeypatch):
    monkeypatch.setenv("IMUSYNTH_MODEL_DIR", str(shared_path("models")))
    video = shared_path(*RUN)
    html = tmp_path / "qa.html"
    out = tmp_path / ("run.h5" if command == "video" else "runs")
    args = [command, str(video), "-p", "wrist", "-p", "thigh", "-o", str(out), "--report", str(html)]
    main(args + (["--no-progress", "--label", "running"] if command == "batch" else []))
    page = Page(html.read_text(encoding="utf-8"))
    assert len(page.rows) == 1
    (row,) = page.rows.values()
    assert row["attrs"]["data-label"] == ("running" if command == "batch" else "(unlabelled)")
    assert "low_valid" in row["attrs"]["data-flags"].split()          # the hidden wrist of this side view


def test_report_path_must_be_html(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path), "-o", str(tmp_path / "r.png")])
    assert exc.value.code == 2


def test_seeking_gives_the_frame_the_decoder_gives():
    """Thumbnails seek (fast deep into long videos), yet show exactly the frame that iter_frames yields."""
    from imusynth.report.collect import seek_frame
    from imusynth.video.decode import iter_frames

    video = shared_path("videos", "sports2d", "demo4_walking.mp4")
    frames = {f.index: f for f in iter_frames(video, end_s=8.0)}
    for k in (0, 5, 200, 239):
        got = seek_frame(video, frames[k].time_s)
        assert got is not None and got.shape == frames[k].image.shape
        assert np.array_equal(got, frames[k].image)


def test_window_count_uses_the_export_defaults():
    import inspect

    from imusynth.cli.har import windows_from_files
    from imusynth.report import EXPORT_DEFAULTS

    p = inspect.signature(windows_from_files).parameters
    assert EXPORT_DEFAULTS == (p["window_s"].default, p["overlap"].default, p["rate_hz"].default)
