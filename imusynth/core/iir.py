"""Butterworth low-pass design and exact IIR filtering (forward, zero-phase) in NumPy alone.

Why this module exists: the video job's post-processing needs only a Butterworth design and a
zero-phase filter, and importing :mod:`scipy.signal` for them costs ~0.3-0.6 s of wall time and
~47-76 MiB (it parses hundreds of docstrings and pulls in :mod:`scipy.stats`). The functions here are drop-in
replacements with SciPy's semantics, and ``tests/test_iir.py`` checks them against SciPy (the
reference: designs to ~1e-12, filters to rounding) and against closed forms. This module never
imports SciPy.

Units: ``cutoff_hz`` and ``rate_hz`` in Hz; lengths (``padlen``) and axes in samples.

Method. A filter is run as a linear state-space system ``s[k+1] = A s[k] + B x[k]``,
``y[k] = C s[k] + D x[k]`` whose state is SciPy's (direct form II transposed: ``zi``/``zf`` of
:func:`lfilter`; the stacked section states of :func:`sosfilt`). The signal is cut into blocks of
``L`` samples. With ``H`` the ``L x L`` lower-triangular Toeplitz matrix of the impulse response,
``G[i] = C A^i`` and ``F[:, j] = A^(L-1-j) B``, a block is exactly ``y_blk = H x_blk + G s`` and
``s <- A^L s + F x_blk``: one matrix product for all blocks, and the block-start states by a
log-depth prefix scan with the powers of ``A^L``. No truncation: the result is the recursion's, to
rounding (the block matrices are computed in extended precision and rounded once). Large inputs run
with one BLAS thread (:data:`ONE_THREAD_FROM`).
"""

from __future__ import annotations

import math
import operator
from contextlib import nullcontext
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
#: Block length of the blocked recursion, samples (measured fastest for 1-8 states).
BLOCK = 32
#: Inputs at least this large (samples x channels) run with one BLAS thread: OpenBLAS's threads cost
#: 10x on these thin matrix products when the cores are busy.
ONE_THREAD_FROM = 1 << 16
_CACHE: dict[tuple[object, ...], tuple[Array, Array, Array, Array]] = {}
_SYSTEMS: dict[tuple[object, ...], tuple[Array, Array, Array, Array]] = {}
_BLAS: list = []  # type: ignore[type-arg]


# Design: analog Butterworth poles, pre-warped cut-off, bilinear transform (as scipy.signal.butter)

def _butter_zpk(order: int, cutoff_hz: float, rate_hz: float) -> tuple[NDArray[np.complex128], float]:
    """Digital poles (order,) and gain of the low-pass; its ``order`` zeros are all at z = -1."""
    try:
        n = operator.index(order)
    except TypeError:
        raise ValueError(f"Butterworth order must be an integer, got {order!r}") from None
    fc, fs = float(cutoff_hz), float(rate_hz)
    if n < 1 or isinstance(order, bool):
        raise ValueError(f"Butterworth order must be >= 1, got {order!r}")
    if not (math.isfinite(fs) and fs > 0 and math.isfinite(fc) and 0 < fc < fs / 2):
        raise ValueError(f"cut-off must lie in (0, rate / 2): cutoff_hz={fc}, rate_hz={fs}")
    warped = 4.0 * np.tan(np.pi * (2.0 * fc / fs) / 2.0)          # pre-warped, for the rate of 2
    analog = -np.exp(1j * np.pi * np.arange(-n + 1, n, 2) / (2 * n)) * warped
    poles = (4.0 + analog) / (4.0 - analog)                         # bilinear transform
    gain = warped ** n * float(np.real(1.0 / np.prod(4.0 - analog)))  # unit gain at DC
    return poles, gain


def butter_lowpass_ba(order: int, cutoff_hz: float, rate_hz: float) -> tuple[Array, Array]:
    """Butterworth low-pass as a transfer function, as ``scipy.signal.butter(..., output="ba")``.

    Parameters
    ----------
    order : int
        Filter order, >= 1.
    cutoff_hz, rate_hz : float, Hz
        -3 dB cut-off of one pass and sample rate; ``0 < cutoff_hz < rate_hz / 2``.

    Returns
    -------
    b, a : ndarray, shape (order + 1,)
        Numerator and denominator (``a[0] == 1``).
    """
    poles, gain = _butter_zpk(order, cutoff_hz, rate_hz)
    b = gain * np.poly(-np.ones(len(poles)))
    return np.asarray(b, dtype=np.float64), np.asarray(np.poly(poles).real, dtype=np.float64)


