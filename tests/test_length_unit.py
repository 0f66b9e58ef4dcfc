"""Issue 10, defect 5: a length unit the file does not state is inferred from the body's size, or refused.

Before: ``imusynth motion mocap.csv`` read millimetres as metres (median |acc| 8,078 m/s^2). Now a CSV (or
BVH) without ``--length-unit`` gets the unit in which the person has a plausible size; too few points for a
body size stop the run with an error naming ``--length-unit``; a unit a file states (TRC, C3D) that makes an
implausible body while another unit would not is warned about.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from imusynth.cli import main as cli_main
from imusynth.core.conventions import G0
from imusynth.core.skeletons import KINECT_V1_20
from imusynth.io.readers import ReadError, read_csv_motion, read_motion
from imusynth.io.readers._common import BODY_SIZE_RANGE_M, body_size, infer_length_unit

from .conftest import shared_path

TOL = 1e-9

#: A person standing, z up, m (Kinect v1 joint names): head joint 1.62 m, chain 0.62 + 0.43 + 0.42 m.
STANDING = {
    "HipCenter": (0, 0, 1.0), "Spine": (0, 0, 1.2), "ShoulderCenter": (0, 0, 1.45), "Head": (0, 0, 1.62),
    "ShoulderLeft": (0.18, 0, 1.42), "ElbowLeft": (0.2, 0, 1.15), "WristLeft": (0.21, 0, 0.9),
    "HandLeft": (0.21, 0, 0.82), "ShoulderRight": (-0.18, 0, 1.42), "ElbowRight": (-0.2, 0, 1.15),
    "WristRight": (-0.21, 0, 0.9), "HandRight": (-0.21, 0, 0.82), "HipLeft": (0.1, 0, 0.95),
    "KneeLeft": (0.1, 0, 0.52), "AnkleLeft": (0.1, 0, 0.1), "FootLeft": (0.1, 0.12, 0.03),
    "HipRight": (-0.1, 0, 0.95), "KneeRight": (-0.1, 0, 0.52), "AnkleRight": (-0.1, 0, 0.1),
    "FootRight": (-0.1, 0.12, 0.03),
}
CHAIN_M = 0.62 + 0.43 + 0.42


def swaying_body(rate_hz: float = 100.0, seconds: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(time (T,) s, xyz (T, 20, 3) m): the body swaying 2 cm side to side at 0.5 Hz (|acc| < 0.2 m/s^2)."""
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    pose = np.array([STANDING[j] for j in KINECT_V1_20], dtype=np.float64)
    shift = np.zeros((t.size, 1, 3))
    shift[:, 0, 0] = 0.02 * np.sin(2 * np.pi * 0.5 * t)
    return t, pose[None] + shift


def write_body_csv(path: Path, t: np.ndarray, xyz: np.ndarray, names: tuple[str, ...] = KINECT_V1_20) -> Path:
    header = ["time"] + [f"{n}_{a}" for n in names for a in "xyz"]
    rows = [",".join([repr(float(tk))] + [repr(float(v)) for v in xyz[k].ravel()]) for k, tk in enumerate(t)]
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("unit, factor", [("mm", 1000.0), ("cm", 100.0), ("m", 1.0)])
def test_csv_unit_inferred_from_named_body(tmp_path: Path, unit: str, factor: float) -> None:
    t, xyz = swaying_body()
    path = write_body_csv(tmp_path / f"body_{unit}.csv", t, xyz * factor)
    motion = read_csv_motion(path)  # no length_unit: fails before the fix for mm and cm (read as m)
    assert motion.skeleton == "kinect_v1"
    np.testing.assert_allclose(motion.xyz, xyz, rtol=0, atol=TOL)
    size, how = body_size(xyz * factor, KINECT_V1_20, skeleton="kinect_v1")
    assert size == pytest.approx(CHAIN_M * factor, rel=1e-9) and "chain" in how


def test_csv_unit_inferred_from_unnamed_markers(tmp_path: Path) -> None:
    """Ten or more markers with names no map knows: the extent of the marker set is the body's size."""
    t, xyz = swaying_body()
    names = tuple(f"M{k:02d}" for k in range(xyz.shape[1]))
    motion = read_csv_motion(write_body_csv(tmp_path / "markers.csv", t, xyz * 1000.0, names))
    np.testing.assert_allclose(motion.xyz, xyz, rtol=0, atol=TOL)
    size, how = body_size(xyz, names, skeleton=None)
    # bounding box of the standing pose: 0.42 x (0.12 + sway) x 1.59 m
    assert 1.6 < size < 1.75 and "extent" in how


