"""The tracker's small assignment solver against SciPy's (closed form: the optimal total is unique)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from imusynth.video.pose.assignment import MAX_ENUMERATED, min_cost_assignment


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (2, 4), (3, 6), (4, 8), (5, 10), (3, 2), (5, 3), (0, 3)])
def test_optimal_total_equals_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(50):
        cost = rng.uniform(0.0, 10.0, size=shape)
        cost[rng.random(shape) < 0.2] = 1e6  # infeasible pairs, as the tracker marks them
        rows, cols = min_cost_assignment(cost)
        r_ref, c_ref = linear_sum_assignment(cost)
        assert len(rows) == len(r_ref) == min(shape)
        assert np.all(np.diff(rows) > 0) and len(set(cols.tolist())) == len(cols)
        assert cost[rows, cols].sum() == pytest.approx(cost[r_ref, c_ref].sum(), rel=1e-12, abs=1e-9)


def test_hand_solved_example():
    # the greedy choice (row 0 -> column 0, cost 1) forces row 1 onto cost 10; optimum is 2 + 2
    cost = np.array([[1.0, 2.0], [2.0, 10.0]])
    rows, cols = min_cost_assignment(cost)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]


def test_large_problems_fall_back_to_scipy_with_the_same_total():
    rng = np.random.default_rng(7)
    cost = rng.uniform(size=(6, 12))  # 12! / 6! = 665280 candidates > MAX_ENUMERATED
    rows, cols = min_cost_assignment(cost)
    r_ref, c_ref = linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == pytest.approx(cost[r_ref, c_ref].sum(), rel=1e-12)
    assert MAX_ENUMERATED < 665280


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        min_cost_assignment(np.ones(3))
    with pytest.raises(ValueError):
        min_cost_assignment(np.array([[np.nan]]))