def butter_lowpass_sos(order: int, cutoff_hz: float, rate_hz: float) -> Array:
    """Butterworth low-pass in second-order sections, as ``scipy.signal.butter(..., output="sos")``.

    Poles and zeros are paired as ``scipy.signal.zpk2sos`` (``pairing="nearest"``) pairs them: the pole
    closest to the unit circle goes into the last section, with the zeros nearest to it; an odd order
    gets an extra pole and zero at the origin; the gain is in the first section.

    Returns
    -------
    ndarray, shape (ceil(order / 2), 6)
        Rows ``[b0, b1, b2, 1, a1, a2]``.
    """
    poles, gain = _butter_zpk(order, cutoff_hz, rate_hz)
    zeros = [-1.0] * len(poles)
    upper = poles[poles.imag > 0]
    left = [complex(p) for p in upper[np.lexsort((np.abs(upper.imag), upper.real))]]
    reals = [float(p.real) for p in poles if p.imag == 0]
    if len(poles) % 2:
        reals, zeros = sorted([*reals, 0.0]), [*zeros, 0.0]
    left += [complex(r) for r in reals]
    sections = []
    while left:
        p1 = left.pop(int(np.argmin([abs(1 - abs(p)) for p in left])))
        if p1.imag == 0:
            real_idx = [i for i, p in enumerate(left) if p.imag == 0]
            p2 = left.pop(real_idx[int(np.argmin([abs(1 - abs(left[i])) for i in real_idx]))])
        else:
            p2 = p1.conjugate()
        pair = []
        for _ in range(2):
            pair.append(zeros.pop(int(np.argsort(np.abs(np.asarray(zeros) - p1), kind="stable")[0])))
        sections.append(np.r_[np.poly(pair).real, np.poly([p1, p2]).real])
    sos = np.array(sections[::-1], dtype=np.float64)
    sos[0, :3] *= gain
    return sos


# State-space realisations and the blocked recursion

def _cached(cache: dict, key: tuple, make):  # type: ignore[type-arg, no-untyped-def]
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        cache[key] = make()
    return cache[key]


def _ss_ba(b: ArrayLike, a: ArrayLike) -> tuple[Array, Array, Array, Array]:
    """(A, B, C, D) of the direct form II transposed recursion of ``b / a`` (SciPy's state); cached."""
    b, a = np.atleast_1d(np.asarray(b)), np.atleast_1d(np.asarray(a))

    def make() -> tuple[Array, Array, Array, Array]:
        if b.ndim != 1 or a.ndim != 1 or b.size == 0 or a.size == 0 or a[0] == 0:
            raise ValueError("b and a must be non-empty 1-D coefficient arrays with a[0] != 0")
        dtype, m = np.result_type(b, a, np.float64), max(a.size, b.size) - 1
        bn, an = (np.r_[v / a[0], np.zeros(m + 1 - v.size)].astype(dtype) for v in (b, a))
        A = np.eye(m, k=1, dtype=dtype)
        A[:, :1] -= an[1:, None]
        return A, bn[1:] - an[1:] * bn[0], np.eye(1, m, dtype=dtype)[0], bn[:1]
    key = ("ba", b.tobytes(), a.tobytes(), b.dtype.char, a.dtype.char, b.ndim, a.ndim)
    return _cached(_SYSTEMS, key, make)


def _ss_sos(sos: ArrayLike) -> tuple[Array, Array, Array, Array]:
    """(A, B, C, D) of the cascade of sections; the state is the sections' states stacked; cached."""
    sos = np.asarray(sos)

    def make() -> tuple[Array, Array, Array, Array]:
        if sos.ndim != 2 or sos.shape[1] != 6 or sos.shape[0] < 1:
            raise ValueError("sos must be shape (n_sections, 6)")
        if not np.all(sos[:, 3] == 1):
            raise ValueError("sos[:, 3] should be all ones")
        A, B, C, D = _ss_ba(sos[0, :3], sos[0, 3:])
        for row in sos[1:]:                             # next section fed by the output so far
            A2, B2, C2, D2 = _ss_ba(row[:3], row[3:])
            A = np.block([[A, np.zeros((A.shape[0], 2))], [np.outer(B2, C), A2]])
            B, C, D = np.r_[B, B2 * D], np.r_[D2 * C, C2], D2 * D
        return A, B, C, D
    return _cached(_SYSTEMS, ("sos", sos.tobytes(), sos.dtype.char, sos.shape), make)


