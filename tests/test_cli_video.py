"""`imusynth VIDEO` end to end through the command line: real video, help, and bad input.

Runs ``python -m imusynth`` in a subprocess with the MediaPipe models of ``../shared/models``
(``IMUSYNTH_MODEL_DIR``) on ``../shared/videos/sports2d/demo3_running.mp4`` (480x352, 47 frames) and
on small videos written here. Each run is a few seconds of CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from imusynth.io.hdf5 import validate_file

from .conftest import REPO, shared_path
from .synthetic_scene import CameraPath, SphereRenderer, intrinsics_matrix, make_panorama, render_sequence

N_RUNNING_FRAMES = 47  # demo3_running.mp4 (see ../shared/videos/sports2d/README.md)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["IMUSYNTH_MODEL_DIR"] = str(shared_path("models"))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "imusynth", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def running_video() -> Path:
    return shared_path("videos", "sports2d", "demo3_running.mp4")


def count_frames(path: Path) -> int:
    """Frames that actually decode (not the container's claim)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("imusynth: error:")]


def assert_clean_failure(r: subprocess.CompletedProcess[str], folder: Path, before: set[str], *,
                         match: str) -> None:
    """Non-zero exit, one one-line error that says what is wrong, no traceback, nothing written."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    errors = error_lines(r.stderr)
    assert len(errors) == 1, r.stderr[-2000:]
    assert match in errors[0].lower(), errors[0]
    assert r.stderr.rstrip().splitlines()[-1] == errors[0]  # the last thing the user sees
    assert "Traceback" not in r.stderr
    assert {p.name for p in folder.iterdir()} == before  # no output, no temporary file left behind


def test_help_lists_the_video_job(tmp_path: Path) -> None:
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "imusynth VIDEO --placement wrist" in r.stdout
    for command in ("video", "motion", "placements", "inspect"):
        assert command in r.stdout
    r = run("video", "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for option in ("--placement", "--output", "--rate", "--model", "--person", "--start", "--end",
                   "--static-camera", "--fov", "--overlay", "--plot"):
        assert option in r.stdout, option


def test_video_end_to_end(tmp_path: Path) -> None:
    """`imusynth VIDEO -p wrist -p thigh -o OUT.h5 --plot P.png --overlay Q.mp4` on a real clip."""
    video = running_video()
    out, png, overlay = tmp_path / "out.h5", tmp_path / "signals.png", tmp_path / "qa.mp4"
    r = run(str(video), "-p", "wrist", "-p", "thigh", "-o", str(out), "--plot", str(png), "--overlay",
            str(overlay), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"wrote {out}" in r.stdout
    assert validate_file(out) == []
    with h5py.File(out, "r") as f:
        clips = list(f["clips"])
        assert len(clips) == 1  # --person main: one clip
        g = f["clips"][clips[0]]
        assert g.attrs["source_kind"] == "video"
        assert set(g["sensors"]) == {"wrist", "thigh"}
        pose = g["pose"]
        n = pose["time"].shape[0]
        assert n >= 30  # the runner is in view for most of the 47 frames
        assert pose["image_xy"].shape == (n, 33, 2)
        assert pose["world_landmarks"].shape == (n, 33, 3)
        assert pose["visibility"].shape == (n, 33)
        assert pose["camera_rotation"].shape == (n, 3, 3)
        assert pose["frame_index"].shape == (n,)
        R = pose["camera_rotation"][()].astype(np.float64)
        np.testing.assert_allclose(R @ np.transpose(R, (0, 2, 1)), np.broadcast_to(np.eye(3), R.shape),
                                   atol=1e-5)  # rotations (float32 storage)
        # the runner is filmed from her right: the right thigh is in view throughout, while the left
        # wrist (the default smartwatch placement) is mostly hidden behind the body, so its samples
        # may be invalid; invalid samples must be NaN, never made-up numbers
        assert g["sensors"]["thigh"]["valid"][()].any()
        for name in ("wrist", "thigh"):
            s = g["sensors"][name]
            valid = s["valid"][()]
            assert np.isnan(s["acc"][()][~valid]).all() and np.isnan(s["gyro"][()][~valid]).all()
            assert np.isfinite(s["acc"][()][valid]).all() and np.isfinite(s["gyro"][()][valid]).all()
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    cap = cv2.VideoCapture(str(overlay))
    assert cap.isOpened()
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    assert size == (480, 352)
    assert count_frames(overlay) == count_frames(video) == N_RUNNING_FRAMES


def test_video_tells_a_person_what_happened(tmp_path: Path) -> None:
    """Issue 10: a hidden sensor is warned about, a summary ends the run, native logs stay hidden, the
    overlay is H.264 (when FFmpeg is there), ``--plot`` honours .svg, and a rerun needs ``--force``."""
    import shutil

    video = running_video()
    out, svg, overlay = tmp_path / "out.h5", tmp_path / "signals.svg", tmp_path / "qa.mp4"
    args = [str(video), "-p", "wrist", "-p", "thigh", "-o", str(out), "--plot", str(svg),
            "--overlay", str(overlay)]
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    # the left wrist is behind the body in this side view: 0 % valid, and the user is told so
    lines = r.stderr.replace("\r", "\n").splitlines()
    assert "warning: sensor wrist: 0 % valid samples (hidden in this view?)" in lines, r.stderr[-2000:]
    # MediaPipe / LiteRT / glog lines are hidden by default
    for marker in ("W0000", "I0000", "INFO:", "WARNING: Logging before InitGoogle", "Sparsity"):
        assert marker not in r.stderr, r.stderr[-2000:]
    with h5py.File(out, "r") as f:
        (clip,) = f["clips"].values()
        shares = {n: float(np.mean(g["valid"][()])) for n, g in clip["sensors"].items()}
        t = clip["sensors/thigh/time"][()]
    assert shares["wrist"] == 0.0 and shares["thigh"] > 0.5
    assert "person: kept track" in r.stdout and "main subject" in r.stdout
    assert f"{t[0]:.2f}-{t[-1]:.2f} s" in r.stdout
    assert f"sensor thigh            {100 * shares['thigh']:5.1f} % valid" in r.stdout, r.stdout
    for path, what in ((out, "HDF5"), (svg, "plot"), (overlay, "overlay video")):
        assert f"wrote {path} ({what}" in r.stdout
    assert svg.read_text().lstrip().startswith("<?xml") and "sensor wrist: no valid sample" in svg.read_text()
    cap = cv2.VideoCapture(str(overlay))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace").lower()
    cap.release()
    if shutil.which("ffmpeg"):
        assert fourcc in ("avc1", "h264"), fourcc
        assert "(overlay video, H.264)" in r.stdout
    else:
        assert "install ffmpeg for H.264" in r.stdout
    assert count_frames(overlay) == N_RUNNING_FRAMES
    # a rerun refuses to replace the three files, and says so in one line
    before = {p: p.read_bytes() for p in (out, svg, overlay)}
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert error_lines(r.stderr) == [f"imusynth: error: --output {out} exists: give --force to replace it"]
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize(("content", "match"), [
    (b"", "empty"),
    (b"this is a text file, not a video\n" * 20, "not a video"),
])
def test_bad_input_fails_cleanly(tmp_path: Path, content: bytes, match: str) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_bytes(content)
    r = run(str(bad), "-p", "wrist", "-o", str(tmp_path / "x.h5"), cwd=tmp_path)
    assert_clean_failure(r, tmp_path, {"x.mp4"}, match=match)
    assert r.stderr.strip() == error_lines(r.stderr)[0]  # no model was loaded: the error is all there is


def test_missing_video_fails_cleanly(tmp_path: Path) -> None:
    r = run(str(tmp_path / "nope.mp4"), cwd=tmp_path)
    assert_clean_failure(r, tmp_path, set(), match="not found")


def test_video_without_a_person_fails_cleanly(tmp_path: Path) -> None:
    """A textured background panning for 1.5 s, nobody in view: an error, no file."""
    w, h, fps = 256, 144, 30.0
    K = intrinsics_matrix(w, h, 60.0)
    path = tmp_path / "empty_scene.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for frame in render_sequence(SphereRenderer(K, w, h), [make_panorama(5, width=1536)], path=CameraPath(),
                                 n_frames=45, fps=fps):
        writer.write(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    writer.release()
    r = run(str(path), "-p", "wrist", cwd=tmp_path)
    assert_clean_failure(r, tmp_path, {"empty_scene.mp4"}, match="no person")


def test_corrupt_frames_recorded_and_default_output_name(tmp_path: Path) -> None:
    """MJPEG AVI of the running clip with three frames' JPEG data destroyed (see test_video.py).

    The run succeeds, records the corrupt frames in the clip's ``corrupt_frames`` attribute, and,
    with no ``-o``, writes ``<video stem>.h5`` into the current directory (not beside the video).
    """
    src = cv2.VideoCapture(str(running_video()))
    fps = src.get(cv2.CAP_PROP_FPS)
    inputs, work = tmp_path / "in", tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    path = inputs / "running_mj.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (480, 352))
    n = 0
    while True:
        ok, img = src.read()
        if not ok:
            break
        writer.write(img)
        n += 1
    src.release()
    writer.release()
    assert n == N_RUNNING_FRAMES
    data = bytearray(path.read_bytes())
    soi = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    assert len(soi) == n  # one JPEG start-of-image marker per frame
    bad = [10, 11, 30]
    for k in bad:
        data[soi[k] : soi[k] + 600] = bytes(600)
    path.write_bytes(bytes(data))

    r = run(str(path), "-p", "thigh", cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    out = work / "running_mj.h5"
    assert sorted(p.name for p in work.iterdir()) == ["running_mj.h5"]
    assert sorted(p.name for p in inputs.iterdir()) == ["running_mj.avi"]
    assert validate_file(out) == []
    with h5py.File(out, "r") as f:
        (g,) = f["clips"].values()
        assert list(g.attrs["corrupt_frames"]) == bad
        frames = set(g["pose"]["frame_index"][()].tolist())
        assert not frames & set(bad)
        assert g["sensors"]["thigh"]["valid"][()].any()
