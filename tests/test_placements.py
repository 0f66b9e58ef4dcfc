"""Built-in placements put each sensor's axes where docs/placements.md says, for every skeleton."""

from __future__ import annotations

import numpy as np
import pytest

from imusynth.core.conventions import G0, matrix_from_quat
from imusynth.core.motion import Motion
from imusynth.core.placements import (
    PlacementError,
    builtin_placements,
    load_placements,
    parse_axes,
    placements_from_dict,
    resolve_placements,
)
from imusynth.core.sensors import simulate
from imusynth.core.skeletons import KINECT_V1_20, SKELETONS, to_canonical

# A person standing at rest, facing world +Y, world +X to their right, arms hanging with the palms
# facing the thighs (neutral forearm rotation). Coordinates in metres, z up.
STANDING = {
    "nose": (0.0, 0.10, 1.63),
    "left_eye": (-0.03, 0.08, 1.66),
    "right_eye": (0.03, 0.08, 1.66),
    "left_ear": (-0.08, 0.0, 1.64),
    "right_ear": (0.08, 0.0, 1.64),
    "left_shoulder": (-0.2, 0.0, 1.45),
    "right_shoulder": (0.2, 0.0, 1.45),
    "left_elbow": (-0.22, 0.0, 1.17),
    "right_elbow": (0.22, 0.0, 1.17),
    "left_wrist": (-0.22, 0.0, 0.92),
    "right_wrist": (0.22, 0.0, 0.92),
    "left_index": (-0.22, 0.03, 0.82),
    "right_index": (0.22, 0.03, 0.82),
    "left_pinky": (-0.22, -0.03, 0.83),
    "right_pinky": (0.22, -0.03, 0.83),
    "left_thumb": (-0.22, 0.05, 0.87),
    "right_thumb": (0.22, 0.05, 0.87),
    "left_hip": (-0.1, 0.0, 0.95),
    "right_hip": (0.1, 0.0, 0.95),
    "left_knee": (-0.1, 0.01, 0.52),
    "right_knee": (0.1, 0.01, 0.52),
    "left_ankle": (-0.1, 0.0, 0.09),
    "right_ankle": (0.1, 0.0, 0.09),
    "left_heel": (-0.1, -0.05, 0.04),
    "right_heel": (0.1, -0.05, 0.04),
    "left_foot_index": (-0.1, 0.16, 0.02),
    "right_foot_index": (0.1, 0.16, 0.02),
}
UP, DOWN = (0, 0, 1), (0, 0, -1)
FWD, BACK = (0, 1, 0), (0, -1, 0)
RIGHT, LEFT = (1, 0, 0), (-1, 0, 0)

# expected world direction of the sensor's x, y and z axes (docs/placements.md)
EXPECTED = {
    "head": (UP, RIGHT, FWD),
    "chest": (UP, RIGHT, FWD),
    "waist": (UP, RIGHT, FWD),
    "left_upper_arm": (DOWN, BACK, LEFT),
    "right_upper_arm": (DOWN, FWD, RIGHT),
    "left_forearm": (DOWN, BACK, LEFT),
    "right_forearm": (DOWN, FWD, RIGHT),
    "left_wrist": (DOWN, BACK, LEFT),
    "wrist": (DOWN, BACK, LEFT),
    "right_wrist": (UP, BACK, RIGHT),
    "left_thigh": (DOWN, LEFT, FWD),
    "right_thigh": (DOWN, LEFT, FWD),
    "thigh": (LEFT, UP, FWD),
    "left_shank": (DOWN, LEFT, FWD),
    "right_shank": (DOWN, LEFT, FWD),
    "left_foot": (FWD, LEFT, UP),
    "right_foot": (FWD, LEFT, UP),
}

MEDIAPIPE_NAMES = {k: k for k in STANDING}
KINECT_NAMES = {"HipCenter": None, "Spine": None, "ShoulderCenter": None, "Head": None}


def _motion(
    points: dict[str, tuple[float, float, float]], n: int = 60, skeleton: str | None = None
) -> Motion:
    names = tuple(points)
    xyz = np.broadcast_to(np.array([points[k] for k in names], dtype=float), (n, len(names), 3))
    return Motion(np.arange(n) / 30.0, names, xyz.copy(), skeleton=skeleton)