def _blocks(A: Array, B: Array, C: Array, D: Array, L: int) -> tuple[Array, Array, Array, Array]:
    """[H^T; G^T] (L + m, L), F^T (L, m), A^k for k = 0..L (L + 1, m, m), A^(L 2^j) (48, m, m); cached.

    Computed in extended precision (``np.longdouble``) and rounded once: powers of a realisation with
    poles near z = 1 would otherwise gain ~100x the rounding of the plain recursion.
    """
    def make() -> tuple[Array, ...]:
        hi = np.clongdouble if A.dtype.kind == "c" else np.longdouble
        Ah, Bh, Ch, Dh = (np.asarray(v, dtype=hi) for v in (A, B, C, D))
        m = A.shape[0]
        P = np.empty((L + 1, m, m), dtype=hi)
        P[0], k, Ak = np.eye(m), 1, Ah
        while k <= L:                                   # A^(j + k) = A^j A^k, k doubling
            n = min(k, L + 1 - k)
            P[k:k + n] = P[:n] @ Ak
            k, Ak = 2 * k, Ak @ Ak
        G, K = Ch @ P[:L], P[:L] @ Bh                   # C A^i, A^j B
        h = np.r_[Dh, G[:L - 1] @ Bh]                   # impulse response
        lag = np.subtract.outer(np.arange(L), np.arange(L))
        H = np.where(lag >= 0, h[np.maximum(lag, 0)], 0)
        scan = np.empty((48, m, m), dtype=hi)
        scan[0] = P[L]
        with np.errstate(over="ignore", invalid="ignore"):   # unstable filters: powers never reached
            for j in range(1, len(scan)):
                scan[j] = scan[j - 1] @ scan[j - 1]
        out = (np.vstack([H.T, G.T]), K[::-1], P, scan)
        return tuple(np.ascontiguousarray(v, dtype=A.dtype) for v in out)
    key = (A.tobytes(), B.tobytes(), C.tobytes(), D.tobytes(), A.dtype.char, L)
    return _cached(_CACHE, key, make)


def _run(ss: tuple[Array, Array, Array, Array], x: Array, s0: Array | None) -> tuple[Array, Array]:
    """Filter the rows of ``x`` (R, n) from states ``s0`` (R, m) (zero if None) -> y (R, n), final states."""
    R, n = x.shape
    m, L = ss[0].shape[0], BLOCK
    dtype = np.result_type(x, ss[0], np.float64)
    if m == 0 or n == 0 or R == 0:
        return (ss[3][0] * x).astype(dtype), np.zeros((R, m), dtype) + (0 if s0 is None else s0)
    if R * n >= ONE_THREAD_FROM and not _BLAS:
        from threadpoolctl import ThreadpoolController
        _BLAS.append(ThreadpoolController())
    with _BLAS[0].limit(limits=1, user_api="blas") if R * n >= ONE_THREAD_FROM else nullcontext():
        M, Krev, P, scan = _blocks(*ss, L)
        nb, r = divmod(n, L)
        nt = nb + (r > 0)                               # the last block zero-padded
        Z = np.zeros((R, nt, L + m), dtype)             # per block: its samples, then its start state
        Z[:, :nb, :L] = x[:, :nb * L].reshape(R, nb, L)
        if r:
            Z[:, nb, :r] = x[:, nb * L:]
        Z2 = Z.reshape(R * nt, L + m)
        W = np.empty((nt + 1, R, m), dtype)             # W[k]: state at the start of block k
        W[0] = 0 if s0 is None else s0
        W[1:] = (Z2[:, :L] @ Krev).reshape(R, nt, m).transpose(1, 0, 2)
        d, j = 1, 0
        while d <= nt:                                  # inclusive scan: W[k] += A^(L d) W[k - d]
            W[d:] += (W[:-d].reshape(-1, m) @ scan[j].T).reshape(-1, R, m)
            d, j = 2 * d, j + 1
        Z[:, :, L:] = W[:nt].transpose(1, 0, 2)
        y = (Z2 @ M).reshape(R, nt * L)[:, :n]
        s = W[nt] if r == 0 else W[nb] @ P[r].T + x[:, nb * L:] @ Krev[L - r:]
    return y, s


