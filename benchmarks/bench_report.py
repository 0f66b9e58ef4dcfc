"""Size and opening time of an ``imusynth report`` page of 500 clips (issue 15: < 20 MB, opens in < 2 s).

The clips are synthetic: :func:`bench_physics.walking_motion` (a MediaPipe-33 walker, 30 Hz, with a
random seed per clip, occlusion gaps that leave invalid spans) through :func:`imusynth.core.sensors.simulate`
for ``wrist`` and ``thigh`` at 50 Hz, written with :func:`imusynth.io.hdf5.write_clips` in files of 50
clips. Half the clips are made to look like video clips: they carry the ``pose/`` arrays of the video
job (2-D landmarks projected from the walker, visibility, camera rotation with a slow pan, camera points,
left/right swap flags) and, when ``../shared/videos/sports2d/demo.mp4`` is there, name it as their source,
so the report decodes one frame of it per clip for the thumbnail under the skeleton (as in a batch whose
download cache is kept).

Measured: the time to build the page (wall and CPU), its size, and the time headless Chromium takes to
open it: ``performance.now()`` when the first frame after the ``load`` event was painted, which the
page's own script stores in ``<html data-paint-ms>`` (read with ``--dump-dom``), and the wall time of a
``--screenshot`` run minus that of a one-clip page (browser start-up cancelled), medians of ``--repeat``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_report.py [--clips 500] [--duration 10] [--repeat 3]

Prints a table and writes ``benchmarks/results/bench_report.json`` (the page: ``bench_report.html``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_physics import walking_motion  # noqa: E402

from imusynth.core.placements import resolve_placements  # noqa: E402
from imusynth.core.sensors import simulate  # noqa: E402
from imusynth.io.hdf5 import Clip, write_clips  # noqa: E402
from imusynth.report import ClipFile, build_report  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEMO = Path(__file__).resolve().parents[2] / "shared" / "videos" / "sports2d" / "demo.mp4"
LABELS = ("walking", "running", "jumping", "waving", "sitting")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def _pose(motion, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The ``pose/`` arrays a video clip of this walker would have (1768 x 994 px, camera 4 m away)."""
    xyz = motion.xyz.astype(np.float64)
    F = xyz.shape[0]
    f = 900.0
    cam = np.stack([xyz[..., 0], -xyz[..., 2] + 1.0, xyz[..., 1] + 4.0], axis=-1)   # x right, y down, z fwd
    image = np.stack([884.0 + f * cam[..., 0] / cam[..., 2], 497.0 + f * cam[..., 1] / cam[..., 2]], axis=-1)
    pan = 0.05 * motion.time                                                          # rad, 0.05 rad/s
    c, s = np.cos(pan), np.sin(pan)
    R = np.zeros((F, 3, 3))
    R[:, 0, 0], R[:, 0, 2], R[:, 2, 0], R[:, 2, 2], R[:, 1, 1] = c, s, -s, c, 1.0
    swapped = np.zeros((F, 3), dtype=bool)
    a = int(rng.integers(0, F - 10))
    swapped[a:a + 5, 2] = True
    return {
        "time": motion.time * 0.7, "frame_index": np.round(motion.time * 0.7 * 30).astype(np.int64),
        "image_xy": image.astype(np.float32), "visibility": motion.confidence.astype(np.float32),
        "camera_points": cam.astype(np.float32), "camera_rotation": R.astype(np.float32),
        "left_right_swapped": swapped, "camera_K": np.array([[f, 0, 884.0], [0, f, 497.0], [0, 0, 1]]),
    }


