"""Readers on small synthetic files written into tmp_path: closed-form round trips and clear errors.

Tolerances: values are written with ``repr`` (17 significant digits), so a round trip only meets
float64 rounding of the unit factor and the axis permutation: 1e-9 (m, s, m/s^2, rad/s) is far above
that (about 1e-15 relative) and far below any real error (a wrong factor or axis is off by >= 1e-3).
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest

from imusynth.core.conventions import G0, UP_AXIS_TO_Z_UP
from imusynth.core.skeletons import AZURE_KINECT_32, KINECT_V1_20
from imusynth.errors import InputError
from imusynth.io.readers import (
    MOTION_FORMATS,
    ReadError,
    RealIMU,
    read_azure_kinect,
    read_c3d,
    read_csv_motion,
    read_imu,
    read_imu_csv,
    read_motion,
    read_trc,
)

TOL = 1e-9  # see the module docstring


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def from_z_up(xyz_z_up: np.ndarray, up_axis: str) -> np.ndarray:
    """Inverse of conventions.to_z_up: coordinates in a frame whose up axis is ``up_axis``."""
    return xyz_z_up @ UP_AXIS_TO_Z_UP[up_axis]


def write_lines(path: Path, lines: list[str], *, compress: bool = False) -> Path:
    text = "\n".join(lines) + "\n"
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_trc(path: Path, time: np.ndarray, names: list[str], xyz: np.ndarray, units: str,
              *, compress: bool = False) -> Path:
    """A TRC file as Pose2Sim writes it; NaN positions become empty cells."""
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"60\t60\t{len(time)}\t{len(names)}\t{units}\t60\t0\t{len(time)}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(names))),
    ]
    for k, t in enumerate(time):
        cells = ["" if np.isnan(v) else repr(float(v)) for v in xyz[k].ravel()]
        lines.append("\t".join([str(k + 1), repr(float(t))] + cells))
    return write_lines(path, lines, compress=compress)


def write_csv(path: Path, header: list[str], rows: list[list[object]], *, delimiter: str = ",",
              compress: bool = False) -> Path:
    def cell(v: object) -> str:
        return repr(float(v)) if isinstance(v, float | np.floating) else str(v)

    lines = [delimiter.join(header)] + [delimiter.join(cell(v) for v in row) for row in rows]
    return write_lines(path, lines, compress=compress)


# ------------------------------------------------------------------------------------------------
# TRC
# ------------------------------------------------------------------------------------------------


def test_trc_mm_y_up_round_trip_to_metres_z_up(tmp_path: Path, rng: np.random.Generator) -> None:
    names = ["RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Neck", "Head", "Nose"]
    time = np.arange(1, 31) / 60.0
    truth = rng.uniform(-2.0, 2.0, size=(30, len(names), 3))  # m, z up
    path = write_trc(tmp_path / "a.trc", time, names, from_z_up(truth, "y") * 1000.0, "mm")
    motion = read_trc(path)
    assert motion.names == tuple(names)
    np.testing.assert_allclose(motion.time, time, rtol=0, atol=TOL)
    np.testing.assert_allclose(motion.xyz, truth, rtol=0, atol=TOL)
    assert motion.skeleton == "pose2sim"
    assert motion.rate_hz == pytest.approx(60.0, abs=1e-9)
    np.testing.assert_array_equal(motion.confidence, 1.0)


def test_trc_gzip_units_override_and_missing_cells(tmp_path: Path, rng: np.random.Generator) -> None:
    time = np.arange(5) * 0.01
    truth = rng.uniform(-1, 1, size=(5, 2, 3))
    source = from_z_up(truth, "z") * 100.0  # cm, written although the header claims "m"
    source[2, 1] = np.nan
    path = write_trc(tmp_path / "b.trc.gz", time, ["m1", "m2"], source, "m", compress=True)
    motion = read_trc(path, up_axis="z", length_unit="cm")
    expected = truth.copy()
    expected[2, 1] = np.nan
    np.testing.assert_allclose(motion.xyz, expected, rtol=0, atol=TOL)
    assert motion.confidence[2, 1] == 0.0 and motion.confidence[2, 0] == 1.0
    assert motion.skeleton is None


def test_trc_never_seen_marker_is_dropped_with_warning(tmp_path: Path) -> None:
    xyz = np.ones((3, 2, 3))
    xyz[:, 1] = np.nan
    path = write_trc(tmp_path / "c.trc", np.arange(3) / 60, ["seen", "ghost"], xyz, "m")
    with pytest.warns(UserWarning, match="ghost"):
        motion = read_trc(path)
    assert motion.names == ("seen",)
    with pytest.raises(ReadError, match="ghost"):
        read_trc(path, empty_points="error")


def test_trc_marker_count_mismatch_and_not_a_trc(tmp_path: Path) -> None:
    path = write_trc(tmp_path / "d.trc", np.arange(3) / 60, ["a", "b"], np.ones((3, 2, 3)), "m")
    text = path.read_text().replace("\t3\t2\tm\t", "\t3\t5\tm\t")
    path.write_text(text)
    with pytest.raises(ReadError, match="NumMarkers=5"):
        read_trc(path)
    other = write_lines(tmp_path / "e.trc", ["time,x", "0,1"])
    with pytest.raises(ReadError, match="PathFileType"):
        read_trc(other)


# ------------------------------------------------------------------------------------------------
# C3D
# ------------------------------------------------------------------------------------------------


def test_c3d_round_trip_with_invalid_residuals(tmp_path: Path, rng: np.random.Generator) -> None:
    ezc3d = pytest.importorskip("ezc3d")
    n_frames, labels = 8, ["LASI", "RASI", "SACR"]
    truth = rng.uniform(-1.0, 1.0, size=(n_frames, 3, 3))  # m, z up
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [250.0]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = tuple(labels)
    c3d.add_parameter("POINT", "UNITS", ["mm"])
    points = np.ones((4, 3, n_frames))
    points[:3] = np.transpose(truth * 1000.0, (2, 1, 0))
    c3d["data"]["points"] = points
    residuals = np.zeros((1, 3, n_frames))
    residuals[0, 1, 4] = -1.0  # RASI invalid in frame 4
    c3d["data"]["meta_points"]["residuals"] = residuals
    path = tmp_path / "lab.c3d"
    c3d.write(str(path))

    motion = read_motion(path)  # inferred from content
    assert motion.names == tuple(labels)
    np.testing.assert_allclose(motion.time, np.arange(n_frames) / 250.0, rtol=0, atol=TOL)
    expected = truth.copy()
    expected[4, 1] = np.nan
    # C3D stores float32: 1 mm-scale values keep ~1e-7 relative precision, so 1e-6 m here.
    np.testing.assert_allclose(motion.xyz, expected, rtol=0, atol=1e-6)
    assert motion.confidence[4, 1] == 0.0
    y_up = read_c3d(path, up_axis="y")
    np.testing.assert_allclose(y_up.xyz[0], truth[0] @ UP_AXIS_TO_Z_UP["y"].T, rtol=0, atol=1e-6)


def test_c3d_gzip_reads_like_the_plain_file(tmp_path: Path, rng: np.random.Generator) -> None:
    ezc3d = pytest.importorskip("ezc3d")
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [100.0]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = ("A", "B")
    c3d.add_parameter("POINT", "UNITS", ["m"])
    points = np.ones((4, 2, 5))
    points[:3] = rng.uniform(-1.0, 1.0, size=(3, 2, 5))
    c3d["data"]["points"] = points
    plain = tmp_path / "lab.c3d"
    c3d.write(str(plain))
    packed = tmp_path / "lab.c3d.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    before = set(Path(tempfile.gettempdir()).glob("imusynth-*.c3d"))
    a, b = read_motion(plain), read_motion(packed)   # the .gz one recognised by content
    assert a.names == b.names and np.array_equal(a.xyz, b.xyz) and np.array_equal(a.time, b.time)
    assert set(Path(tempfile.gettempdir()).glob("imusynth-*.c3d")) == before   # temporary copy removed
    broken = tmp_path / "broken.c3d.gz"
    broken.write_bytes(gzip.compress(plain.read_bytes())[:200])
    with pytest.raises(ReadError, match="damaged gzip"):
        read_c3d(broken)
    assert set(Path(tempfile.gettempdir()).glob("imusynth-*.c3d")) == before


def test_c3d_unreadable_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.c3d", ["not", "a", "c3d"])
    with pytest.raises(ReadError, match="C3D"):
        read_c3d(path)


# ------------------------------------------------------------------------------------------------
# CSV motion
# ------------------------------------------------------------------------------------------------


def _flat_rows(time: np.ndarray, source: np.ndarray) -> list[list[object]]:
    return [[float(t), *map(float, source[k].ravel())] for k, t in enumerate(time)]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("compress", [False, True])
def test_csv_time_ms_mm_y_up_round_trip(tmp_path: Path, rng: np.random.Generator, delimiter: str,
                                        compress: bool) -> None:
    time_s = np.arange(10) * 0.02 + 3.0
    truth = rng.uniform(-1, 1, size=(10, 2, 3))
    header = ["t_ms", "Head_x", "Head_y", "Head_z", "Foot_X", "Foot_Y", "Foot_Z"]
    path = write_csv(tmp_path / "m.csv", header, _flat_rows(time_s * 1000.0, from_z_up(truth, "y") * 1000.0),
                     delimiter=delimiter, compress=compress)
    motion = read_csv_motion(path, time_column="t_ms", time_unit="ms", length_unit="mm", up_axis="y")
    assert motion.names == ("Head", "Foot")
    np.testing.assert_allclose(motion.time, time_s, rtol=0, atol=TOL)
    np.testing.assert_allclose(motion.xyz, truth, rtol=0, atol=TOL)


def test_csv_rate_pattern_points_and_confidence(tmp_path: Path) -> None:
    header = ["wrist.x", "wrist.y", "wrist.z", "wrist.conf", "elbow.x", "elbow.y", "elbow.z", "elbow.conf"]
    rows: list[list[object]] = [[1.0, 2.0, 3.0, 0.5, 4.0, 5.0, 6.0, 1.0],
                                [1.5, 2.5, 3.5, 0.25, 4.5, 5.5, 6.5, 0.0]]
    path = write_csv(tmp_path / "p.csv", header, rows)
    motion = read_csv_motion(path, rate_hz=50.0, column_pattern="{point}.{axis}", points=["elbow"],
                             confidence_pattern="{point}.conf", length_unit="m")
    assert motion.names == ("elbow",)
    np.testing.assert_allclose(motion.time, [0.0, 0.02], rtol=0, atol=TOL)
    np.testing.assert_allclose(motion.xyz[:, 0], [[4.0, 5.0, 6.0], [4.5, 5.5, 6.5]], rtol=0, atol=TOL)
    np.testing.assert_array_equal(motion.confidence[:, 0], [1.0, 0.0])


def test_csv_pandas_two_row_header(tmp_path: Path) -> None:
    """The form pandas writes for MultiIndex columns (gaitmap mocap): index = sample number."""
    lines = [",L_TOE,L_TOE,L_TOE,R_TOE,R_TOE,R_TOE", ",x,y,z,x,y,z"]
    lines += [f"{i},{i}.0,1000.0,20.0,{-i}.0,2000.0,40.0" for i in range(4)]
    path = write_lines(tmp_path / "mocap.csv", lines)
    motion = read_motion(path, time_column="index", rate_hz=100.0, length_unit="mm")
    assert motion.names == ("L_TOE", "R_TOE")
    np.testing.assert_allclose(motion.time, np.arange(4) / 100.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(motion.xyz[3], [[0.003, 1.0, 0.02], [-0.003, 2.0, 0.04]], rtol=0, atol=TOL)


def test_csv_missing_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["time", "Head_x", "Head_y", "Hand_x", "Hand_y", "Hand_z"],
                     [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0.1, 1.0, 2.0, 3.0, 4.0, 5.0]])
    with pytest.raises(ReadError, match="'Head_z' not found"):
        read_csv_motion(path)
    with pytest.raises(ReadError, match="'Knee_x' not found"):
        read_csv_motion(path, points=["Hand", "Knee"])
    no_time = write_csv(tmp_path / "n.csv", ["Hand_x", "Hand_y", "Hand_z"],
                        [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    with pytest.raises(InputError, match="give time_column"):
        read_csv_motion(no_time)


def test_csv_non_numeric_cell_is_located(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["time", "a_x", "a_y", "a_z"],
                     [[0.0, 1.0, 2.0, 3.0], [0.1, 1.0, "oops", 3.0]])
    with pytest.raises(ReadError, match=r"column 'a_y', data row 2 holds 'oops'"):
        read_csv_motion(path)


def test_csv_unknown_units_and_up_axis(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["time", "a_x", "a_y", "a_z"],
                     [[0.0, 1.0, 2.0, 3.0], [0.1, 1.0, 2.0, 3.0]])
    with pytest.raises(ReadError, match="length_unit.*'inch'"):
        read_csv_motion(path, length_unit="inch")
    with pytest.raises(ReadError, match="time_unit.*'min'"):
        read_csv_motion(path, time_column="time", time_unit="min")
    with pytest.raises(ReadError, match="up_axis 'up'"):
        read_csv_motion(path, up_axis="up")


def test_csv_too_few_samples_and_time_order(tmp_path: Path) -> None:
    one = write_csv(tmp_path / "one.csv", ["time", "a_x", "a_y", "a_z"], [[0.0, 1.0, 2.0, 3.0]])
    with pytest.raises(ReadError, match="at least 2"):
        read_csv_motion(one)
    back = write_csv(tmp_path / "back.csv", ["time", "a_x", "a_y", "a_z"],
                     [[0.0, 1.0, 2.0, 3.0], [0.2, 1.0, 2.0, 3.0], [0.1, 1.0, 2.0, 3.0]])
    with pytest.raises(ReadError, match="strictly increasing; data row 3"):
        read_csv_motion(back)


def test_csv_all_nan_point(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["time", "a_x", "a_y", "a_z", "b_x", "b_y", "b_z"],
                     [[0.0, 1.0, 2.0, 3.0, "", "", ""], [0.1, 1.0, 2.0, 3.0, "nan", "NaN", ""]])
    with pytest.raises(ReadError, match="no finite sample: b"):
        read_csv_motion(path)
    with pytest.warns(UserWarning, match="dropped"):
        assert read_csv_motion(path, empty_points="drop", length_unit="m").names == ("a",)


def test_kinect_v1_csv_through_generic_reader(tmp_path: Path, rng: np.random.Generator) -> None:
    header = ["time"] + [f"{j}_{a}" for j in KINECT_V1_20 for a in "xyz"]
    truth = rng.uniform(-1, 1, size=(3, 20, 3))
    rows = _flat_rows(np.arange(3) / 30.0, from_z_up(truth, "y"))
    motion = read_motion(write_csv(tmp_path / "k1.csv", header, rows), up_axis="y", length_unit="m")
    assert motion.skeleton == "kinect_v1"
    assert motion.names == KINECT_V1_20
    np.testing.assert_allclose(motion.xyz, truth, rtol=0, atol=TOL)


# ------------------------------------------------------------------------------------------------
# Azure Kinect
# ------------------------------------------------------------------------------------------------


def write_azure(path: Path, timestamps_us: list[int], bodies: list[int], xyz_mm: np.ndarray,
                levels: np.ndarray) -> Path:
    header = ["timestamp", "body_idx"]
    for joint in AZURE_KINECT_32:
        header += [f"{joint} (c)", f"{joint} (x)", f"{joint} (y)", f"{joint} (z)"]
    rows: list[list[object]] = []
    for k, (t, b) in enumerate(zip(timestamps_us, bodies, strict=True)):
        row: list[object] = [t, b]
        for j in range(32):
            row += [int(levels[k, j]), *map(float, xyz_mm[k, j])]
        rows.append(row)
    return write_csv(path, header, rows, delimiter=";", compress=path.suffix == ".gz")


def test_azure_kinect_body_choice_units_up_axis_confidence(tmp_path: Path, rng: np.random.Generator) -> None:
    # Rows: body 1 at frames 0, 1, 2 and body 4 at frames 1, 2 -> body 1 is the most frequent.
    stamps, bodies = [200000, 233333, 233333, 266666, 266666], [1, 1, 4, 1, 4]
    camera_mm = rng.uniform(-1500, 1500, size=(5, 32, 3))
    camera_mm[:, 0] = [10.0, -800.0, 2500.0]  # PELVIS 0.8 m above the camera's optical axis (y down)
    levels = rng.integers(0, 4, size=(5, 32))
    path = write_azure(tmp_path / "positions_3d.csv.gz", stamps, bodies, camera_mm, levels)

    motion = read_motion(path)
    assert motion.skeleton == "azure_kinect" and motion.names == AZURE_KINECT_32
    np.testing.assert_allclose(motion.time, [0.2, 0.233333, 0.266666], rtol=0, atol=TOL)
    # camera (x right, y down, z forward) -> world (x right, y forward, z up)
    np.testing.assert_allclose(motion.xyz[:, 0], [[0.01, 2.5, 0.8]] * 3, rtol=0, atol=TOL)
    rows_body1 = [0, 1, 3]
    expected = np.stack([camera_mm[rows_body1, :, 0], camera_mm[rows_body1, :, 2],
                         -camera_mm[rows_body1, :, 1]], axis=-1) / 1000.0
    np.testing.assert_allclose(motion.xyz, expected, rtol=0, atol=TOL)
    np.testing.assert_allclose(motion.confidence, levels[rows_body1] / 3.0, rtol=0, atol=TOL)

    other = read_azure_kinect(path, body_idx=4)
    np.testing.assert_allclose(other.time, [0.233333, 0.266666], rtol=0, atol=TOL)
    np.testing.assert_allclose(other.xyz[:, 5, 0], camera_mm[[2, 4], 5, 0] / 1000.0, rtol=0, atol=TOL)
    with pytest.raises(ReadError, match="body_idx 7 is not in the file; it has 1, 4"):
        read_azure_kinect(path, body_idx=7)


# ------------------------------------------------------------------------------------------------
# read_motion: registry, inference, options
# ------------------------------------------------------------------------------------------------


def test_registry_names_every_format() -> None:
    assert set(MOTION_FORMATS) == {"trc", "c3d", "csv", "azure_kinect", "kinect_v1", "bvh"}


def test_read_motion_infers_trc_from_content(tmp_path: Path) -> None:
    path = write_trc(tmp_path / "export.txt", np.arange(3) / 60, ["a"], np.ones((3, 1, 3)), "m")
    assert read_motion(path).names == ("a",)


def test_read_motion_errors(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file"):
        read_motion(tmp_path / "absent.trc")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ReadError, match="empty"):
        read_motion(tmp_path / "empty.csv")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ReadError, match=r"supported: azure_kinect .*; c3d .*; csv .*; trc "):
        read_motion(blob)
    trc = write_trc(tmp_path / "a.trc", np.arange(3) / 60, ["a"], np.ones((3, 1, 3)), "m")
    with pytest.raises(ReadError, match="does not take body_idx"):
        read_motion(trc, body_idx=1)
    with pytest.raises(ReadError, match="unknown format 'fbx'"):
        read_motion(trc, format="fbx")


# ------------------------------------------------------------------------------------------------
# Real IMU
# ------------------------------------------------------------------------------------------------


def test_imu_units_g_mg_degps(tmp_path: Path) -> None:
    header = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
    rows: list[list[object]] = [[0.0, 0.0, 0.0, 1.0, 90.0, 0.0, -180.0],
                                [0.5, 0.5, -2.0, 0.0, 0.0, 45.0, 0.0]]
    path = write_csv(tmp_path / "imu.csv", header, rows)
    read = functools.partial(read_imu_csv, acc_columns=("ax", "ay", "az"), gyro_columns=("gx", "gy", "gz"),
                             time_column="t")
    imu = read(path, acc_unit="g", gyro_unit="deg/s")
    np.testing.assert_allclose(imu.acc, [[0, 0, G0], [0.5 * G0, -2 * G0, 0]], rtol=0, atol=TOL)
    np.testing.assert_allclose(imu.gyro, [[np.pi / 2, 0, -np.pi], [0, np.pi / 4, 0]], rtol=0, atol=TOL)
    milli = read(path, acc_unit="mg", gyro_unit="rad/s")
    np.testing.assert_allclose(milli.acc[0], [0, 0, G0 / 1000], rtol=0, atol=TOL)
    np.testing.assert_allclose(milli.gyro[0], [90.0, 0, -180.0], rtol=0, atol=TOL)
    assert imu.rate_hz == pytest.approx(2.0, abs=TOL)
    assert imu.name == "imu"
    with pytest.raises(ReadError, match="acc_unit.*'furlong'"):
        read(path, acc_unit="furlong")


def test_imu_missing_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y"],
                     [[0.0, 0, 0, 0, 0, 0], [0.1, 0, 0, 0, 0, 0]])
    with pytest.raises(ReadError, match="'gyro_z' not found"):
        read_imu_csv(path)


def test_imu_two_row_header_sensor_choice(tmp_path: Path) -> None:
    sensors = ["left_sensor", "right_sensor"]
    axes = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    lines = ["sensor," + ",".join(s for _ in axes for s in sensors),
             "axis," + ",".join(a for a in axes for _ in sensors)]
    for i in range(5):
        left_values = [0.0, 0.0, 9.0, 180.0, 0.0, 0.0]
        right_values = [1.0, 0.0, 9.5, 0.0, -90.0, 0.0]
        pairs = zip(left_values, right_values, strict=True)
        lines.append(f"{i}," + ",".join(f"{v}" for pair in pairs for v in pair))
    path = write_lines(tmp_path / "gait.csv", lines)
    with pytest.raises(ReadError, match="several sensors.*left_sensor, right_sensor"):
        read_imu(path)
    right = read_imu(path, sensor="right_sensor")  # the gaitmap preset is detected from the columns
    assert right.name == "right_sensor"
    np.testing.assert_allclose(right.time, np.arange(5) / 204.8, rtol=0, atol=TOL)
    np.testing.assert_allclose(right.acc[0], [1.0, 0.0, 9.5], rtol=0, atol=TOL)
    np.testing.assert_allclose(right.gyro[0], [0.0, -np.pi / 2, 0.0], rtol=0, atol=TOL)
    slow = read_imu(path, preset="gaitmap", sensor="left_sensor", rate_hz=102.4)
    np.testing.assert_allclose(slow.time, np.arange(5) / 102.4, rtol=0, atol=TOL)
    with pytest.raises(ReadError, match="no sensor 'chest'"):
        read_imu(path, sensor="chest")


def test_imu_xsens_dot_datetime_and_leading_zeros(tmp_path: Path) -> None:
    header = ["SampleTimeFine", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z"]
    rows: list[list[object]] = [
        ["1970-01-01 00:07:12.082569", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ["1970-01-01 00:07:12.090902", 9.5, 0.0, 0.0, 0.0, 0.0, 360.0],
        ["1970-01-01 00:07:12.099235", 9.6, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
    path = write_csv(tmp_path / "LF.csv.gz", header, rows, compress=True)
    imu = read_imu(path, preset="xsens_dot")
    np.testing.assert_allclose(imu.time, [432.090902, 432.099235], rtol=0, atol=TOL)
    np.testing.assert_allclose(imu.gyro[0], [0.0, 0.0, 2 * np.pi], rtol=0, atol=TOL)
    assert imu.name == "LF"
    numeric = write_csv(tmp_path / "dot.csv", header,
                        [[t, 0.0, 0.0, 9.8, 0.0, 0.0, 0.0] for t in (1000, 9333)])
    np.testing.assert_allclose(read_imu(numeric).time, [0.001, 0.009333], rtol=0, atol=TOL)


def test_imu_datetime_offset_is_applied(tmp_path: Path) -> None:
    header = ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    stamps = ["2021-10-21 09:20:58.216642589+02:00", "2021-10-21T09:20:58.5Z"]
    path = write_csv(tmp_path / "w.csv", header, [[s, 0, 0, 1, 0, 0, 0] for s in stamps])
    imu = read_imu_csv(path)
    epoch = dt.datetime(2021, 10, 21, 7, 20, 58, tzinfo=dt.UTC).timestamp()
    # float64 seconds since 1970 near 1.6e9 resolve ~2.4e-7 s: compare at 1e-6 s.
    np.testing.assert_allclose(imu.time, [epoch + 0.216642589, epoch + 7200 + 0.5], rtol=0, atol=1e-6)


def test_imu_duplicate_timestamps_and_labels(tmp_path: Path) -> None:
    header = ["x_acc", "y_acc", "z_acc", "x_gyro", "y_gyro", "z_gyro", "timestamp", "label"]
    rows: list[list[object]] = [
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1000, "SEATED"],
        [3.0, 0.0, 0.0, 0.2, 0.0, 0.0, 1010, "SEATED"],
        [5.0, 0.0, 0.0, 0.4, 0.0, 0.0, 1010, "WALKING"],
        [7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1030, "WALKING"],
    ]
    path = write_csv(tmp_path / "s01_01_sp.csv", header, rows)
    imu = read_imu(path)  # spsw_har detected: duplicate times averaged, label of the first kept
    np.testing.assert_allclose(imu.time, [1.0, 1.01, 1.03], rtol=0, atol=TOL)
    np.testing.assert_allclose(imu.acc[:, 0], [1.0, 4.0, 7.0], rtol=0, atol=TOL)
    np.testing.assert_allclose(imu.gyro[:, 0], [0.0, 0.3, 0.0], rtol=0, atol=TOL)
    assert imu.labels is not None and list(imu.labels) == ["SEATED", "SEATED", "WALKING"]
    dropped = read_imu(path, preset="spsw_har", duplicate_times="drop")
    np.testing.assert_allclose(dropped.acc[:, 0], [1.0, 3.0, 7.0], rtol=0, atol=TOL)
    with pytest.raises(ReadError, match="strictly increasing"):
        read_imu(path, preset="spsw_har", duplicate_times="error")
    with pytest.raises(ReadError, match="unknown IMU preset 'phone'; presets: gaitmap, xsens_dot, spsw_har"):
        read_imu(path, preset="phone")


def test_real_imu_validation() -> None:
    t = np.array([0.0, 0.01, 0.02])
    ok = RealIMU(time=t, acc=np.zeros((3, 3)), gyro=np.zeros((3, 3)), name="s")
    assert ok.rate_hz == pytest.approx(100.0, abs=1e-6) and ok.acc.dtype == np.float64
    with pytest.raises(InputError, match=r"acc must have shape \(3, 3\)"):
        RealIMU(time=t, acc=np.zeros((3, 2)), gyro=np.zeros((3, 3)))
    bad = np.zeros((3, 3))
    bad[1, 2] = np.nan
    with pytest.raises(InputError, match="gyro is missing or not finite at sample 2"):
        RealIMU(time=t, acc=np.zeros((3, 3)), gyro=bad)
    with pytest.raises(InputError, match="strictly increasing"):
        RealIMU(time=t[::-1], acc=np.zeros((3, 3)), gyro=np.zeros((3, 3)))
