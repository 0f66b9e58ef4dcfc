"""`imusynth motion`, `inspect`, `placements`, `info`, `--help`, and bad input, end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from imusynth.core.conventions import G0
from imusynth.io.hdf5 import validate_file


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imusynth", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def write_trc(path: Path, t: np.ndarray, names: list[str], xyz_mm: np.ndarray) -> None:
    """A TRC file (y up, mm) as OpenSim writes it."""
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"100\t100\t{len(t)}\t{len(names)}\tmm\t100\t1\t{len(t)}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(names))),
        "",
    ]
    for k, tk in enumerate(t):
        lines.append(f"{k + 1}\t{tk:.6f}\t" + "\t".join(f"{v:.6f}" for v in xyz_mm[k].ravel()))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def spinning_trc(tmp_path) -> Path:
    """Three markers spinning at 1 rad/s about the vertical (y up in the file), 1 m above the floor."""
    t = np.arange(0, 4, 0.01)
    a = 1.0 * t
    o = np.stack([0 * t, 1000 + 0 * t, 0 * t], -1)  # mm, y up
    px = o + 300 * np.stack([np.cos(a), 0 * t, -np.sin(a)], -1)  # rotation about +y (file frame)
    py = o + 300 * np.stack([np.sin(a), 0 * t, np.cos(a)], -1)
    path = tmp_path / "spin.trc"
    write_trc(path, t, ["O", "PX", "PY"], np.stack([o, px, py], 1))
    return path


@pytest.fixture
def placements_file(tmp_path) -> Path:
    f = tmp_path / "markers.toml"
    f.write_text(
        '[placements.body]\norigin = "O"\nprimary = "PX"\nsecondary = "PY"\naxes = ["+x", "+y", "+z"]\n'
    )
    return f


def test_motion_end_to_end(tmp_path, spinning_trc, placements_file):
    out = tmp_path / "spin.h5"
    r = run(
        "motion",
        str(spinning_trc),
        "-p",
        "body",
        "--placements-file",
        str(placements_file),
        "--rate",
        "50",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert validate_file(out) == []
    with h5py.File(out) as f:
        g = f["clips/spin/sensors/body"]
        acc, gyro, valid = g["acc"][()], g["gyro"][()], g["valid"][()]
        assert g.attrs["rate_hz"] == 50.0
        assert f["clips/spin"].attrs["source_kind"] == "motion"
        assert "[output]" in f["clips/spin"].attrs["config"]
        assert f["clips/spin/motion/xyz"].shape == (400, 3, 3)
    mid = valid & (np.arange(len(valid)) > 25) & (np.arange(len(valid)) < len(valid) - 25)
    # file y up -> z up: the body spins at +1 rad/s about world up; the markers' plane is horizontal
    # with x cross y = (cos, 0, -sin) x (sin, 0, cos) = (0, -1, 0) in the file, i.e. sensor z points
    # down: the gyroscope reads -1 rad/s on z and the accelerometer -g on z
    assert np.allclose(gyro[mid], [0, 0, -1.0], atol=1e-3)
    assert np.allclose(acc[mid], [0, 0, -G0], atol=1e-2)
    r = run("inspect", str(out), "--plot", str(tmp_path / "p.png"))
    assert r.returncode == 0 and "body" in r.stdout and (tmp_path / "p.png").stat().st_size > 1000


def test_help_of_every_command_teaches():
    r = run("--help")
    assert r.returncode == 0 and "imusynth VIDEO" in r.stdout
    for cmd in ("motion", "video", "placements", "inspect", "info", "compare"):
        r = run(cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert "Usage" in r.stdout


def test_placements_and_info():
    r = run("placements")
    assert r.returncode == 0 and "wrist" in r.stdout and "thigh" in r.stdout and "smartwatch" in r.stdout
    r = run("info")
    assert r.returncode == 0 and "numpy" in r.stdout


def _bad(tmp_path, *args):
    out = tmp_path / "bad.h5"
    r = run(*args, "-o", str(out))
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("imusynth: error:"), r.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".bad.h5*"))
    return lines[0]


def test_bad_input_one_line_no_output(tmp_path, spinning_trc, placements_file):
    pf = ["--placements-file", str(placements_file)]
    # unknown placement
    assert "unknown placement" in _bad(tmp_path, "motion", str(spinning_trc), "-p", "elbow_pad")
    # unreadable file
    junk = tmp_path / "junk.trc"
    junk.write_bytes(b"\x00\x01garbage")
    _bad(tmp_path, "motion", str(junk), "-p", "body", *pf)
    # missing file
    assert "missing.trc" in _bad(tmp_path, "motion", str(tmp_path / "missing.trc"), "-p", "body", *pf)
    # missing columns: a CSV without the named points
    csv = tmp_path / "m.csv"
    csv.write_text("time,O_x,O_y,O_z\n" + "\n".join(f"{i / 100},0,0,{i}" for i in range(50)) + "\n")
    msg = _bad(tmp_path, "motion", str(csv), "-p", "body", *pf, "--time-column", "time", "--length-unit", "m")
    assert "PX" in msg
    # all-NaN points
    nan_csv = tmp_path / "n.csv"
    rows = [f"{i / 100},0,0,{i},nan,nan,nan,1,0,0" for i in range(50)]
    nan_csv.write_text("time,O_x,O_y,O_z,PX_x,PX_y,PX_z,PY_x,PY_y,PY_z\n" + "\n".join(rows) + "\n")
    _bad(tmp_path, "motion", str(nan_csv), "-p", "body", *pf, "--time-column", "time", "--length-unit", "m")
    # too short to differentiate
    short = tmp_path / "s.csv"
    rows = [f"{i / 100},0,0,{i},1,0,{i},0,1,{i}" for i in range(5)]
    short.write_text("time,O_x,O_y,O_z,PX_x,PX_y,PX_z,PY_x,PY_y,PY_z\n" + "\n".join(rows) + "\n")
    _bad(tmp_path, "motion", str(short), "-p", "body", *pf, "--time-column", "time", "--length-unit", "m")


# ------------------------------------------------------------------------------------------------
# issue 17: formats offered, the cut-off note, --clean/--no-clean, clip IDs
# ------------------------------------------------------------------------------------------------


def _help_of(option: str, text: str) -> str:
    """The help text of ``option`` in typer's box layout, its lines joined."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    out, inside = [], False
    for line in text.splitlines():
        cells = line.strip("│ ").strip()
        if cells.startswith("--") or cells.startswith("-"):
            inside = cells.split()[0] == option
            if inside:
                out.append(cells)
            continue
        if inside:
            out.append(cells)
    return " ".join(out)


