"""NumPy-only stand-ins that keep SciPy off the video job's post-processing, against SciPy and closed forms.

``core.cleaning.running_median`` stands in for ``scipy.ndimage.median_filter(mode="nearest")`` and
``core.conventions.matrix_from_quat`` for ``scipy.spatial.transform.Rotation``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import median_filter
from scipy.spatial.transform import Rotation

from imusynth.core.cleaning import running_median
from imusynth.core.conventions import matrix_from_quat, quat_from_matrix


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 15])
@pytest.mark.parametrize("shape", [(1,), (5,), (40,), (40, 3), (33, 4, 2)])
def test_running_median_equals_ndimage_nearest(size: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(size * 100 + len(shape))
    x = rng.normal(size=shape)
    x[::5] = np.round(x[::5])          # ties
    ref = median_filter(x, size=(size,) + (1,) * (x.ndim - 1), mode="nearest")
    np.testing.assert_array_equal(running_median(x, size), ref)   # a selection: exact


def test_running_median_closed_form() -> None:
    # a monotone ramp's running median over an odd window is the ramp itself, edges included (edge extension)
    ramp = np.arange(20.0)
    np.testing.assert_array_equal(running_median(ramp, 5), ramp)
    # one spike in a constant signal is removed; an even window takes the upper middle value
    x = np.zeros(9)
    x[4] = 100.0
    np.testing.assert_array_equal(running_median(x, 3), np.zeros(9))
    np.testing.assert_array_equal(running_median(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="size"):
        running_median(x, 0)


def test_matrix_from_quat_matches_scipy_and_normalises() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(200, 4)) * rng.uniform(0.1, 10.0, size=(200, 1))   # any length
    R = matrix_from_quat(q)
    np.testing.assert_allclose(R, Rotation.from_quat(q, scalar_first=True).as_matrix(), atol=1e-14)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-14)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-14)
    # round trip and shape
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    qn *= np.where(qn[:, :1] < 0, -1.0, 1.0)
    np.testing.assert_allclose(quat_from_matrix(R), qn, atol=1e-12)
    assert matrix_from_quat(q.reshape(10, 20, 4)).shape == (10, 20, 3, 3)


def test_matrix_from_quat_closed_form() -> None:
    # 90 deg about z: (w, x, y, z) = (cos 45, 0, 0, sin 45) takes x to y
    c = np.cos(np.pi / 4)
    R = matrix_from_quat([c, 0.0, 0.0, c])
    np.testing.assert_allclose(R, [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], atol=1e-15)
