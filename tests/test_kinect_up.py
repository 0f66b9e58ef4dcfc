"""Skeleton datasets: the up axis comes from the Kinect format and is checked against the body.

Kinect v1 camera space has +y up (x to the sensor's left, z away from it); the Azure Kinect depth camera
has +y DOWN. A synthetic Kinect v1 body written in camera space must give gravity on the world's z axis
without ``--up-axis``; a file whose body says otherwise is read along the body's axis with a warning; an
up axis given explicitly is kept, with a warning when the body contradicts it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from imusynth.cli.main import run
from imusynth.core.conventions import G0, UP_AXIS_TO_Z_UP, matrix_from_quat
from imusynth.core.skeletons import AZURE_KINECT_32, KINECT_V1_20
from imusynth.io.readers import read_motion
from tests.test_motion_cleaning import kinect_body

HEAD, FOOT = KINECT_V1_20.index("Head"), KINECT_V1_20.index("AnkleLeft")


def to_file_frame(xyz_z_up: np.ndarray, up_axis: str) -> np.ndarray:
    """World (z up) -> a file frame whose up axis is ``up_axis`` (the inverse of ``to_z_up``)."""
    return xyz_z_up @ UP_AXIS_TO_Z_UP[up_axis]


def write_kinect_v1(path: Path, t: np.ndarray, xyz: np.ndarray) -> Path:
    header = ["time"] + [f"{j}_{a}" for j in KINECT_V1_20 for a in "xyz"]
    rows = [",".join([f"{tk:.6f}"] + [f"{v:.6f}" for v in xyz[k].ravel()]) for k, tk in enumerate(t)]
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def camera_space(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A Kinect v1 CSV in camera space (y up, the person 2.5 m from the sensor), and the z-up truth."""
    t, world = kinect_body(rate_hz=30.0, seconds=4.0)
    camera = to_file_frame(world, "y") + np.array([0.0, -0.8, 2.5])   # sensor 0.8 m above the floor
    return write_kinect_v1(tmp_path / "a01_s01_t01_skeleton.csv", t, camera), world


def test_kinect_v1_camera_space_needs_no_up_axis(camera_space: tuple[Path, np.ndarray],
                                                 recwarn: pytest.WarningsRecorder) -> None:
    path, world = camera_space
    motion = read_motion(path)
    assert motion.skeleton == "kinect_v1"
    np.testing.assert_allclose(motion.xyz - motion.xyz[:, :1], world - world[:, :1], atol=1e-5)
    assert not [w for w in recwarn if "up" in str(w.message)]
    # the generic CSV reader (z up), as before: the head is not above the feet
    generic = read_motion(path, format="csv")
    assert np.median(generic.xyz[:, HEAD, 2] - generic.xyz[:, FOOT, 2]) < 0.1