def _mediapipe_motion() -> Motion:
    from imusynth.core.skeletons import MEDIAPIPE_33

    pts = dict(STANDING)
    for name in MEDIAPIPE_33:  # landmarks the table above does not place: near the head
        pts.setdefault(name, (0.0, 0.09, 1.6))
    return _motion({k: pts[k] for k in MEDIAPIPE_33}, skeleton="mediapipe")


def _kinect_v1_motion() -> Motion:
    s = STANDING
    mid = lambda a, b: tuple((np.array(s[a]) + np.array(s[b])) / 2)  # noqa: E731
    pts = {
        "HipCenter": mid("left_hip", "right_hip"),
        "Spine": (0.0, 0.0, 1.2),
        "ShoulderCenter": (0.0, 0.0, 1.45),
        "Head": (0.0, 0.02, 1.64),
    }
    for side, S in (("left", "Left"), ("right", "Right")):
        for joint, J in (
            ("shoulder", "Shoulder"),
            ("elbow", "Elbow"),
            ("wrist", "Wrist"),
            ("hip", "Hip"),
            ("knee", "Knee"),
            ("ankle", "Ankle"),
        ):
            pts[f"{J}{S}"] = s[f"{side}_{joint}"]
        pts[f"Hand{S}"] = s[f"{side}_index"]
        pts[f"Foot{S}"] = s[f"{side}_foot_index"]
    return _motion({k: pts[k] for k in KINECT_V1_20}, skeleton="kinect_v1")