def test_cli_motion_mm_csv_gives_gravity_not_800_g(tmp_path: Path) -> None:
    t, xyz = swaying_body()
    src = write_body_csv(tmp_path / "mocap_mm.csv", t, xyz * 1000.0)
    out = tmp_path / "out.h5"
    try:
        cli_main(["motion", str(src), "-p", "chest", "-p", "waist", "-o", str(out)])
    except SystemExit as exc:  # main exits only on failure
        assert not exc.code, exc.code
    with h5py.File(out, "r") as f:
        (clip,) = f["clips"].values()
        for p in ("chest", "waist"):
            acc = clip[f"sensors/{p}/acc"][:]
            valid = clip[f"sensors/{p}/valid"][:]
            assert valid.mean() > 0.9
            assert np.median(np.linalg.norm(acc[valid], axis=1)) == pytest.approx(G0, abs=0.2)


def test_too_few_points_stop_with_an_error_naming_the_flag(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    t, xyz = swaying_body()
    feet = ("AnkleLeft", "FootLeft", "AnkleRight", "FootRight")
    idx = [KINECT_V1_20.index(n) for n in feet]
    src = write_body_csv(tmp_path / "feet_mm.csv", t, xyz[:, idx] * 1000.0, tuple(f"F{k}" for k in range(4)))
    with pytest.raises(ReadError, match="too few .* give --length-unit mm, cm or m"):
        read_motion(src)
    assert read_motion(src, length_unit="mm").xyz[0, 0, 2] == pytest.approx(0.1, abs=TOL)
    with pytest.raises(SystemExit) as exc:
        cli_main(["motion", str(src), "-p", "chest", "-o", str(tmp_path / "x.h5")])
    assert exc.value.code == 2
    assert "--length-unit" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_no_unit_makes_a_plausible_body(tmp_path: Path) -> None:
    t, xyz = swaying_body()
    src = write_body_csv(tmp_path / "giant.csv", t, xyz * 30.0)  # 44 units: 44 m, 0.44 m or 4.4 cm
    with pytest.raises(ReadError, match=r"none of mm, cm, m; give --length-unit"):
        read_motion(src)
    lo, hi = BODY_SIZE_RANGE_M
    assert hi / lo < 10.0  # at most one unit can fit
    assert infer_length_unit(xyz * 100.0, KINECT_V1_20, skeleton="kinect_v1", source="x") == "cm"


def write_trc(path: Path, t: np.ndarray, names: tuple[str, ...], xyz: np.ndarray, units: str) -> Path:
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits",
        f"100\t100\t{len(t)}\t{len(names)}\t{units}",
        "Frame#\tTime\t" + "\t\t\t".join(names),
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(names))),
        "",
    ]
    for k, tk in enumerate(t):
        lines.append(f"{k + 1}\t{float(tk)!r}\t" + "\t".join(repr(float(v)) for v in xyz[k].ravel()))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_stated_unit_is_checked(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    t, xyz = swaying_body(seconds=0.5)
    right = write_trc(tmp_path / "right.trc", t, KINECT_V1_20, xyz * 1000.0, "mm")
    np.testing.assert_allclose(read_motion(right, up_axis="z").xyz, xyz, rtol=0, atol=TOL)
    assert not [w for w in recwarn if "length unit" in str(w.message)]
    wrong = write_trc(tmp_path / "wrong.trc", t, KINECT_V1_20, xyz * 1000.0, "m")  # header says m, data mm
    expected = r"in m the body measures 1.47e\+03 m .* in mm it would measure 1.47 m"
    with pytest.warns(UserWarning, match=expected):
        read_motion(wrong, up_axis="z")


def test_gaitmap_foot_markers_without_unit_are_refused(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's file: 6 foot markers in mm; before the fix: median |acc| 8,078 m/s^2 without a word."""
    src = shared_path("imu", "gaitmap", "mocap_sample.csv")
    pf = Path(__file__).resolve().parents[1] / "pipelines/placements/gaitmap_feet.toml"
    args = ["motion", str(src), "--placements-file", str(pf), "-p", "left_foot_imu", "--time-column", "index",
            "--source-rate", "100", "-o", str(tmp_path / "g.h5")]
    with pytest.raises(SystemExit) as exc:
        cli_main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--length-unit" in err and "Traceback" not in err
    try:
        cli_main([*args, "--length-unit", "mm"])
    except SystemExit as done:
        assert not done.code, done.code
    with h5py.File(tmp_path / "g.h5", "r") as f:
        (clip,) = f["clips"].values()
        acc = clip["sensors/left_foot_imu/acc"][:]
        valid = clip["sensors/left_foot_imu/valid"][:]
        assert 5.0 < np.median(np.linalg.norm(acc[valid], axis=1)) < 30.0  # a walking foot: about g