def _rows(x: Array, axis: int) -> tuple[Array, tuple[int, ...]]:
    """``x`` with ``axis`` last, as rows (R, n), and the shape to restore."""
    xm = x if axis == x.ndim - 1 else np.moveaxis(x, axis, -1)
    return xm.reshape(math.prod(xm.shape[:-1]), xm.shape[-1]), xm.shape


def _filter(ss: tuple[Array, Array, Array, Array], x: ArrayLike, axis: int,
            zi: Array | None) -> tuple[Array, Array]:
    """Run ``ss`` along ``axis``; ``zi`` already state-last, shape x's with axis -> m (or None)."""
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    axis = axis % max(x.ndim, 1)
    rows, shape = _rows(x, axis)
    s0 = None if zi is None else np.broadcast_to(zi, (*shape[:-1], zi.shape[-1])).reshape(len(rows), -1)
    y, s = _run(ss, rows, s0)
    y = y.reshape(shape)
    return (y if axis == x.ndim - 1 else np.moveaxis(y, -1, axis)), s.reshape(*shape[:-1], s.shape[-1])


@overload
def lfilter(b: ArrayLike, a: ArrayLike, x: ArrayLike, axis: int = -1, zi: None = None) -> Array: ...
@overload
def lfilter(b: ArrayLike, a: ArrayLike, x: ArrayLike, axis: int = -1, *,
            zi: ArrayLike) -> tuple[Array, Array]: ...
def lfilter(b: ArrayLike, a: ArrayLike, x: ArrayLike, axis: int = -1,
            zi: ArrayLike | None = None) -> Array | tuple[Array, Array]:
    """IIR/FIR filter along ``axis``, as ``scipy.signal.lfilter`` (direct form II transposed, ÷ ``a[0]``).

    Parameters
    ----------
    b, a : array_like, 1-D
        Numerator and denominator coefficients.
    x : array_like
        Samples (time along ``axis``).
    zi : array_like, optional
        Initial states: x's shape with ``axis`` replaced by ``max(len(a), len(b)) - 1``.

    Returns
    -------
    y : ndarray
        Filtered samples, shape of ``x``.
    zf : ndarray
        Final states (only when ``zi`` is given), shape of ``zi``.
    """
    ss = _ss_ba(b, a)
    if zi is None:
        return _filter(ss, x, axis, None)[0]
    x, zi = np.asarray(x), np.asarray(zi)
    m = ss[0].shape[0]
    if zi.ndim != x.ndim or zi.shape[axis] != m:
        raise ValueError(f"zi must have x's shape with axis {axis} of length {m}, got {zi.shape}")
    y, zf = _filter(ss, x, axis, np.moveaxis(zi, axis, -1))
    return y, np.moveaxis(zf, -1, axis % x.ndim)


@overload
def sosfilt(sos: ArrayLike, x: ArrayLike, axis: int = -1, zi: None = None) -> Array: ...
@overload
def sosfilt(sos: ArrayLike, x: ArrayLike, axis: int = -1, *,
            zi: ArrayLike) -> tuple[Array, Array]: ...
def sosfilt(sos: ArrayLike, x: ArrayLike, axis: int = -1,
            zi: ArrayLike | None = None) -> Array | tuple[Array, Array]:
    """Cascade of second-order sections along ``axis``, as ``scipy.signal.sosfilt``.

    ``zi`` (and the returned ``zf``) has shape ``(n_sections, ...)`` where ``...`` is x's shape with
    ``axis`` replaced by 2.
    """
    ss = _ss_sos(sos)
    if zi is None:
        return _filter(ss, x, axis, None)[0]
    x, zi = np.asarray(x), np.asarray(zi)
    ns, ax = ss[0].shape[0] // 2, axis % x.ndim
    if zi.shape != (ns, *x.shape[:ax], 2, *x.shape[ax + 1:]):
        raise ValueError(f"zi must be shape (n_sections, ...) with axis {axis} of length 2, got {zi.shape}")
    z = np.moveaxis(np.moveaxis(zi, ax + 1, -1), 0, -2)            # (..., ns, 2)
    y, zf = _filter(ss, x, axis, z.reshape(*z.shape[:-2], 2 * ns))
    zf = np.moveaxis(zf.reshape(*zf.shape[:-1], ns, 2), -2, 0)
    return y, np.moveaxis(zf, -1, ax + 1)