def _axes_at_rest(motion: Motion, names: list[str]) -> dict[str, np.ndarray]:
    out = simulate(motion, resolve_placements(names), rate_hz=30.0)
    return {n: matrix_from_quat(s.orientation[s.valid][len(s.time) // 2]) for n, s in out.items()}


@pytest.mark.parametrize("make", [_mediapipe_motion, _kinect_v1_motion], ids=["mediapipe", "kinect_v1"])
def test_builtin_axes_point_where_documented(make):
    motion = make()
    available = set(to_canonical(motion).names)
    names = [
        n for n, p in builtin_placements().items() if any(d.points() <= available for d in p.definitions)
    ]
    if make is _mediapipe_motion:
        assert set(names) == set(EXPECTED)  # every built-in works on MediaPipe's 33 landmarks
    else:
        assert {"wrist", "thigh", "chest", "waist", "left_foot"} <= set(names)  # through fallbacks
    axes = _axes_at_rest(motion, names)
    for name in names:
        for k, want in enumerate(EXPECTED[name]):
            got = axes[name][:, k]
            assert np.dot(got, want) > 0.9, (
                f"{name}: sensor {'xyz'[k]} axis points {np.round(got, 2)}, not {want}"
            )


def test_accelerometer_at_rest_reads_g_on_the_up_axis_of_each_placement():
    out = simulate(_mediapipe_motion(), resolve_placements(["wrist", "thigh", "chest"]), rate_hz=30.0)
    # wrist: x points down -> reads -g on x; thigh phone: y up -> +g on y; chest: x up -> +g on x
    assert np.allclose(out["wrist"].acc[out["wrist"].valid][5], [-G0, 0, 0], atol=0.3)
    assert np.allclose(out["thigh"].acc[out["thigh"].valid][5], [0, G0, 0], atol=0.3)
    assert np.allclose(out["chest"].acc[out["chest"].valid][5], [G0, 0, 0], atol=0.3)


def test_every_skeleton_map_names_existing_joints():
    for key, (joints, mapping) in SKELETONS.items():
        for canon, sources in mapping.items():
            assert set(sources) <= set(joints), (key, canon, sources)


def test_parse_axes_refuses_left_handed_and_bad_names():
    assert np.allclose(parse_axes(["+x", "+y", "+z"]), np.eye(3))
    with pytest.raises(PlacementError, match="right-handed"):
        parse_axes(["+x", "+y", "-z"])
    with pytest.raises(PlacementError, match="bad axis"):
        parse_axes(["+x", "+y", "+w"])


def test_user_placements_file_and_unknown_names(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text(
        '[placements.foot_imu]\norigin = "HEEL"\nprimary = "TOE"\nsecondary = "HEEL->MT5"\n'
        'axes = ["+x", "+y", "+z"]\noffset_m = [0.0, 0.0, 0.02]\n'
    )
    p = load_placements(f)["foot_imu"]
    assert p.resolve({"HEEL", "TOE", "MT5"}).origin == ("HEEL",)
    with pytest.raises(PlacementError, match="lacks"):
        p.resolve({"HEEL", "TOE"})
    with pytest.raises(PlacementError, match="unknown placement 'elbow_pad'"):
        resolve_placements(["elbow_pad"])
    with pytest.raises(PlacementError, match="not found"):
        load_placements(tmp_path / "missing.toml")


def test_fallback_chosen_when_the_main_definition_points_are_never_confident():
    """Azure Kinect names hand joints it may never track (confidence 0): the hand-free fallback is used."""
    motion = _mediapipe_motion()
    conf = motion.confidence.copy()
    for name in ("left_pinky", "left_thumb"):
        conf[:, motion.names.index(name)] = 0.0
    motion = Motion(motion.time, motion.names, motion.xyz, conf, skeleton="mediapipe")
    out = simulate(motion, resolve_placements(["wrist"]), rate_hz=30.0)["wrist"]
    assert out.valid.all()
    assert "+x', '-z', '+y'" in out.frame  # the shoulder-line fallback's axes
    R = matrix_from_quat(out.orientation[len(out.time) // 2])
    for k, want in enumerate(EXPECTED["wrist"]):
        assert np.dot(R[:, k], want) > 0.9


# --------------------------------------------------------------------------------------------------
# Oblique placements: any rotation of the sensor relative to the frame of `axes` (issue 17)
# --------------------------------------------------------------------------------------------------

def _rot(axis: str, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _wrist_table(**rotation) -> dict:
    table = {"origin": "left_wrist", "primary": "left_elbow->left_wrist",
             "secondary": "left_wrist->left_pinky", "axes": ["+x", "+y", "+z"], **rotation}
    return {"placements": {"w": table}}


def _quat_of(R: np.ndarray) -> list[float]:
    from imusynth.core.conventions import quat_from_matrix

    return [float(v) for v in quat_from_matrix(R)]


def test_euler_conventions_are_as_documented():
    from imusynth.core.placements import mounting_rotation

    a, b, c = 20.0, -35.0, 50.0
    intrinsic = mounting_rotation({"euler_deg": [a, b, c], "euler_order": "XYZ"}, "w")
    extrinsic = mounting_rotation({"euler_deg": [a, b, c], "euler_order": "xyz"}, "w")
    assert np.allclose(intrinsic, _rot("x", a) @ _rot("y", b) @ _rot("z", c), atol=1e-15)
    assert np.allclose(extrinsic, _rot("z", c) @ _rot("y", b) @ _rot("x", a), atol=1e-15)
    zyx = mounting_rotation({"euler_deg": [c, b, a], "euler_order": "ZYX"}, "w")
    assert np.allclose(zyx, _rot("z", c) @ _rot("y", b) @ _rot("x", a), atol=1e-15)   # = extrinsic xyz


def test_quat_matrix_and_euler_give_the_same_placement():
    R = _rot("z", 30.0) @ _rot("x", -12.0)
    forms = [
        {"quat": _quat_of(R)},
        {"matrix": R.tolist()},
        {"euler_deg": [30.0, -12.0, 0.0], "euler_order": "ZXY"},
        {"euler_deg": [-12.0, 30.0, 0.0], "euler_order": "xzy"},
    ]
    mats = [placements_from_dict(_wrist_table(**f))["w"].definitions[0].R_seg_sensor for f in forms]
    for M in mats:
        assert np.allclose(M, R, atol=1e-12)


@pytest.mark.parametrize("form", ["quat", "matrix", "euler"])
def test_rotated_sensor_reads_rotated_signals_in_closed_form(form):
    """A sensor rotated by R (zero offset) reads R^T times the unrotated sensor: acc and gyro to float
    precision, and its orientation is the unrotated one times R."""
    from tests.test_physics import rigid_motion

    t = np.arange(0.0, 8.0, 1 / 30.0)
    motion = rigid_motion(t)
    rng = np.random.default_rng(5)
    angles = rng.uniform(-170, 170, 3)
    from scipy.spatial.transform import Rotation

    R = Rotation.from_euler("ZYX", angles, degrees=True).as_matrix()
    key = {"quat": {"quat": _quat_of(R)}, "matrix": {"matrix": R.tolist()},
           "euler": {"euler_deg": angles.tolist(), "euler_order": "ZYX"}}[form]
    base = {"origin": "o", "primary": "px", "secondary": "py", "axes": ["+x", "-z", "+y"]}
    table = {"placements": {"plain": base, "rot": {**base, **key}}}
    P = placements_from_dict(table)
    out = simulate(motion, [P["plain"], P["rot"]], rate_hz=50.0, cutoff_hz=None)
    a, b = out["plain"], out["rot"]
    v = a.valid
    assert v.sum() > 300 and np.array_equal(a.valid, b.valid)
    assert np.abs(b.acc[v] - a.acc[v] @ R).max() < 1e-12          # (R^T x)^T = x^T R, per row
    assert np.abs(b.gyro[v] - a.gyro[v] @ R).max() < 1e-13
    assert np.abs(matrix_from_quat(b.orientation[v]) - matrix_from_quat(a.orientation[v]) @ R).max() < 1e-12
    assert "rotation" in b.frame and "segment axes" in a.frame


def test_oblique_watch_at_rest():
    """A left-wrist watch turned +90 degrees about its screen normal (z): its x axis takes y's old direction
    and its y axis the old -x (up, on the hanging arm)."""
    motion = _mediapipe_motion()
    table = builtin_placements()["left_wrist"]
    doc = {"placements": {"w": {"origin": "left_wrist", "primary": "left_elbow->left_wrist",
                                "secondary": "left_wrist->left_pinky", "axes": ["+x", "+y", "+z"],
                                "euler_deg": [0.0, 0.0, 90.0], "euler_order": "XYZ"}}}
    turned = placements_from_dict(doc)["w"]
    out = simulate(motion, [table, turned], rate_hz=30.0)
    Rn = matrix_from_quat(out["left_wrist"].orientation[10])
    Rt = matrix_from_quat(out["w"].orientation[10])
    assert np.allclose(Rt[:, 0], Rn[:, 1], atol=1e-9) and np.allclose(Rt[:, 1], -Rn[:, 0], atol=1e-9)
    assert np.allclose(out["w"].acc[10], [0.0, G0, 0.0], atol=0.3)           # y now points up


def test_rotation_keys_are_checked():
    bad = [
        ({"quat": [1.0, 0.1, 0.0, 0.0]}, "unit quaternion"),
        ({"quat": [1.0, 0.0, 0.0]}, "quat"),
        ({"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}, "proper rotation"),
        ({"matrix": [[1, 0.1, 0], [0, 1, 0], [0, 0, 1]]}, "proper rotation"),
        ({"euler_deg": [10, 20, 30]}, "euler_order"),
        ({"euler_deg": [10, 20, 30], "euler_order": "XyZ"}, "euler_order"),
        ({"euler_deg": [10, 20, 30], "euler_order": "XXY"}, "euler_order"),
        ({"euler_order": "XYZ"}, "without euler_deg"),
        ({"quat": [1.0, 0.0, 0.0, 0.0], "matrix": np.eye(3).tolist()}, "give one of"),
    ]
    for extra, match in bad:
        with pytest.raises(PlacementError, match=match):
            placements_from_dict(_wrist_table(**extra))
    doc = _wrist_table()
    doc["placements"]["w"]["fallback"] = [{"origin": "a", "primary": "b", "secondary": "c",
                                           "quat": [1, 0, 0, 0]}]
    with pytest.raises(PlacementError, match="main table"):
        placements_from_dict(doc)
    # without axes, a rotation is relative to the segment frame
    doc = _wrist_table(quat=[1.0, 0.0, 0.0, 0.0])
    del doc["placements"]["w"]["axes"]
    assert np.allclose(placements_from_dict(doc)["w"].definitions[0].R_seg_sensor, np.eye(3))
    doc = _wrist_table()
    del doc["placements"]["w"]["axes"]
    with pytest.raises(PlacementError, match="missing key 'axes'"):
        placements_from_dict(doc)
