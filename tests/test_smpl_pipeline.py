"""Issue 6, acceptance 2: the whole video pipeline runs with --body-model smpl (synthetic SMPL model)."""

from __future__ import annotations

import h5py
import pytest

from imusynth.io.hdf5 import validate_file
from tests.conftest import shared_path
from tests.test_cli_motion import run

pytest.importorskip("torch")


@pytest.mark.slow
def test_video_pipeline_with_smpl_body_model(tmp_path, monkeypatch):
    from imusynth.body.smpl import write_synthetic_model

    video = shared_path("videos", "sports2d", "demo3_running.mp4")
    monkeypatch.setenv("IMUSYNTH_MODEL_DIR", str(shared_path("models")))
    model_dir = tmp_path / "smpl"
    write_synthetic_model(model_dir)
    out = tmp_path / "run.h5"
    r = run(str(video), "-p", "wrist", "-p", "thigh", "--body-model", "smpl", "--smpl-dir", str(model_dir),
            "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert validate_file(out) == []
    with h5py.File(out) as f:
        clip = next(iter(f["clips"].values()))
        smpl = clip["smpl"]
        T = clip["pose/time"].shape[0]
        assert smpl["body_pose"].shape == (T, 69) and smpl["transl"].shape == (T, 3)
        assert smpl["betas"].ndim == 1
        assert smpl.attrs["smplx_version"]
        for name in ("wrist", "thigh"):
            assert clip[f"sensors/{name}/valid"][()].mean() > 0.5


def test_smpl_without_model_files_says_where_to_get_them(tmp_path):
    video = shared_path("videos", "sports2d", "demo3_running.mp4")
    r = run(str(video), "--body-model", "smpl", "--smpl-dir", str(tmp_path / "empty"), "-o",
            str(tmp_path / "x.h5"))
    assert r.returncode == 2
    assert "smpl.is.tue.mpg.de" in r.stderr
    assert not (tmp_path / "x.h5").exists()
    r = run(str(video), "--body-model", "smpl", "-o", str(tmp_path / "x.h5"))
    assert r.returncode == 2 and "--smpl-dir" in r.stderr
    assert not (tmp_path / "x.h5").exists()
