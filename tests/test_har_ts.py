"""The sktime/UCR .ts reader (synthetic files, and BasicMotions from ../shared)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from imusynth.core.conventions import G0
from imusynth.io.readers._table import ReadError
from imusynth.io.readers.ts import read_ts, ts_to_series
from tests.conftest import shared_path

HEADER = """# a comment
@problemName Tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true up down
@data
"""


def test_read_ts_cases_labels_and_missing(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "tiny.ts"
    p.write_text(HEADER + "1,2,3:4,5,6:up\n0.5,?,1.5:-1,-2,-3:down\n", encoding="utf-8")
    ds = read_ts(p)
    assert ds.problem_name == "Tiny" and ds.class_names == ("up", "down")
    assert ds.X.shape == (2, 2, 3)
    np.testing.assert_array_equal(ds.X[0], [[1, 2, 3], [4, 5, 6]])
    assert np.isnan(ds.X[1, 0, 1]) and ds.X[1, 0, 2] == 1.5
    assert ds.labels is not None and list(ds.labels) == ["up", "down"]
    gz = tmp_path / "tiny.ts.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    np.testing.assert_array_equal(read_ts(gz).X[0], ds.X[0])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,2,3:4,5,6:sideways\n", "not one of the declared classes"),
        ("1,2,3:up\n", "1 dimensions, expected 2"),
        ("1,x,3:4,5,6:up\n", "not a number"),
    ],
)
def test_read_ts_refuses_bad_cases(tmp_path, body, message) -> None:  # noqa: ANN001
    p = tmp_path / "bad.ts"
    p.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(ReadError, match=message):
        read_ts(p)


def test_read_ts_refuses_other_files(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "nodata.ts"
    p.write_text("@problemName X\n", encoding="utf-8")
    with pytest.raises(ReadError, match="no @data"):
        read_ts(p)
    p.write_text("@timeStamps true\n@data\n(0,1),(1,2):a\n", encoding="utf-8")
    with pytest.raises(ReadError, match="not supported"):
        read_ts(p)
    with pytest.raises(ReadError, match="no such file"):
        read_ts(tmp_path / "missing.ts")


def test_ts_to_series_converts_units_at_the_edge(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "six.ts"
    p.write_text(
        "@dimensions 6\n@classLabel true a\n@data\n1,1:0,0:0,0:180,180:0,0:0,0:a\n", encoding="utf-8"
    )
    (s,) = ts_to_series(read_ts(p), rate_hz=10.0, acc_unit="g", gyro_unit="deg/s")
    np.testing.assert_allclose(s.acc[:, 0], G0)
    np.testing.assert_allclose(s.gyro[:, 0], np.pi)
    np.testing.assert_allclose(s.time, [0.0, 0.1])
    assert s.group == "six:0" and s.labels is not None and set(s.labels.tolist()) == {"a"}
    with pytest.raises(ReadError, match="acc_dims"):
        ts_to_series(read_ts(p), rate_hz=10.0, acc_dims=(0, 1, 9))
    with pytest.raises(ReadError, match="unknown acc unit"):
        ts_to_series(read_ts(p), rate_hz=10.0, acc_unit="furlong")


def test_basicmotions_shape_and_classes() -> None:
    d = shared_path("imu", "basicmotions")
    for split in ("TRAIN", "TEST"):
        ds = read_ts(d / f"BasicMotions_{split}.ts")
        # the archive's documented layout: 40 cases x 6 dimensions x 100 samples, 4 classes of 10
        assert ds.X.shape == (40, 6, 100)
        assert ds.class_names == ("Standing", "Running", "Walking", "Badminton")
        assert ds.labels is not None
        assert {c: int((ds.labels == c).sum()) for c in ds.class_names} == dict.fromkeys(ds.class_names, 10)
        assert np.isfinite(ds.X).all()
