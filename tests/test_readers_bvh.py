"""BVH input: a hand-made file with closed-form positions, rigs named by the skeleton maps, the shared rigs.

Closed-form positions are derived by hand in the comments, with the elementary rotations
``Rz(90): x -> y, y -> -x``; ``Rx(90): y -> z, z -> -y``; ``Ry(90): z -> x, x -> -z``. Tolerance 1e-9
(float64 trigonometry of 90 degrees leaves about 1e-15 per step; the file's numbers are exact).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest

from imusynth.cli import main as cli_main
from imusynth.core.conventions import UP_AXIS_TO_Z_UP
from imusynth.core.placements import builtin_placements
from imusynth.core.sensors import simulate
from imusynth.core.skeletons import CANONICAL_NAMES, SKELETONS, detect_skeleton
from imusynth.io.readers import MOTION_FORMATS, ReadError, read_bvh, read_bvh_many, read_motion
from imusynth.io.readers.bvh import parse_hierarchy

from .conftest import shared_path

TOL = 1e-9

HAND_MADE = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT Arm
    {
      OFFSET 5 0 0
      CHANNELS 6 Xposition Yposition Zposition Yrotation Zrotation Xrotation
      End Site
      {
        OFFSET 4 0 0
      }
    }
  }
  JOINT Leg
  {
    OFFSET 0 -8 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 0 -6 0
    }
  }
  JOINT Tail
  {
    OFFSET 0 0 -3
    End Site
    {
      OFFSET 0 0 0
    }
  }
}
MOTION
Frames: 6
Frame Time: 0.0333333
"""
# Channel columns: Hips 0-5 (X Y Z pos, Z X Y rot), Chest 6-8 (X Y Z rot), Arm 9-14 (X Y Z pos, Y Z X rot),
# Leg 15-17 (Y X Z rot).
FRAMES = [
    # 0: rest; the Arm's position channels repeat its offset
    [1, 2, 3, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
    # 1: root Zrot 90; the Arm's position channels (0, 0, 3) replace its offset (5, 0, 0)
    [0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0],
    # 2: Chest Xrot 90 then Yrot 90 (R = Rx Ry)
    [0, 0, 0, 0, 0, 0, 90, 90, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
    # 3: Arm Yrot 90 then Zrot 90 (R = Ry Rz); Leg Yrot 90 then Xrot 90 (R = Ry Rx)
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 90, 90, 0, 90, 90, 0],
    # 4: root Yrot 90 and Arm Zrot 90: parent then child
    [0, 0, 0, 0, 0, 90, 0, 0, 0, 5, 0, 0, 0, 90, 0, 0, 0, 0],
    # 5: root Zrot 30
    [0, 0, 0, 30, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
]
NAMES = ("Hips", "Chest", "Arm", "Arm_end", "Leg", "Leg_end", "Tail")  # Tail's zero End Site is left out
C30, S30 = np.cos(np.pi / 6), np.sin(np.pi / 6)
EXPECTED = np.array([
    # 0: Hips (1,2,3); Chest +(0,10,0); Arm +(5,0,0); Arm_end +(4,0,0); Leg (0,-8,0); Leg_end +(0,-6,0)
    [[1, 2, 3], [1, 12, 3], [6, 12, 3], [10, 12, 3], [1, -6, 3], [1, -12, 3], [1, 2, 0]],
    # 1: Rz90 (0,10,0) = (-10,0,0); Arm = Chest + Rz90 (0,0,3); Arm_end + Rz90 (4,0,0) = (0,4,0);
    #    Leg = Rz90 (0,-8,0) = (8,0,0); Leg_end + (6,0,0); Tail = Rz90 (0,0,-3)
    [[0, 0, 0], [-10, 0, 0], [-10, 0, 3], [-10, 4, 3], [8, 0, 0], [14, 0, 0], [0, 0, -3]],
    # 2: Arm = Chest + Rx90 Ry90 (5,0,0) = Rx90 (0,0,-5) = (0,5,0); Arm_end + Rx90 Ry90 (4,0,0) = (0,4,0)
    [[0, 0, 0], [0, 10, 0], [0, 15, 0], [0, 19, 0], [0, -8, 0], [0, -14, 0], [0, 0, -3]],
    # 3: Arm_end = Arm + Ry90 Rz90 (4,0,0) = Ry90 (0,4,0) = (0,4,0);
    #    Leg_end = Leg + Ry90 Rx90 (0,-6,0) = Ry90 (0,0,-6) = (-6,0,0)
    [[0, 0, 0], [0, 10, 0], [5, 10, 0], [5, 14, 0], [0, -8, 0], [-6, -8, 0], [0, 0, -3]],
    # 4: Chest = Ry90 (0,10,0) = (0,10,0); Arm = Chest + Ry90 (5,0,0) = (0,10,-5);
    #    Arm_end = Arm + Ry90 Rz90 (4,0,0) = (0,14,-5); Tail = Ry90 (0,0,-3) = (-3,0,0)
    [[0, 0, 0], [0, 10, 0], [0, 10, -5], [0, 14, -5], [0, -8, 0], [0, -14, 0], [-3, 0, 0]],
    # 5: Rz30: Chest = (-10 sin30, 10 cos30, 0); Arm = Chest + (5 cos30, 5 sin30, 0);
    #    Leg = (8 sin30, -8 cos30, 0)
    [[0, 0, 0], [-10 * S30, 10 * C30, 0], [-10 * S30 + 5 * C30, 10 * C30 + 5 * S30, 0],
     [-10 * S30 + 9 * C30, 10 * C30 + 9 * S30, 0], [8 * S30, -8 * C30, 0], [14 * S30, -14 * C30, 0],
     [0, 0, -3]],
], dtype=np.float64)


def write_bvh(path: Path, header: str = HAND_MADE, frames: list[list[float]] | None = None,
              compress: bool = False) -> Path:
    rows = FRAMES if frames is None else frames
    text = header + "".join(" ".join(f"{v:g}" for v in row) + "\n" for row in rows)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def test_hand_made_bvh_closed_form(tmp_path: Path) -> None:
    """Channel orders ZXY, XYZ, YZX, YXZ, position channels on a non-root joint, End Sites, frame time."""
    path = write_bvh(tmp_path / "hand.bvh")
    motion = read_bvh(path, up_axis="z", length_unit="m")
    assert motion.names == NAMES
    np.testing.assert_allclose(motion.time, np.arange(6) / 30.0, rtol=0, atol=TOL)  # 0.0333333 -> 30 Hz
    np.testing.assert_allclose(motion.xyz, EXPECTED, rtol=0, atol=TOL)


def test_hand_made_bvh_units_up_axis_gzip_and_sniffing(tmp_path: Path) -> None:
    packed = write_bvh(tmp_path / "hand.txt", compress=True)  # recognised by content, not by name
    motion = read_motion(packed, up_axis="y", length_unit="cm")
    np.testing.assert_allclose(motion.xyz, EXPECTED @ UP_AXIS_TO_Z_UP["y"].T / 100.0, rtol=0, atol=TOL)
    assert "bvh" in MOTION_FORMATS
    # a file neither named by its joints nor an upright body: y (BVH's convention) with a warning
    with pytest.warns(UserWarning, match="up axis cannot be checked"):
        read_motion(write_bvh(tmp_path / "hand.bvh"), length_unit="m")
    # 7 points, no known joint names: the unit cannot be inferred, and there are no canonical points
    with pytest.raises(ReadError, match="--length-unit"):
        read_motion(write_bvh(tmp_path / "again.bvh"), up_axis="z")
    with pytest.raises(ReadError, match="no known skeleton"):
        read_motion(write_bvh(tmp_path / "again.bvh"), up_axis="z", length_unit="m", canonical=True)


def test_parse_hierarchy_and_damaged_files(tmp_path: Path) -> None:
    h = parse_hierarchy(HAND_MADE.split("MOTION")[0])
    assert h.n_channels == 18
    assert h.parents == (-1, 0, 1, 2, 0, 4, 0, 6)
    assert h.keep == (True,) * 7 + (False,)
    with pytest.raises(ReadError, match="not a whole number of frames of 18 channels"):
        read_bvh(write_bvh(tmp_path / "short.bvh", frames=[FRAMES[0], FRAMES[1][:-1]]), up_axis="z",
                 length_unit="m")
    with pytest.warns(UserWarning, match="declares 6 frames but the file holds 2"):
        read_bvh(write_bvh(tmp_path / "two.bvh", frames=FRAMES[:2]), up_axis="z", length_unit="m")
    with pytest.raises(ReadError, match="unknown channel 'Wrotation'"):
        read_bvh(write_bvh(tmp_path / "w.bvh", HAND_MADE.replace("Yrotation Zrotation Xrotation",
                                                                 "Yrotation Zrotation Wrotation")))
    with pytest.raises(ReadError, match="braces"):
        read_bvh(write_bvh(tmp_path / "b.bvh", HAND_MADE.replace("  }\n  JOINT Tail", "  JOINT Tail")))
    with pytest.raises(ReadError, match="Frame Time"):
        read_bvh(write_bvh(tmp_path / "t.bvh", HAND_MADE.replace("0.0333333", "0")))
    with pytest.warns(UserWarning, match="holds 1"), pytest.raises(ReadError, match="at least 2"):
        read_bvh(write_bvh(tmp_path / "one.bvh", frames=FRAMES[:1]), up_axis="z", length_unit="m")


# ------------------------------------------------------------------------------------------------
# A standing rig with CMU/Mixamo names: unit and up axis inferred, canonical names, placements
# ------------------------------------------------------------------------------------------------

#: (joint, parent, offset in cm with y up): a person of about 1.7 m standing, arms hanging.
RIG = [
    ("Hips", None, (0, 95, 0)), ("Spine", "Hips", (0, 10, 0)), ("Spine1", "Spine", (0, 15, 0)),
    ("Neck", "Spine1", (0, 22, 0)), ("Head", "Neck", (0, 10, 0)),
    ("LeftShoulder", "Spine1", (3, 18, 0)), ("LeftArm", "LeftShoulder", (15, 0, 0)),
    ("LeftForeArm", "LeftArm", (0, -28, 0)), ("LeftHand", "LeftForeArm", (0, -25, 0)),
    ("RightShoulder", "Spine1", (-3, 18, 0)), ("RightArm", "RightShoulder", (-15, 0, 0)),
    ("RightForeArm", "RightArm", (0, -28, 0)), ("RightHand", "RightForeArm", (0, -25, 0)),
    ("LeftUpLeg", "Hips", (9, -5, 0)), ("LeftLeg", "LeftUpLeg", (0, -42, 0)),
    ("LeftFoot", "LeftLeg", (0, -42, 0)), ("LeftToeBase", "LeftFoot", (0, -6, 14)),
    ("RightUpLeg", "Hips", (-9, -5, 0)), ("RightLeg", "RightUpLeg", (0, -42, 0)),
    ("RightFoot", "RightLeg", (0, -42, 0)), ("RightToeBase", "RightFoot", (0, -6, 14)),
]


def rig_bvh(path: Path, *, prefix: str = "", scale: float = 1.0, z_up: bool = False, n: int = 120) -> Path:
    """The rig above (subject facing +z, left = +x, y up), swaying: the root turns about the vertical."""
    def off(v: tuple[float, float, float]) -> str:
        x, y, z = (scale * c for c in v)
        return f"{x:g} {-z:g} {y:g}" if z_up else f"{x:g} {y:g} {z:g}"

    children: dict[str | None, list[str]] = {}
    for name, parent, _ in RIG:
        children.setdefault(parent, []).append(name)
    offsets = {name: o for name, _, o in RIG}
    lines = ["HIERARCHY"]

    def emit(name: str, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {prefix}{name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off(offsets[name])}")
        chans = "Xposition Yposition Zposition " if depth == 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if depth == 0 else 3} {chans}Zrotation Xrotation Yrotation")
        for child in children.get(name, []):
            emit(child, depth + 1)
        if name not in children:
            end = off((0, 0, 0))
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {end}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit("Hips", 0)
    lines += ["MOTION", f"Frames: {n}", "Frame Time: 0.016667"]
    turn = "Zrotation" if z_up else "Yrotation"
    for k in range(n):
        root = [0.0] * 6
        root[:3] = [float(v) for v in off((0.01 * k, 95, 0)).split()]
        root[3 + ("Zrotation", "Xrotation", "Yrotation").index(turn)] = 20.0 * np.sin(k / 60)  # 1 rad/s
        lines.append(" ".join(f"{v:g}" for v in root + [0.0] * 3 * (len(RIG) - 1)))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("prefix, skeleton", [("", "cmu_mixamo"), ("mixamorig:", "mixamo")])
@pytest.mark.parametrize("scale, z_up", [(1.0, False), (10.0, True), (0.01, False)])
def test_named_rig_unit_up_axis_and_placements(tmp_path: Path, prefix: str, skeleton: str, scale: float,
                                               z_up: bool) -> None:
    """cm y-up, mm z-up, m y-up: the unit from the body's size, the up axis from feet to head."""
    motion = read_motion(rig_bvh(tmp_path / "rig.bvh", prefix=prefix, scale=scale, z_up=z_up))
    assert motion.skeleton == skeleton
    assert motion.rate_hz == pytest.approx(60.0, abs=1e-9)  # 0.016667 s -> 60 Hz
    head = motion.point(prefix + "Head")
    np.testing.assert_allclose(head[0], [0.0, 0.0, 1.52], rtol=0, atol=1e-9)  # 95+10+15+22+10 cm
    toe = motion.point(prefix + "LeftToeBase")
    # the file's subject faces +z with y up and left = +x: in the world, forward = -y, left = +x
    np.testing.assert_allclose(toe[0], [0.09, -0.14, 0.0], rtol=0, atol=1e-9)
    canon = read_motion(rig_bvh(tmp_path / "rig.bvh", prefix=prefix, scale=scale, z_up=z_up), canonical=True)
    assert {"head", "neck", "chest", "pelvis", "left_wrist", "right_knee", "left_toe"} <= set(canon.names)
    assert set(canon.names) <= set(CANONICAL_NAMES)
    signals = simulate(motion, list(builtin_placements().values()), rate_hz=50.0, cutoff_hz=6.0)
    for name, s in signals.items():
        assert s.valid.mean() > 0.9, name
        # quasi-static sway: gravity dominates every accelerometer
        assert np.median(np.linalg.norm(s.acc[s.valid], axis=1)) == pytest.approx(9.81, abs=0.3), name


def test_detect_skeleton_of_the_rigs() -> None:
    for key in ("bandai_namco", "cmu_mixamo", "mixamo", "iclone"):
        joints, mapping = SKELETONS[key]
        assert detect_skeleton(list(joints)) == key
        assert set(mapping) <= set(CANONICAL_NAMES)
        # a rig without the optional finger joints is still recognised (23 of 29 joints)
        core = [j for j in joints if not any(f in j for f in ("Thumb", "Index", "Pinky", "Eye"))]
        assert detect_skeleton(core) == key


# ------------------------------------------------------------------------------------------------
# The shared rigs (../shared/mocap)
# ------------------------------------------------------------------------------------------------

#: Chin height over stature, 0.870 (Winter, Biomechanics and Motor Control of Human Movement, 4th ed.,
#: fig. 4.1): the rigs' head joint sits at the top of the neck, about chin level.
CHIN_OVER_STATURE = 0.870


def _stature(motion_canonical) -> tuple[float, float]:  # noqa: ANN001
    """(estimated stature m, share of frames with the head above both feet)."""
    c = motion_canonical
    z = {n: c.point(n)[:, 2] for n in ("head", "left_ankle", "right_ankle", "left_toe", "right_toe")}
    floor = np.minimum.reduce([z["left_ankle"], z["right_ankle"], z["left_toe"], z["right_toe"]])
    above = (z["head"] > np.maximum(z["left_ankle"], z["right_ankle"])).mean()
    return float(np.median(z["head"] - floor) / CHIN_OVER_STATURE), float(above)


def _left_is_left(c) -> float:  # noqa: ANN001
    """Share of frames where left_hip - right_hip points to the subject's left (up x forward)."""
    fwd = (c.point("left_toe") + c.point("right_toe") - c.point("left_ankle") - c.point("right_ankle")) / 2
    fwd[:, 2] = 0.0
    left = np.cross([0.0, 0.0, 1.0], fwd)
    return float((np.einsum("ij,ij->i", c.point("left_hip") - c.point("right_hip"), left) > 0).mean())


@pytest.mark.parametrize("rig, pattern, skeleton", [
    ("bandai-namco", "dataset-*/*_walk_normal_00[1-3].bvh", "bandai_namco"),
    ("cmu-iclone", "*.bvh", "iclone"),
])
def test_shared_rigs_read_with_plausible_bodies(rig: str, pattern: str, skeleton: str) -> None:
    files = sorted(shared_path("mocap", rig).glob(pattern))
    assert files
    canonical = read_bvh_many(files, canonical=True)
    for motion in read_bvh_many(files):
        assert motion.skeleton == skeleton
        c = next(canonical)
        assert c.source == motion.source and c.skeleton == "canonical"
        stature, above = _stature(c)
        assert 1.4 <= stature <= 2.0, (motion.source, stature)
        assert above > 0.99, motion.source
        assert _left_is_left(c) > 0.99, motion.source
        signals = simulate(motion, list(builtin_placements().values()), rate_hz=50.0, cutoff_hz=6.0)
        assert all(s.valid.mean() > 0.9 for s in signals.values())


def _dominant_hz(x: np.ndarray, rate_hz: float) -> float:
    x = (x - x.mean()) * np.hanning(len(x))
    n = 16384
    spec = np.abs(np.fft.rfft(x, n))
    freq = np.fft.rfftfreq(n, 1.0 / rate_hz)
    band = (freq > 0.3) & (freq < 5.0)
    return float(freq[band][np.argmax(spec[band])])


def test_bandai_walk_cadence_in_the_virtual_imu() -> None:
    """The thigh swings once per stride: its gyroscope's dominant frequency is the stride rate.

    Plausible walking: 0.7-1.2 strides/s (1.4-2.4 steps/s). Left and right thighs agree within
    the spectral resolution of the take (about 0.12 Hz for 8 s).
    """
    files = sorted(shared_path("mocap", "bandai-namco").glob("dataset-2/*_walk_normal_00[1-4].bvh"))
    assert len(files) == 4
    for motion in read_bvh_many(files):
        signals = simulate(motion, [builtin_placements()[p] for p in ("left_thigh", "right_thigh")],
                           rate_hz=50.0, cutoff_hz=6.0)
        rates = []
        for s in signals.values():
            g = s.gyro[s.valid]
            axis = int(np.argmax(g.var(axis=0)))
            rates.append(_dominant_hz(g[:, axis], 50.0))
        assert all(0.7 <= r <= 1.2 for r in rates), (motion.source, rates)
        assert abs(rates[0] - rates[1]) <= 1.0 / motion.duration_s, (motion.source, rates)


@pytest.mark.parametrize("rig, name", [
    ("bandai-namco", "dataset-1/dataset-1_walk_normal_001.bvh"),
    ("cmu-iclone", "002_01.bvh"),
])
def test_cli_motion_on_shared_rigs(tmp_path: Path, rig: str, name: str) -> None:
    src = shared_path("mocap", rig, *name.split("/"))
    out = tmp_path / "out.h5"
    try:
        cli_main(["motion", str(src), "-p", "wrist", "-p", "thigh", "-p", "left_foot", "-p", "chest",
                  "-o", str(out)])
    except SystemExit as exc:  # main exits only on failure
        assert not exc.code, exc.code
    with h5py.File(out, "r") as f:
        (clip,) = f["clips"].values()
        for p in ("wrist", "thigh", "left_foot", "chest"):
            acc = clip[f"sensors/{p}/acc"][:]
            valid = clip[f"sensors/{p}/valid"][:]
            assert valid.mean() > 0.9
            assert 5.0 < np.median(np.linalg.norm(acc[valid], axis=1)) < 15.0