def lfilter_zi(b: ArrayLike, a: ArrayLike) -> Array:
    """Steady-state initial states of :func:`lfilter` for a unit step, as ``scipy.signal.lfilter_zi``.

    Solves ``(I - A) zi = B`` for the direct form II transposed realisation (A companion-like).
    """
    a = np.atleast_1d(np.asarray(a))
    nz = np.flatnonzero(a)
    if nz.size == 0:
        raise ValueError("There must be at least one nonzero `a` coefficient.")
    A, B, _, _ = _ss_ba(b, a[nz[0]:])
    return np.asarray(np.linalg.solve(np.eye(A.shape[0]) - A, B), dtype=B.dtype)


def sosfilt_zi(sos: ArrayLike) -> Array:
    """Steady-state initial states (n_sections, 2) of :func:`sosfilt` for a unit step, as SciPy's."""
    sos = np.asarray(sos, dtype=np.result_type(np.asarray(sos), np.float64))
    _ss_sos(sos)                                                     # validates the shape
    zi, scale = np.empty((sos.shape[0], 2), dtype=sos.dtype), 1.0
    for i, row in enumerate(sos):
        zi[i] = scale * lfilter_zi(row[:3], row[3:])
        scale *= row[:3].sum() / row[3:].sum()                       # the section's gain at DC
    return zi


# Zero-phase (forward-backward) filtering, as scipy.signal.filtfilt / sosfiltfilt (method "pad")

def _filtfilt(ss: tuple[Array, Array, Array, Array], zi: Array, x: ArrayLike, axis: int,
              padtype: str | None, padlen: int | None, ntaps: int) -> Array:
    if padtype not in ("even", "odd", "constant", None):
        raise ValueError(f"Unknown value '{padtype}' given to padtype. "
                         "padtype must be 'even', 'odd', 'constant', or None.")
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    edge = 0 if padtype is None else (3 * ntaps if padlen is None else int(padlen))
    axis = axis % max(x.ndim, 1)
    if x.shape[axis] <= edge:
        raise ValueError(f"The length of the input vector x must be greater than padlen, which is {edge}.")
    rows, shape = _rows(x, axis)
    n = rows.shape[1]
    if edge > 0:
        first, last = rows[:, :1], rows[:, -1:]
        head, tail = rows[:, edge:0:-1], rows[:, -2:-edge - 2:-1]
        if padtype == "odd":
            head, tail = 2 * first - head, 2 * last - tail
        elif padtype == "constant":
            head, tail = np.broadcast_to(first, head.shape), np.broadcast_to(last, tail.shape)
        rows = np.concatenate([head, rows, tail], axis=1)
    y, _ = _run(ss, rows, zi * rows[:, :1])
    y, _ = _run(ss, y[:, ::-1], zi * y[:, -1:])
    y = y[:, ::-1][:, edge:edge + n].reshape(shape)
    return y if axis == x.ndim - 1 else np.moveaxis(y, -1, axis)


def filtfilt(b: ArrayLike, a: ArrayLike, x: ArrayLike, axis: int = -1, padtype: str | None = "odd",
             padlen: int | None = None) -> Array:
    """Zero-phase filter ``b / a`` along ``axis``, as ``scipy.signal.filtfilt`` (``method="pad"``).

    The signal is extended by ``padlen`` samples at each end (``padtype``: odd = point reflection,
    even, constant, None = no extension; default ``padlen = 3 * max(len(a), len(b))``), filtered
    forwards from the steady state of its first sample (:func:`lfilter_zi` times that sample), then
    backwards likewise, and the extension removed. ValueError when ``x.shape[axis] <= padlen``.
    Response: ``|H(f)|^2`` with zero phase.
    """
    ss = _ss_ba(b, a)
    ntaps = max(np.atleast_1d(b).size, np.atleast_1d(a).size)
    return _filtfilt(ss, lfilter_zi(b, a), x, axis, padtype, padlen, ntaps)


def sosfiltfilt(sos: ArrayLike, x: ArrayLike, axis: int = -1, padtype: str | None = "odd",
                padlen: int | None = None) -> Array:
    """Zero-phase filter of second-order sections along ``axis``, as ``scipy.signal.sosfiltfilt``.

    As :func:`filtfilt`, with the initial states of :func:`sosfilt_zi` and the default
    ``padlen = 3 * (2 * n_sections + 1 - min(#(b2 == 0), #(a2 == 0)))``.
    """
    sos = np.asarray(sos)
    ss = _ss_sos(sos)
    ntaps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return _filtfilt(ss, sosfilt_zi(sos).reshape(-1), x, axis, padtype, padlen, ntaps)
