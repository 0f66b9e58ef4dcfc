"""Schema imusynth/1: round trip, plain-h5py reading, atomic writes, validation."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from imusynth.core.motion import Motion
from imusynth.core.sensors import SensorSignals
from imusynth.io.hdf5 import SCHEMA, Clip, SchemaError, atomic_path, read_clips, validate_file, write_clips


def _signals(n=100, rate=50.0, name="wrist"):
    rng = np.random.default_rng(1)
    valid = np.ones(n, bool)
    valid[10:20] = False
    acc = rng.normal(size=(n, 3))
    acc[~valid] = np.nan
    return SensorSignals(
        name,
        np.arange(n) / rate,
        acc,
        rng.normal(size=(n, 3)),
        np.tile([1.0, 0, 0, 0], (n, 1)),
        valid,
        rate,
        6.0,
        "frame text",
        "[placements.wrist]\n",
    )


def _clip(cid="c1", **kw):
    motion = Motion(np.arange(30) / 30.0, ("a", "b"), np.zeros((30, 2, 3)))
    return Clip(
        clip_id=cid,
        source="x.trc",
        source_sha256="ab" * 32,
        source_kind="motion",
        source_rate_hz=30.0,
        duration_s=1.0,
        config="[output]\n",
        sensors={"wrist": _signals()},
        motion=motion,
        **kw,
    )


def test_round_trip_and_plain_h5py(tmp_path):
    path = write_clips(tmp_path / "o.h5", [_clip(label="walk", group="s01", attrs={"uploader": "me"})])
    assert validate_file(path) == []
    [clip] = read_clips(path)
    s = clip.sensors["wrist"]
    assert clip.label == "walk" and clip.group == "s01" and clip.attrs["uploader"] == "me"
    assert np.array_equal(s.valid, _signals().valid)
    assert np.allclose(s.acc[s.valid], _signals().acc[s.valid], atol=1e-6)  # float32 storage
    assert clip.motion is not None and clip.motion.names == ("a", "b")
    with h5py.File(path, "r") as f:  # what the README shows: plain h5py
        assert f.attrs["schema"] == SCHEMA
        g = f["clips/c1/sensors/wrist"]
        assert g["acc"].dtype == np.float32 and g["acc"].shape == (100, 3)
        assert g["time"].dtype == np.float64 and g["valid"].dtype == bool
        assert g.attrs["acc_unit"] == "m/s^2" and g.attrs["gyro_unit"] == "rad/s"
        assert bool(g.attrs["gravity_included"]) is True
        for key in ("source", "source_sha256", "source_kind", "source_rate_hz", "duration_s", "config"):
            assert key in f["clips/c1"].attrs


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "o.h5"
    with pytest.raises(SchemaError):
        write_clips(target, [_clip("c1"), _clip("c1")])  # duplicate id, after c1 was written
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left either


def test_failed_overwrite_keeps_the_old_file(tmp_path):
    target = write_clips(tmp_path / "o.h5", [_clip("old")])
    with pytest.raises(SchemaError):
        write_clips(target, [_clip("bad id!")])
    assert [c.clip_id for c in read_clips(target)] == ["old"]


def test_atomic_path_renames_only_on_success(tmp_path):
    target = tmp_path / "f.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert not target.exists()
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_validate_reports_problems(tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["schema"] = "other/9"
        f.create_group("clips/x/sensors/wrist").create_dataset("acc", data=np.zeros((5, 2)))
    problems = validate_file(bad)
    assert any("schema" in p for p in problems)
    assert any("acc: bad shape" in p for p in problems)
    assert any("'time' missing" in p for p in problems)
    (tmp_path / "text.h5").write_text("not hdf5")
    assert "not an HDF5 file" in validate_file(tmp_path / "text.h5")[0]
    with pytest.raises(SchemaError):
        read_clips(bad)
