"""The temporal lifter's network, its files and :func:`predict` (``imusynth.video.lift.temporal``).

A VideoPose3D checkpoint is generated here with random weights under the reference's parameter names
and shapes (``facebookresearch/VideoPose3D``, ``common/model.py``, ``TemporalModel``) and saved as its
``run.py`` does (a dict with ``epoch``, ``lr``, ``random_state`` (a NumPy RNG state), ``optimizer``,
``model_pos``, ``model_traj``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imusynth.core.skeletons import MEDIAPIPE_33  # noqa: E402
from imusynth.errors import InputError  # noqa: E402
from imusynth.video.lift.temporal import (  # noqa: E402
    COCO_17,
    COCO_17_FROM_MEDIAPIPE,
    H36M_17_CANONICAL,
    LifterFileError,
    TemporalLifter,
    keypoints_from_mediapipe,
    load_lifter_file,
    mirror_indices,
    normalise_keypoints,
    predict,
    save_lifter_file,
)

LIMBS = [f"{s}_{j}" for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
         for s in ("left", "right")]


def _randomise_bn(model: TemporalLifter, seed: int = 0) -> None:
    """Non-trivial batch-norm statistics (fresh ones are 0/1 and would hide mistakes in eval mode)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _videopose3d_checkpoint(path: Path, widths: tuple[int, ...] = (3, 3, 3), channels: int = 64
                            ) -> TemporalLifter:
    torch.manual_seed(1)
    model = TemporalLifter(17, 2, 17, widths, channels=channels, dropout=0.25)
    _randomise_bn(model)
    opt = torch.optim.Adam(model.parameters())
    torch.save({"epoch": 80, "lr": 1e-5, "random_state": np.random.RandomState(1234).get_state(),
                "optimizer": opt.state_dict(), "model_pos": model.state_dict(), "model_traj": None}, path)
    return model.eval()


def test_parameter_names_and_shapes_are_videopose3ds() -> None:
    """Names and shapes of TemporalModel(17, 2, 17, filter_widths=[3, 3, 3, 3], channels=C)."""
    c = 32
    sd = TemporalLifter(17, 2, 17, (3, 3, 3, 3), channels=c).state_dict()
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected = {"expand_conv.weight": (c, 34, 3), "shrink.weight": (51, c, 1), "shrink.bias": (51,)}
    expected |= {f"expand_bn.{k}": (c,) for k in bn[:4]} | {"expand_bn.num_batches_tracked": ()}
    for k in range(6):
        expected[f"layers_conv.{k}.weight"] = (c, c, 3 if k % 2 == 0 else 1)
        expected |= {f"layers_bn.{k}.{n}": (c,) for n in bn[:4]} | {f"layers_bn.{k}.num_batches_tracked": ()}
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    model = TemporalLifter(17, 2, 17, (3, 3, 3, 3), channels=c)
    assert model.receptive_field == 81
    assert [m.dilation[0] for m in model.layers_conv[::2]] == [3, 9, 27]


def test_receptive_field_is_exact_and_causal_model_sees_only_the_past() -> None:
    torch.manual_seed(0)
    model = TemporalLifter(5, 3, 4, (3, 3, 3), channels=16).eval()
    x = torch.randn(1, 27 + 10, 5, 3)
    with torch.no_grad():
        base = model(x)
        assert base.shape == (1, 11, 4, 3)
        y = x.clone()
        y[0, 30] += 1.0                       # output frame i sees input frames i .. i + 26
        changed = (model(y) - base).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.nonzero().ravel().tolist() == list(range(4, 11))
    causal = TemporalLifter(5, 3, 4, (3, 3, 3), channels=16, causal=True).eval()
    with torch.no_grad():
        a = causal(x)
        y = x.clone()
        y[0, 30] += 1.0
        changed = (causal(y) - a).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.nonzero().ravel().tolist() == list(range(4, 11))   # same window, output at its end


