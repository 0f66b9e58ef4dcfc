"""Minimum-cost assignment for the few tracks and detections of one frame, without importing SciPy.

The tracker solves one small rectangular assignment per frame (tracks x (detections + one "unmatched"
column per track)). :func:`scipy.optimize.linear_sum_assignment` solves it exactly, but importing
``scipy.optimize`` during the streaming pass keeps about 50 MiB of SciPy resident beside the pose models
(issue 14's peak memory; SciPy is otherwise needed only after the pass, when the models are closed).
Problems with at most :data:`MAX_ENUMERATED` candidate assignments (five tracks among ten columns:
30240; four among eight: 1680) are solved exactly by enumeration over a cached table of candidates;
larger ones (crowds) import SciPy.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations
from math import perm

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MAX_ENUMERATED", "min_cost_assignment"]

#: Largest number of candidate assignments ``k! / (k - n)!`` solved by enumeration.
MAX_ENUMERATED = 30240


@lru_cache(maxsize=16)
def _candidates(k: int, n: int) -> NDArray[np.intp]:
    """Every ordered choice of ``n`` of ``k`` columns, shape (k! / (k - n)!, n), in lexicographic order."""
    table = np.array(list(permutations(range(k), n)), dtype=np.intp)
    table.setflags(write=False)
    return table


def min_cost_assignment(cost: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Rows and columns of a minimum-cost assignment, as :func:`scipy.optimize.linear_sum_assignment`.

    Parameters
    ----------
    cost : array_like, shape (n, k), float
        Finite cost of assigning row ``i`` to column ``j`` (unitless).

    Returns
    -------
    rows, cols : ndarray of int, shape (min(n, k),)
        ``rows`` ascending; each row and each column used at most once; the total
        ``cost[rows, cols].sum()`` is the minimum over all such assignments. Among equal totals the
        lexicographically first column sequence is returned (SciPy may return another optimum).
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be 2-D, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("cost must be finite")
    n, k = c.shape
    if n > k:
        cols_t, rows_t = min_cost_assignment(c.T)
        order = np.argsort(rows_t)
        return rows_t[order], cols_t[order]
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty.copy()
    if perm(k, n) > MAX_ENUMERATED:
        from scipy.optimize import linear_sum_assignment

        r, s = linear_sum_assignment(c)
        return np.asarray(r, dtype=np.intp), np.asarray(s, dtype=np.intp)
    candidates = _candidates(k, n)
    totals = c[np.arange(n), candidates].sum(axis=1)
    best = int(np.argmin(totals))
    return np.arange(n, dtype=np.intp), candidates[best]