def test_kinect_v1_gravity_on_the_up_axis_through_the_cli(
        camera_space: tuple[Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = camera_space
    out = tmp_path / "k1.h5"
    assert run(["motion", str(path), "-p", "chest", "-p", "waist", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "up" not in err, err
    with h5py.File(out, "r") as f:
        clip = f["clips/a01_s01_t01_skeleton"]
        for p in ("chest", "waist"):
            g = clip[f"sensors/{p}"]
            valid = g["valid"][:]
            rot = matrix_from_quat(g["orientation"][:][valid])
            acc_world = np.einsum("nij,nj->ni", rot, g["acc"][:][valid])
            # the body sways 2 cm at 0.5 Hz: its own acceleration is below 0.2 m/s^2
            np.testing.assert_allclose(acc_world.mean(axis=0), [0.0, 0.0, G0], atol=0.2)


@pytest.mark.parametrize("sep, end", [(".", ""), (" (", ")"), ("-", "")])
def test_kinect_v1_tables_with_other_column_names(tmp_path: Path, sep: str, end: str) -> None:
    t, world = kinect_body()
    path = write_kinect_v1(tmp_path / "k.csv", t, to_file_frame(world, "y"))
    lines = path.read_text().splitlines()
    lines[0] = ",".join(["time"] + [f"{j}{sep}{a.upper()}{end}" for j in KINECT_V1_20 for a in "xyz"])
    path.write_text("\n".join(lines) + "\n")
    with _no_up_warning():
        motion = read_motion(path)
    assert motion.skeleton == "kinect_v1"
    np.testing.assert_allclose(motion.xyz, world, atol=1e-5)


def test_a_body_that_contradicts_the_format_is_read_along_its_own_up_axis(tmp_path: Path) -> None:
    t, world = kinect_body()
    path = write_kinect_v1(tmp_path / "converted.csv", t, world)          # already z up
    with pytest.warns(UserWarning, match="camera space has y up, but this skeleton's head is above its feet "
                                         "along z: read with up axis z"):
        motion = read_motion(path)
    np.testing.assert_allclose(motion.xyz, world, atol=1e-6)


def test_an_explicit_up_axis_is_kept_with_a_warning(camera_space: tuple[Path, np.ndarray]) -> None:
    path, world = camera_space
    with pytest.warns(UserWarning, match="with --up-axis z the head is not above the feet .* along y"):
        motion = read_motion(path, up_axis="z")
    assert np.median(motion.xyz[:, HEAD, 2] - motion.xyz[:, FOOT, 2]) < 0.1   # as asked
    # a short take (under 10 frames) says nothing either way
    t, world = kinect_body(seconds=0.2)
    short = write_kinect_v1(path.with_name("short.csv"), t, world)
    with _no_up_warning():
        read_motion(short, length_unit="m")


class _no_up_warning:  # noqa: N801 - used like pytest.warns
    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._caught = self._ctx.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
        assert not [w for w in self._caught if "up" in str(w.message)]


def test_azure_kinect_depth_camera_has_y_down(tmp_path: Path) -> None:
    """The same kind of body in the Azure depth camera frame (x right, y down, z forward), mm."""
    t, world = kinect_body()
    names = dict(zip(KINECT_V1_20, range(20), strict=True))
    azure_of = {"PELVIS": "HipCenter", "SPINE_CHEST": "Spine", "NECK": "ShoulderCenter", "HEAD": "Head",
                **{f"{a}_{s.upper()}": f"{b}{s}" for s in ("Left", "Right") for a, b in (
                    ("SHOULDER", "Shoulder"), ("ELBOW", "Elbow"), ("WRIST", "Wrist"), ("HAND", "Hand"),
                    ("HIP", "Hip"), ("KNEE", "Knee"), ("ANKLE", "Ankle"), ("FOOT", "Foot"))}}
    xyz = np.stack([world[:, names[azure_of.get(j, "Spine")]] for j in AZURE_KINECT_32], axis=1)
    camera_mm = (to_file_frame(xyz, "-y") + np.array([0.0, 0.8, 2.5])) * 1000.0
    header = ["timestamp", "body_idx"] + [f"{j} ({c})" for j in AZURE_KINECT_32 for c in "cxyz"]
    lines = [";".join(header)]
    for k, tk in enumerate(t):
        cells = [str(int(round(tk * 1e6))), "0"]
        for p in camera_mm[k]:
            cells += ["3", *(f"{v:.3f}" for v in p)]
        lines.append(";".join(cells))
    path = tmp_path / "positions_3d.csv"
    path.write_text("\n".join(lines) + "\n")
    with _no_up_warning():
        motion = read_motion(path)
    assert motion.skeleton == "azure_kinect"
    head, foot = AZURE_KINECT_32.index("HEAD"), AZURE_KINECT_32.index("FOOT_LEFT")
    assert np.median(motion.xyz[:, head, 2] - motion.xyz[:, foot, 2]) == pytest.approx(1.59, abs=1e-3)