def test_videopose3d_checkpoint_loads_and_predicts(tmp_path: Path) -> None:
    path = tmp_path / "pretrained_h36m_detectron_coco.bin"
    ref = _videopose3d_checkpoint(path, widths=(3, 3, 3, 3), channels=48)
    lf = load_lifter_file(path)
    assert lf.model.filter_widths == (3, 3, 3, 3) and lf.model.channels == 48
    assert lf.keypoints_in == list(COCO_17) and lf.joints_out == list(H36M_17_CANONICAL)
    assert lf.normalisation == "screen" and lf.model.in_features == 2
    rng = np.random.default_rng(0)
    w, h = 1280, 720
    xy = rng.uniform([200, 100], [900, 650], size=(120, 17, 2))
    out = predict(lf, xy, np.ones((120, 17)), image_size=(w, h))
    assert out.shape == (120, 17, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out[:, 0], 0.0)                 # root-relative: the H36M hip is 0
    # the same numbers as the reference model on VideoPose3D's normalisation and edge padding
    norm = xy / w * 2 - np.array([1.0, h / w])
    padded = np.pad(norm, ((40, 40), (0, 0), (0, 0)), mode="edge").astype(np.float32)
    with torch.no_grad():
        raw = ref(torch.from_numpy(padded)[None])[0].numpy().astype(np.float64)
    np.testing.assert_allclose(out, raw - raw[:, :1], atol=1e-5)


def test_track_shorter_than_the_receptive_field(tmp_path: Path) -> None:
    """Edge replication: a still track of 3 frames lifts like a still track of 200."""
    path = tmp_path / "vp3d.bin"
    _videopose3d_checkpoint(path)
    lf = load_lifter_file(path)
    pose = np.random.default_rng(1).uniform(100, 500, size=(17, 2))
    short = predict(lf, np.repeat(pose[None], 3, 0), np.ones((3, 17)), image_size=(640, 480))
    long = predict(lf, np.repeat(pose[None], 200, 0), np.ones((200, 17)), image_size=(640, 480))
    assert short.shape == (3, 17, 3)
    np.testing.assert_allclose(short, long[:3], atol=1e-5)
    one = predict(lf, pose[None], np.ones((1, 17)), image_size=(640, 480))
    assert one.shape == (1, 17, 3)


def test_chunking_does_not_change_the_result_and_threads_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "vp3d.bin"
    _videopose3d_checkpoint(path)
    lf = load_lifter_file(path)
    xy = np.random.default_rng(2).uniform(0, 640, size=(100, 17, 2))
    threads = torch.get_num_threads()
    a = predict(lf, xy, np.ones((100, 17)), image_size=(640, 480))
    b = predict(lf, xy, np.ones((100, 17)), image_size=(640, 480), chunk=7)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert torch.get_num_threads() == threads


def _own_file(tmp_path: Path) -> Path:
    torch.manual_seed(3)
    model = TemporalLifter(12, 3, 14, (3, 3), channels=24)
    _randomise_bn(model, 3)
    path = tmp_path / "own.pt"
    save_lifter_file(path, model, keypoints_in=LIMBS, joints_out=LIMBS + ["neck", "head"], fps=30.0,
                     meta={"seed": 3, "licences": {"/data": "CC BY-NC 4.0"}, "history": [{"epoch": 1}]})
    return path