def test_motion_help_offers_only_formats_it_reads_and_the_real_cutoff_default():
    from imusynth.config import load_pipeline_config
    from imusynth.io.readers import MOTION_FORMATS

    r = subprocess.run([sys.executable, "-m", "imusynth", "motion", "--help"], capture_output=True, text=True,
                       timeout=300, env={**__import__("os").environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr
    fmt = _help_of("--format", r.stdout)
    listed = re.search(r"\w+(?: \| \w+)+", fmt)
    assert listed, fmt
    offered = listed.group(0).split(" | ")
    assert len(offered) >= 5 and set(offered) <= set(MOTION_FORMATS), (offered, fmt)
    assert "kinect" not in offered
    cutoff = _help_of("--cutoff", r.stdout)
    assert f"(default {load_pipeline_config(None).kinematics.cutoff_hz:g};" in cutoff, cutoff


def _kinect_csv(path: Path, rate_hz: float, *, jump: bool = False) -> Path:
    from tests.test_kinect_up import to_file_frame, write_kinect_v1
    from tests.test_motion_cleaning import W, kinect_body

    t, world = kinect_body(rate_hz=rate_hz, seconds=4.0)
    if jump:
        world[len(t) // 2, W] += (0.0, 0.25, 0.10)
    return write_kinect_v1(path, t, to_file_frame(world, "y"))


def test_lowered_cutoff_is_said_on_one_line(tmp_path):
    from imusynth.cli.main import run as cli_run

    slow = _kinect_csv(tmp_path / "slow.csv", 19.0)
    r = run("motion", str(slow), "-p", "left_wrist", "-o", str(tmp_path / "slow.h5"))
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "cut-off" in ln]
    assert notes == ["imusynth: warning: low-pass cut-off lowered from 6 Hz to 4.75 Hz, a quarter of the "
                     "source rate (19 Hz): above it a low-pass does not keep differentiation clear of the "
                     "samples' Nyquist frequency (--cutoff below it sets your own)"], r.stderr
    fast = _kinect_csv(tmp_path / "fast.csv", 30.0)            # 0.25 x 30 Hz = 7.5 Hz > 6 Hz: nothing to say
    assert cli_run(["motion", str(fast), "-p", "left_wrist", "-o", str(tmp_path / "fast.h5")]) == 0
    assert cli_run(["motion", str(slow), "-p", "left_wrist", "--cutoff", "4", "-o",
                    str(tmp_path / "slow4.h5")]) == 0


def test_clean_and_no_clean(tmp_path, capsys):
    from imusynth.cli.main import run as cli_run

    src = _kinect_csv(tmp_path / "glitch.csv", 30.0, jump=True)
    assert cli_run(["motion", str(src), "-p", "left_wrist", "-o", str(tmp_path / "clean.h5")]) == 0
    err = capsys.readouterr().err
    assert "glitch cleaning removed 1 jump sample(s) and 0 bone-length outlier sample(s) (WristLeft 1)" in err
    raw = tmp_path / "raw.h5"
    assert cli_run(["motion", str(src), "-p", "left_wrist", "--no-clean", "-o", str(raw)]) == 0
    assert "glitch" not in capsys.readouterr().err
    with h5py.File(tmp_path / "clean.h5") as a, h5py.File(tmp_path / "raw.h5") as b:
        ga, gb = a["clips/glitch/sensors/left_wrist/gyro"][()], b["clips/glitch/sensors/left_wrist/gyro"][()]
        assert np.nanmax(np.abs(ga)) < 4.0 < np.nanmax(np.abs(gb))     # the swing peaks at 3.8 rad/s


@pytest.mark.parametrize("name, clip", [("walk_normal_001.bvh", "walk_normal_001"), ("a.CSV.gz", "a"),
                                        ("s01 run.trc", "s01_run"), ("x.c3d", "x"),
                                        ("take.v2.txt", "take.v2")])
def test_clip_id_strips_the_motion_extension(name, clip):
    from imusynth.io.motion_job import _clip_id

    assert _clip_id(Path(name)) == clip
