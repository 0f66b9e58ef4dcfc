"""Training the temporal lifter (``imusynth.video.lift.train``, ``synth2d``, ``imusynth lifter train``).

Training data: closed-form articulated walkers (:mod:`tests.synthetic_walker`), a few seconds each, and two
shared Bandai-Namco BVH files for the reader path. Every run uses one torch thread (fast on a shared CPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imusynth.cli.main import main  # noqa: E402
from imusynth.errors import InputError  # noqa: E402
from imusynth.video.lift.synth2d import (  # noqa: E402
    MEDIAPIPE_LITE_2D_ERROR,
    VirtualCamera,
    corrupt,
    look_at,
)
from imusynth.video.lift.temporal import load_lifter_file, predict  # noqa: E402
from imusynth.video.lift.train import (  # noqa: E402
    DEFAULT_KEYPOINTS,
    Take,
    TrainConfig,
    camera_for,
    camera_pools,
    data_licence,
    load_takes,
    split_takes,
    take_from_motion,
    train_lifter,
)

from .conftest import shared_path  # noqa: E402
from .synthetic_walker import walker  # noqa: E402
from .test_cli_motion import write_trc  # noqa: E402

OUT = [*DEFAULT_KEYPOINTS, "neck", "head"]


def _take(seed: int, seconds: float = 4.0) -> Take:
    return take_from_motion(walker(seed, seconds=seconds), OUT, fps=30.0)


def _truth(take: Take, cam: VirtualCamera) -> np.ndarray:
    pc = cam.to_camera(take.xyz)
    hips = [take.names.index("left_hip"), take.names.index("right_hip")]
    return pc - pc[:, hips].mean(axis=1, keepdims=True)


def test_a_model_overfits_one_take(tmp_path: Path) -> None:
    """Exact 2-D input, one fixed camera: 1600 steps bring MPJPE through :func:`predict` to 5.8 mm
    (measured; required below 8 mm), so training and inference normalise the input the same way."""
    take = _take(1)
    cfg = TrainConfig(epochs=100, channels=64, filter_widths=(3, 3), chunk_frames=200, val_fraction=0,
                      noise_level=0, mirror=False, dropout=0, camera_pool=1, views_per_epoch=16, batch_size=1,
                      lr=1e-3, lr_decay=1.0)
    result = train_lifter([take], tmp_path / "one.pt", cfg=cfg, joints_out=OUT, threads=1)
    lf = load_lifter_file(result.path)
    cam = camera_pools([take], k=1, seed=0)[take.name][0]
    xy = cam.project(take.xyz[:, [take.names.index(n) for n in DEFAULT_KEYPOINTS]])
    pred = predict(lf, xy, np.ones(xy.shape[:2]), image_size=cam.image_size)
    err_mm = 1000 * np.linalg.norm(pred - _truth(take, cam), axis=-1).mean()
    assert err_mm < 8.0, f"MPJPE {err_mm:.1f} mm on the training take"


def test_loss_falls_and_the_file_round_trips(tmp_path: Path) -> None:
    takes = [_take(s, 5.0) for s in range(5)]
    cfg = TrainConfig(epochs=6, channels=32, filter_widths=(3, 3, 3), chunk_frames=27, batch_size=8,
                      views_per_epoch=2, val_fraction=0.2, lr=2e-3)
    result = train_lifter(takes, tmp_path / "lifter.pt", cfg=cfg, joints_out=OUT, threads=1,
                          licences={"/data/walkers": "CC0"})
    train_mm = [h["train_mpjpe_mm"] for h in result.history]
    assert len(train_mm) == 6 and train_mm[-1] < 0.5 * train_mm[0], train_mm
    assert all(np.isfinite(h["val_mpjpe_mm"]) for h in result.history)
    assert len(result.val_takes) == 1 and not set(result.val_takes) & set(result.train_takes)
    lf = load_lifter_file(result.path)
    assert lf.sha256 == result.sha256 and lf.fps == 30.0
    assert lf.keypoints_in == list(DEFAULT_KEYPOINTS) and lf.joints_out == OUT
    assert lf.meta["licences"] == {"/data/walkers": "CC0"} and lf.meta["val_takes"] == result.val_takes
    assert lf.meta["config"]["seed"] == 0 and len(lf.meta["history"]) == 6
    held = next(t for t in takes if t.name in result.val_takes)
    cam = camera_for(held, np.random.default_rng(9))
    xy = cam.project(held.xyz[:, :12])
    pred = predict(lf, xy, np.ones((len(xy), 12)), image_size=cam.image_size)
    assert pred.shape == (len(xy), 14, 3) and np.isfinite(pred).all()
    assert (tmp_path / "lifter.pt.ckpt").is_file()


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_lifter_file(path).model.state_dict()


def test_resume_continues_the_same_run_and_runs_are_reproducible(tmp_path: Path) -> None:
    takes = [_take(s, 3.0) for s in range(3)]
    kw = {"channels": 16, "filter_widths": (3, 3), "chunk_frames": 20, "batch_size": 4, "val_fraction": 0.34}
    train_lifter(takes, tmp_path / "a.pt", cfg=TrainConfig(epochs=2, **kw), joints_out=OUT, threads=1)
    train_lifter(takes, tmp_path / "c.pt", cfg=TrainConfig(epochs=2, **kw), joints_out=OUT, threads=1)
    train_lifter(takes, tmp_path / "b.pt", cfg=TrainConfig(epochs=1, **kw), joints_out=OUT, threads=1)
    resumed = train_lifter(takes, tmp_path / "b.pt", cfg=TrainConfig(epochs=2, **kw), joints_out=OUT,
                           threads=1, resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a, b, c = _weights(tmp_path / "a.pt"), _weights(tmp_path / "b.pt"), _weights(tmp_path / "c.pt")
    for k in a:
        assert torch.equal(a[k], c[k]), k
        assert torch.equal(a[k], b[k]), k
    with pytest.raises(InputError, match="another run"):
        train_lifter(takes, tmp_path / "b.pt", cfg=TrainConfig(epochs=3, **{**kw, "channels": 8}),
                     joints_out=OUT, threads=1, resume=True)


def test_split_is_by_take_and_seeded() -> None:
    takes = [_take(s, 1.0) for s in range(10)]
    train, val = split_takes(takes, val_fraction=0.2, seed=4)
    assert len(val) == 2 and len(train) == 8
    assert not {t.name for t in train} & {t.name for t in val}
    again = split_takes(takes, val_fraction=0.2, seed=4)[1]
    assert [t.name for t in again] == [t.name for t in val]
    assert split_takes(takes, val_fraction=0.0, seed=4)[1] == []


def test_look_at_and_projection_closed_form() -> None:
    centre, target = np.array([3.0, -4.0, 1.5]), np.array([0.0, 0.0, 1.5])
    R = look_at(centre, target)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    cam = VirtualCamera(R, centre, 1000.0, (1280, 720))
    np.testing.assert_allclose(cam.project(target), [640.0, 360.0], atol=1e-9)
    above = cam.project(target + [0.0, 0.0, 1.0])          # 1 m above the target, 5 m away: 200 px up
    np.testing.assert_allclose(above, [640.0, 160.0], atol=1e-9)


def test_random_cameras_see_the_whole_body() -> None:
    """Whole body in the image where the person is nearest the take's mean position (the camera is placed
    for it); over the whole walk (up to 9 m long) the person may leave the image now and then."""
    take = _take(2, 6.0)
    pelvis = take.xyz[:, 6:8].mean(axis=1)
    middle = int(np.argmin(np.linalg.norm(pelvis[:, :2] - pelvis[:, :2].mean(axis=0), axis=1)))
    rng = np.random.default_rng(0)
    inside = []
    for _ in range(100):
        cam = camera_for(take, rng)
        uv = cam.project(take.xyz)
        w, h = cam.image_size
        ok = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        assert ok[middle].all()
        inside.append(ok.mean())
    assert np.mean(inside) > 0.99


def test_noise_matches_the_measured_figures() -> None:
    """Noise only (no dropout, swaps or gross errors): each joint's median 2-D error over many frames is
    the measured median for its group, relative to the body's height in px, within 10 %."""
    rng = np.random.default_rng(1)
    names = list(DEFAULT_KEYPOINTS)
    t = 6000
    xy = np.zeros((t, len(names), 2))
    body = np.full(t, 500.0)
    noisy, conf = corrupt(rng, xy, body, names, fps=30.0, dropout=0, swap_rate=0, gross_rate=0)
    assert np.all(conf >= 0.5)
    err = np.median(np.linalg.norm(noisy, axis=2), axis=0) / 500.0
    want = np.array([MEDIAPIPE_LITE_2D_ERROR[n.split("_", 1)[1]][0] for n in names])
    np.testing.assert_allclose(err, want, rtol=0.1)
    same, full = corrupt(rng, xy, body, names, fps=30.0, level=0.0)
    np.testing.assert_array_equal(same, xy)
    assert np.all(full == 1.0)
    _, conf = corrupt(rng, xy, body, names, fps=30.0, dropout=0.05, swap_rate=0, gross_rate=0)
    assert 0.03 < np.mean(conf == 0) < 0.07