def make_clips(folder: Path, n: int, duration_s: float) -> list[Path]:
    """``n`` synthetic clips in files of 50 under ``folder``."""
    placements = resolve_placements(["wrist", "thigh"])
    rng = np.random.default_rng(15)
    files, batch = [], []
    for k in range(n):
        motion = walking_motion(duration_s, seed=k)
        sensors = simulate(motion, placements, rate_hz=50.0, cutoff_hz=6.0, max_gap_s=0.2, min_confidence=0.5,
                           filter_order=2, require_valid=False)
        video = k % 2 == 1
        batch.append(Clip(
            clip_id=f"clip{k:04d}", source=str(DEMO) if video else f"mocap/take{k:04d}.trc", source_sha256="",
            source_kind="video" if video else "motion", source_rate_hz=30.0, duration_s=motion.duration_s,
            config="", sensors=sensors, motion=motion, label=LABELS[k % len(LABELS)], group=f"s{k % 50:02d}",
            attrs={"track_id": 0, "n_shots": 1, "shot": 0} if video else {},
            pose=_pose(motion, rng) if video else None,
        ))
        if len(batch) == 50 or k == n - 1:
            files.append(write_clips(folder / f"part{len(files):02d}.h5", batch))
            batch = []
    return files


def _browser(exe: str, *args: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as profile:
        t0 = time.perf_counter()
        done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=300, check=True)
        return time.perf_counter() - t0, done.stdout


def open_times(exe: str, page: Path, small: Path, repeat: int, shots: Path) -> dict[str, float]:
    """Median load-event and first-paint times (the page's own clock, ms) and screenshot wall time (s) minus a
    one-clip page's."""
    paint, load, walls, base = [], [], [], []
    for _ in range(4 * repeat):               # the dump may come before the first paint: try until enough
        _, dom = _browser(exe, "--dump-dom", page.as_uri())
        load += [float(v) for v in re.findall(r'data-load-ms="(\d+)"', dom)]
        paint += [float(v) for v in re.findall(r'data-paint-ms="(\d+)"', dom)]
        if len(paint) >= repeat:
            break
    size = "--window-size=1280,2000"
    for r in range(repeat):
        w, _ = _browser(exe, f"--screenshot={shots / f'big{r}.png'}", size, page.as_uri())
        b, _ = _browser(exe, f"--screenshot={shots / f'small{r}.png'}", size, small.as_uri())
        walls.append(w)
        base.append(b)
    return {
        "load_ms_median": statistics.median(load) if load else float("nan"),
        "paint_ms_median": statistics.median(paint) if paint else float("nan"),
        "paint_samples": len(paint),
        "screenshot_s_median": statistics.median(walls),
        "screenshot_one_clip_s_median": statistics.median(base),
        "open_s_estimate": statistics.median(walls) - statistics.median(base),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--duration", type=float, default=10.0, help="clip length, s")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        files = make_clips(folder, args.clips, args.duration)
        make_s = time.perf_counter() - t0
        page = RESULTS / "bench_report.html"
        w0, c0 = time.perf_counter(), time.process_time()
        summary = build_report(page, clip_files=[ClipFile(f) for f in files], title="bench_report")
        build_wall, build_cpu = time.perf_counter() - w0, time.process_time() - c0
        w0 = time.perf_counter()
        plain = build_report(RESULTS / "bench_report_no_frames.html", clip_files=[ClipFile(f) for f in files],
                             title="bench_report", with_frames=False)
        plain_wall, plain_mb = time.perf_counter() - w0, plain.bytes / 1e6
        small = RESULTS / "bench_report_one.html"
        build_report(small, clip_files=[ClipFile(files[0])], title="bench_report (one file)")
        h5_mb = sum(f.stat().st_size for f in files) / 1e6
    exe = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    opening = open_times(exe, page, small, args.repeat, Path(tempfile.mkdtemp())) if exe else {}
    out = {
        "clips": summary.clips, "flagged": summary.flagged, "clip_s": args.duration,
        "with_frames": DEMO.is_file(), "synthetic_h5_mb": round(h5_mb, 2), "make_clips_s": round(make_s, 2),
        "build_wall_s": round(build_wall, 2), "build_cpu_s": round(build_cpu, 2),
        "page_mb": round(summary.bytes / 1e6, 2), **{k: round(v, 3) for k, v in opening.items()},
        "build_no_frames_wall_s": round(plain_wall, 2), "page_no_frames_mb": round(plain_mb, 2),
        "browser": subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        if exe else None,
        "loadavg": os.getloadavg(), "machine": platform.platform(),
    }
    (RESULTS / "bench_report.json").write_text(json.dumps(out, indent=2))
    for k, v in out.items():
        print(f"{k:<30} {v}")


if __name__ == "__main__":
    main()
