"""Readers on the real recordings in ../shared (never copied into the project).

The expected counts and rates are the ones each folder's README documents; the physical checks
(gravity magnitude at rest, pelvis above ankles) would catch a wrong unit or a wrong up axis.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

from imusynth.core.conventions import G0
from imusynth.io.readers import read_imu, read_motion

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def shared() -> Path:
    """The shared data folder; fails under CI (where it must exist), skips elsewhere."""
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data folder {SHARED} is missing (required when CI is set)")
        pytest.skip(f"shared data folder {SHARED} not found")
    return SHARED


def test_pose2sim_trc(shared: Path) -> None:
    trc = (shared / "videos/pose2sim/reference_pose3d_from_history"
           / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")
    motion = read_motion(trc)
    assert len(motion.names) == 21
    assert motion.n_frames == 100
    assert motion.rate_hz == pytest.approx(60.0, abs=1e-6)  # times are printed with 16 digits
    assert motion.skeleton == "pose2sim"
    # y-up file read into z up: a standing person's head is about 1.3-1.9 m above the ankles.
    height = np.nanmedian(motion.point("Head")[:, 2] - motion.point("RAnkle")[:, 2])
    assert 1.0 < height < 2.0


@pytest.mark.parametrize(("name", "rate", "frames"), [
    ("Qualisys.c3d", 200.0, 340),
    ("markers_analogs.c3d", 100.0, 580),
    ("Optotrak.c3d", 30.0, 29),
])
def test_c3d_rates(shared: Path, name: str, rate: float, frames: int) -> None:
    # Optotrak.c3d has two marker slots that are never valid: they are dropped with a warning.
    dropped = pytest.warns(UserWarning, match="Marker_52, Marker_53")
    with dropped if name == "Optotrak.c3d" else contextlib.nullcontext():
        motion = read_motion(shared / "mocap/c3d" / name)
    assert motion.n_frames == frames
    assert motion.rate_hz == pytest.approx(rate, rel=1e-9)


def test_gaitmap_mocap(shared: Path) -> None:
    motion = read_motion(shared / "imu/gaitmap/mocap_sample.csv", time_column="index", rate_hz=100.0,
                         length_unit="mm")
    assert set(motion.names) == {"L_TOE", "R_TOE", "L_FCC", "R_FCC", "R_FM5", "L_FM5"}
    assert motion.n_frames == 3870
    assert motion.rate_hz == pytest.approx(100.0, rel=1e-9)
    # Foot markers on the floor of a Vicon lab (z up): a few centimetres above it, in metres.
    assert 0.0 < np.nanmedian(motion.xyz[..., 2]) < 0.2


def test_gaitmap_imu_gravity_at_rest(shared: Path) -> None:
    for sensor in ("left_sensor", "right_sensor"):
        imu = read_imu(shared / "imu/gaitmap/imu_sample.csv", preset="gaitmap", sensor=sensor)
        assert imu.n_samples == 7928
        assert imu.rate_hz == pytest.approx(204.8, rel=1e-9)
        still = imu.time < imu.time[0] + 1.0  # the subject stands still during the first second
        assert np.linalg.norm(imu.acc[still], axis=1).mean() == pytest.approx(G0, abs=0.5)


@pytest.mark.parametrize("trial", ["walking", "squatting", "3d_hand_movement"])
def test_sevivi_azure_kinect_skeleton(shared: Path, trial: str) -> None:
    motion = read_motion(shared / f"imu/sevivi/skeletons/joint_synchronization_{trial}/positions_3d.csv.gz")
    assert len(motion.names) == 32 and motion.skeleton == "azure_kinect"
    assert motion.rate_hz == pytest.approx(30.0, rel=1e-3)  # 33333 us steps
    pelvis = np.nanmedian(motion.point("PELVIS")[:, 2])
    for ankle in ("ANKLE_LEFT", "ANKLE_RIGHT"):
        assert pelvis > np.nanmedian(motion.point(ankle)[:, 2]) + 0.4  # camera y down -> z up


@pytest.mark.parametrize("trial", ["walking", "squatting", "3d_hand_movement"])
def test_sevivi_imu(shared: Path, trial: str) -> None:
    for side in ("LF", "RF"):
        imu = read_imu(shared / f"imu/sevivi/sensors/joint_synchronization_{trial}/{side}.csv.gz",
                       preset="xsens_dot")
        assert imu.name == side
        assert imu.rate_hz == pytest.approx(120.0, rel=1e-3)
        assert np.all(np.any(imu.acc != 0, axis=1))  # the all-zero first row is dropped
        assert np.median(np.linalg.norm(imu.acc, axis=1)) == pytest.approx(G0, abs=0.5)


def test_spsw_har_with_labels(shared: Path) -> None:
    for device in ("sp", "sw"):
        imu = read_imu(shared / f"imu/spsw-har/DATA/s01/s01_01_{device}.csv", preset="spsw_har")
        assert imu.rate_hz == pytest.approx(100.0, rel=0.15)  # README: ~100 Hz, median dt 9-10 ms
        assert imu.labels is not None
        assert set(imu.labels) == {"SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN"}
        seated = imu.labels == "SEATED"
        assert np.linalg.norm(imu.acc[seated], axis=1).mean() == pytest.approx(G0, abs=0.5)