def _body_xy(t: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array([[300, 200], [380, 200], [290, 280], [390, 280], [285, 350], [395, 350],
                     [315, 360], [365, 360], [312, 460], [368, 460], [310, 560], [370, 560]], float)
    return base[None] + rng.normal(0, 3, size=(t, 12, 2))


def test_own_format_round_trip(tmp_path: Path) -> None:
    path = _own_file(tmp_path)
    lf = load_lifter_file(path)
    assert lf.keypoints_in == LIMBS and lf.joints_out[-2:] == ["neck", "head"] and lf.fps == 30.0
    assert lf.meta["licences"] == {"/data": "CC BY-NC 4.0"} and lf.normalisation == "pelvis_scale"
    import hashlib
    assert lf.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    xy = _body_xy(50, np.random.default_rng(4))
    out = predict(lf, xy, np.ones((50, 12)), image_size=(640, 720))
    again = predict(load_lifter_file(path), xy, np.ones((50, 12)), image_size=(640, 720))
    assert out.shape == (50, 14, 3)
    np.testing.assert_array_equal(out, again)


def test_low_confidence_keypoints_are_masked(tmp_path: Path) -> None:
    """Below the threshold a keypoint's position does not matter (zero input, confidence 0)."""
    lf = load_lifter_file(_own_file(tmp_path))
    rng = np.random.default_rng(5)
    xy = _body_xy(40, rng)
    conf = np.ones((40, 12))
    conf[10:20, 4] = 0.1                       # left wrist unsure
    a = predict(lf, xy, conf, image_size=(640, 720))
    moved = xy.copy()
    moved[10:20, 4] += 500.0
    b = predict(lf, moved, conf, image_size=(640, 720))
    moved[10:20, 4] = np.nan                    # NaN counts as missing too
    c = predict(lf, moved, conf, image_size=(640, 720))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    norm, cn = normalise_keypoints(xy, conf, names=LIMBS, mode="pelvis_scale", image_size=(640, 720))
    assert np.all(norm[10:20, 4] == 0.0) and np.all(cn[10:20, 4] == 0.0) and np.all(cn[:10] == 1.0)


def test_normalisations_closed_form() -> None:
    rng = np.random.default_rng(6)
    xy = _body_xy(30, rng)
    conf = np.ones((30, 12))
    screen, _ = normalise_keypoints(xy, conf, names=LIMBS, mode="screen", image_size=(640, 480))
    np.testing.assert_allclose(screen, xy / 640 * 2 - np.array([1.0, 0.75]))
    # pelvis_scale is invariant to where the body is in the image and how large it is
    a, _ = normalise_keypoints(xy, conf, names=LIMBS, mode="pelvis_scale", image_size=(640, 480))
    b, _ = normalise_keypoints(xy * 2.5 + np.array([100.0, -40.0]), conf, names=LIMBS, mode="pelvis_scale",
                               image_size=(1920, 1080))
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(a[:, [6, 7]].mean(axis=1), 0.0, atol=1e-12)       # hip midpoint at 0
    radius = np.sqrt((a ** 2).sum(axis=2).mean(axis=1))
    assert np.median(radius) == pytest.approx(1.0)


def test_bad_files_raise_one_line_input_errors(tmp_path: Path) -> None:
    (tmp_path / "text.pt").write_text("not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    torch.save({"model_pos": {"expand_conv.weight": torch.zeros(8, 30, 3)}}, tmp_path / "short.bin")
    sd = TemporalLifter(17, 2, 17, (3, 3), channels=8).state_dict()
    sd["shrink.weight"] = torch.zeros(50, 8, 1)
    torch.save({"model_pos": sd}, tmp_path / "shapes.bin")

    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("code ran",))

    torch.save({"format": "imusynth-lifter/1", "meta": Evil()}, tmp_path / "evil.pt")
    for name in ("text.pt", "other.pt", "short.bin", "shapes.bin", "evil.pt", "missing.pt"):
        with pytest.raises(LifterFileError) as info:
            load_lifter_file(tmp_path / name)
        assert isinstance(info.value, InputError)
        assert "\n" not in str(info.value) and name in str(info.value)


def test_mediapipe_mapping() -> None:
    assert [MEDIAPIPE_33[i] for i in COCO_17_FROM_MEDIAPIPE] == list(COCO_17)
    rng = np.random.default_rng(7)
    lm = rng.uniform(0, 100, size=(5, 33, 2))
    vis = rng.uniform(0, 1, size=(5, 33))
    xy, conf = keypoints_from_mediapipe(["left_wrist", "head", "nose"], lm, vis)
    ears = [MEDIAPIPE_33.index("left_ear"), MEDIAPIPE_33.index("right_ear")]
    np.testing.assert_allclose(xy[:, 0], lm[:, 15])
    np.testing.assert_allclose(xy[:, 1], lm[:, ears].mean(axis=1))
    np.testing.assert_allclose(conf[:, 1], vis[:, ears].min(axis=1))
    with pytest.raises(InputError):
        keypoints_from_mediapipe(["pelvis_tip"], lm, vis)


def test_mirror_indices() -> None:
    names = ["nose", "left_hip", "right_hip", "left_knee", "right_knee", "neck"]
    assert mirror_indices(names) == [0, 2, 1, 4, 3, 5]
