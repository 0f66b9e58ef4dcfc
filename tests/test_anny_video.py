"""Issue 16: the video pipeline with ``--body-model anny`` (the real Anny model) on a real walking video.

``imusynth demo4_walking.mp4 --body-model anny -p wrist -p thigh ...`` runs end to end through the CLI,
stores the fit (model name, version, parameters) in the clip, and the thigh sensors on Anny's skin keep
the walking cadence (1.4-2.2 steps/s, the check of tests/test_video_real.py). Figures against the
skeleton path: docs/validation.md ("Anny body model").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("anny")

from imusynth.cli.main import run  # noqa: E402
from imusynth.io.hdf5 import read_clips  # noqa: E402

from .conftest import shared_path  # noqa: E402
from .test_video_real import stride_period_s  # noqa: E402

pytestmark = pytest.mark.slow


def test_walking_video_with_anny_body_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMUSYNTH_MODEL_DIR", str(shared_path("models")))
    video = shared_path("videos", "sports2d", "demo4_walking.mp4")
    out = tmp_path / "walk.h5"
    rc = run([str(video), "--body-model", "anny", "-p", "wrist", "-p", "thigh", "-p", "left_thigh",
              "-p", "right_thigh", "-o", str(out)])
    assert rc == 0
    (clip,) = read_clips(out)
    import h5py

    with h5py.File(out, "r") as f:  # the fit's group (read_clips does not read body-fit groups)
        g = f[f"clips/{clip.clip_id}/anny"]
        datasets = {k: g[k][()] for k in g}
        attrs = dict(g.attrs)
        text = f[f"clips/{clip.clip_id}/sensors/thigh"].attrs["placement"]
    assert attrs["body_model"] == "Anny" and attrs["anny_version"] == "0.6.2"
    T = clip.motion.n_frames
    assert datasets["betas"].shape == (6,) and datasets["body_pose"].shape == (T, 54)
    assert datasets["transl"].shape == (T, 3)
    assert attrs["rmse_3d_m"] < 0.08                         # measured 4.2 cm against MediaPipe's 3-D
    for name in ("thigh", "left_thigh", "right_thigh"):
        sig = clip.sensors[name]
        assert sig.valid.mean() > 0.9
        cadence = 2.0 / stride_period_s(sig)
        assert 1.4 <= cadence <= 2.2, f"{name}: {cadence:.2f} steps/s"   # measured 1.85-1.92
    assert np.isfinite(clip.sensors["wrist"].acc[clip.sensors["wrist"].valid]).all()
    # the placement stored is the mesh one, with its vertex ids
    assert "Anny: phone in the right front trouser pocket" in text and "vertices [" in text


def test_motion_file_with_anny_body_model(tmp_path: Path) -> None:
    """``imusynth motion FILE.trc --body-model anny``: Pose2Sim's triangulated balancing trial."""
    trc = shared_path("videos", "pose2sim", "reference_pose3d_from_history",
                      "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")
    out = tmp_path / "trc.h5"
    args = ["motion", str(trc), "--body-model", "anny", "-p", "thigh", "-p", "wrist", "-o", str(out)]
    assert run(args) == 0
    (clip,) = read_clips(out)
    import h5py

    with h5py.File(out, "r") as f:
        attrs = dict(f[f"clips/{clip.clip_id}/anny"].attrs)
    assert attrs["body_model"] == "Anny"
    assert attrs["rmse_3d_m"] < 0.04                           # measured 2.2 cm
    for name in ("thigh", "wrist"):
        sig = clip.sensors[name]
        assert sig.valid.mean() > 0.9 and np.isfinite(sig.acc[sig.valid]).all()
    assert run(["motion", str(trc), "--body-model", "smpl", "-o", str(tmp_path / "x.h5")]) == 2