def test_data_licence_from_readmes(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "README.md").write_text("# data\n\nLicence: **CC BY-NC 4.0** (LICENSE)\n")
    assert data_licence(tmp_path / "set" / "a.bvh") == "CC BY-NC 4.0"
    assert data_licence(tmp_path / "nowhere" / "deeper" / "x.trc") == "unknown"
    bandai = shared_path("mocap", "bandai-namco", "dataset-1")
    assert data_licence(next(bandai.glob("*.bvh"))) == "CC BY-NC 4.0"


def test_bandai_bvh_files_become_takes() -> None:
    files = sorted(shared_path("mocap", "bandai-namco", "dataset-1").glob("*walk*.bvh"))[:2]
    takes, skipped = load_takes([*files, Path("/nonexistent/x.bvh")], OUT, fps=30.0)
    assert len(takes) == 2 and len(skipped) == 1
    for take in takes:
        assert take.xyz.shape[1:] == (14, 3) and np.isfinite(take.xyz).all()
        assert 1.0 < take.height_m < 2.0          # joints' vertical extent, m (head joint to ankles)
        span = np.ptp(take.xyz[:, take.names.index("left_ankle"), :2], axis=0).max()
        assert span > 0.5                         # a walk moves the feet


def test_cli_trains_and_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "mocap"
    data.mkdir()
    for s in range(3):
        m = walker(s, seconds=3.0)
        write_trc(data / f"walk{s}.trc", m.time, list(m.names), 1000 * m.xyz[..., [0, 2, 1]] * [1, 1, -1])
    out = tmp_path / "lifter.pt"
    args = ["lifter", "train", str(data), "-o", str(out), "--epochs", "1", "--channels", "8",
            "--widths", "3,3", "--chunk", "20", "--licence", "CC0"]
    main(args)
    lf = load_lifter_file(out)
    assert lf.joints_out == OUT and set(lf.meta["licences"].values()) == {"CC0"}
    assert "held-out MPJPE" in capsys.readouterr().out
    for bad in (args, [*args[:2], str(tmp_path / "none"), *args[3:]], [*args, "--widths", "2,3"]):
        with pytest.raises(SystemExit) as info:
            main(bad)
        assert info.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
