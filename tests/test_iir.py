"""imusynth.core.iir against SciPy (the reference) and against closed forms (issue 14).

SciPy's ``scipy.signal`` is imported here only, as the reference; the module itself must not load it.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as sig

from imusynth.core import iir
from tests.test_startup import loaded_after

ORDERS = range(1, 9)
CUTOFFS = (0.001, 0.003, 0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.45, 0.49)  # fractions of the rate


def rel_err(got, want):
    return float(np.max(np.abs(np.asarray(got) - want)) / max(np.max(np.abs(want)), 1e-300))


# ---------------------------------------------------------------------------------------------- design

@pytest.mark.parametrize("order", ORDERS)
def test_design_matches_scipy_butter(order):
    for frac in CUTOFFS:
        for rate in (1.0, 30.0, 100.0):
            b, a = iir.butter_lowpass_ba(order, frac * rate, rate)
            b0, a0 = sig.butter(order, frac * rate, btype="low", fs=rate, output="ba")
            assert rel_err(b, b0) < 1e-12 and rel_err(a, a0) < 1e-12, (order, frac)
            sos = iir.butter_lowpass_sos(order, frac * rate, rate)
            sos0 = sig.butter(order, frac * rate, btype="low", fs=rate, output="sos")
            assert sos.shape == sos0.shape
            assert np.allclose(sos, sos0, rtol=1e-12, atol=1e-15 * np.abs(sos0).max()), (order, frac)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 7])
def test_design_has_unit_dc_gain_and_half_power_at_cutoff(order):
    """|H(1)| = 1 and |H(e^{i 2 pi fc / fs})|^2 = 1/2, from the coefficients themselves."""
    fs, fc = 100.0, 7.0
    z = np.exp(2j * np.pi * fc / fs)
    if order <= 4:       # higher orders: sum(a) cancels to ~1e-6 of the coefficients, the ba form's rounding
        b, a = iir.butter_lowpass_ba(order, fc, fs)
        assert np.polyval(b, 1.0) / np.polyval(a, 1.0) == pytest.approx(1.0, abs=1e-12)
        assert abs(np.polyval(b, z) / np.polyval(a, z)) ** 2 == pytest.approx(0.5, abs=1e-12)
    sos = iir.butter_lowpass_sos(order, fc, fs)
    for point, power in ((1.0, 1.0), (z, 0.5)):
        h = np.prod([np.polyval(s[:3], point) / np.polyval(s[3:], point) for s in sos])
        assert abs(h) ** 2 == pytest.approx(power, abs=1e-12)


@pytest.mark.parametrize("args", [(0, 5.0, 100.0), (-2, 5.0, 100.0), (2.5, 5.0, 100.0), (True, 5.0, 100.0),
                                  (2, 0.0, 100.0), (2, -1.0, 100.0), (2, 50.0, 100.0), (2, 60.0, 100.0),
                                  (2, float("nan"), 100.0), (2, 5.0, 0.0), (2, 5.0, float("inf"))])
def test_design_rejects_bad_arguments(args):
    for design in (iir.butter_lowpass_ba, iir.butter_lowpass_sos):
        with pytest.raises(ValueError):
            design(*args)


# ---------------------------------------------------------------------------------------------- lfilter

FILTERS = [
    sig.butter(2, 0.12),                              # the package's second-order low-pass
    sig.butter(1, 0.6),
    sig.butter(4, 0.3),
    ([1.0, 2.0, 3.0], [2.0]),                         # FIR, a[0] != 1
    ([0.5], [1.0, -0.3, 0.1, 0.05]),                  # len(a) > len(b)
    ([1.0, 0.5, 0.2, 0.1], [2.0, -0.5]),              # len(b) > len(a)
    ([3.0], [1.5]),                                   # no state at all
    (np.array([120 * 0.0109, 0.0]), np.array([1.0, 0.4760, 0.0189])),  # like kinematics' spline prefilter
]
SHAPES = [((500,), -1), ((500,), 0), ((7, 333), -1), ((333, 4), 0), ((3, 250, 2), 1), ((2, 3, 97), -1),
          ((5, 17), 1), ((1,), 0), ((4, 64), 1), ((4, 31), -1)]


@pytest.mark.parametrize("shape,axis", SHAPES)
def test_lfilter_matches_scipy_with_and_without_initial_state(shape, axis):
    rng = np.random.default_rng(len(shape) * 100 + shape[axis])
    x = rng.standard_normal(shape)
    for b, a in FILTERS:
        y0 = sig.lfilter(b, a, x, axis=axis)
        assert rel_err(iir.lfilter(b, a, x, axis=axis), y0) < 1e-13
        zshape = list(shape)
        zshape[axis] = max(len(a), len(b)) - 1
        zi = rng.standard_normal(zshape)
        y, zf = iir.lfilter(b, a, x, axis=axis, zi=zi)
        y0, zf0 = sig.lfilter(b, a, x, axis=axis, zi=zi)
        assert y.shape == y0.shape and zf.shape == zf0.shape
        assert rel_err(y, y0) < 1e-13 and np.max(np.abs(zf - zf0), initial=0) < 1e-13 * np.abs(y0).max()


def test_lfilter_long_multichannel_and_chunks_carry_state():
    """(99, 18000) as the benchmark clip; two chunks with the final state carried equal one pass."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((99, 18000)).cumsum(axis=1)
    b, a = iir.butter_lowpass_ba(2, 6.0, 30.0)
    y = iir.lfilter(b, a, x)
    assert rel_err(y, sig.lfilter(b, a, x)) < 1e-13
    zi = np.zeros((99, 2))
    y1, z1 = iir.lfilter(b, a, x[:, :10001], zi=zi)
    y2, _ = iir.lfilter(b, a, x[:, 10001:], zi=z1)
    assert rel_err(np.concatenate([y1, y2], axis=1), y) < 1e-13


def test_lfilter_integer_input_and_bad_state_shape():
    x = np.arange(40)
    assert rel_err(iir.lfilter([1.0, 1.0], [2.0], x), sig.lfilter([1.0, 1.0], [2.0], x)) < 1e-15
    assert rel_err(iir.lfilter([1, 1], [2], x), sig.lfilter([1.0, 1.0], [2.0], x)) < 1e-15
    with pytest.raises(ValueError):
        iir.lfilter([1.0, 0.5], [1.0, -0.5], np.ones((3, 40)), zi=np.zeros((3, 2)))
    with pytest.raises(ValueError):
        iir.lfilter([1.0], [0.0, 1.0], np.ones(10))


def test_lfilter_edge_cases_match_scipy():
    """Empty signals, no channels, one sample, no state, complex and float32 samples."""
    b, a = sig.butter(3, 0.2)
    rng = np.random.default_rng(2)
    noise = rng.standard_normal((3, 300))
    for x in (np.zeros((2, 0)), np.zeros((0, 5)), np.ones(1), noise.astype(np.float32),
              noise[:2] + 1j * noise[1:]):
        got, want = iir.lfilter(b, a, x), sig.lfilter(b, a, x)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.allclose(got, want, rtol=1e-13, atol=1e-13)
    y, zf = iir.lfilter(b, a, np.zeros((2, 0)), zi=np.ones((2, 3)))
    assert y.shape == (2, 0) and np.array_equal(zf, np.ones((2, 3)))
    y, zf = iir.lfilter([2.0], [1.0], np.ones((2, 3)), zi=np.ones((2, 0)))
    assert np.array_equal(y, np.full((2, 3), 2.0)) and zf.shape == (2, 0)
    x = rng.standard_normal((2, 300)) + 1j * rng.standard_normal((2, 300))
    assert rel_err(iir.filtfilt(b, a, x), sig.filtfilt(b, a, x)) < 1e-13


@pytest.mark.parametrize("shape,axis", [((400,), 0), ((3, 401), -1), ((401, 3), 0), ((2, 300, 3), 1)])
def test_sosfilt_and_initial_states_match_scipy(shape, axis):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    for order in (1, 3, 4, 8):
        sos = sig.butter(order, 0.15, output="sos")
        zshape = [2 if k == axis % len(shape) else s for k, s in enumerate(shape)]
        zi = rng.standard_normal((sos.shape[0], *zshape))
        y, zf = iir.sosfilt(sos, x, axis=axis, zi=zi)
        y0, zf0 = sig.sosfilt(sos, x, axis=axis, zi=zi)
        assert zf.shape == zf0.shape
        assert rel_err(y, y0) < 1e-12 and rel_err(zf, zf0) < 1e-12
        assert rel_err(iir.sosfilt(sos, x, axis=axis), sig.sosfilt(sos, x, axis=axis)) < 1e-12
        assert rel_err(iir.sosfilt_zi(sos), sig.sosfilt_zi(sos)) < 1e-13
    for b, a in FILTERS[:6]:
        assert np.allclose(iir.lfilter_zi(b, a), sig.lfilter_zi(b, a), rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------------------------- zero phase

@pytest.mark.parametrize("shape,axis", [((600,), 0), ((600,), -1), ((5, 600), -1), ((600, 5), 0),
                                        ((2, 600, 3), 1), ((3, 2, 600), -1)])
@pytest.mark.parametrize("padtype", ["odd", "even", "constant", None])
def test_filtfilt_and_sosfiltfilt_match_scipy(shape, axis, padtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).cumsum(axis=axis)
    for frac in (0.01, 0.06, 0.2, 0.45):
        for order in (1, 2):
            b, a = iir.butter_lowpass_ba(order, frac, 1.0)
            for padlen in (None, 0, 50):
                want = sig.filtfilt(b, a, x, axis=axis, padtype=padtype, padlen=padlen)
                got = iir.filtfilt(b, a, x, axis=axis, padtype=padtype, padlen=padlen)
                assert got.shape == want.shape and rel_err(got, want) < 1e-10, (frac, order, padlen)
        for order in (3, 4, 8):
            sos = iir.butter_lowpass_sos(order, frac, 1.0)
            for padlen in (None, 37):
                want = sig.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
                got = iir.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
                assert rel_err(got, want) < 1e-10, (frac, order, padlen)


def _extended_filtfilt(run, zi, x, edge):
    """The odd-padded forward-backward pass in extended precision (np.longdouble), rows of ``x``."""
    x = x.astype(np.longdouble)
    ext = np.concatenate([2 * x[:, :1] - x[:, edge:0:-1], x, 2 * x[:, -1:] - x[:, -2:-edge - 2:-1]], axis=1)
    y = run(ext, zi * ext[:, :1])[:, ::-1]
    return run(y, zi * y[:, :1])[:, ::-1][:, edge:-edge]


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="np.longdouble is float64 here: no extended-precision reference")
def test_ill_conditioned_filters_are_as_accurate_as_scipy():
    """Cut-off 0.001 of the rate: rounding is amplified by the recursion (poles 0.4 % from the unit
    circle) in SciPy too. Against an extended-precision reference ours stays within 5x SciPy's own error
    (the block powers of the direct-form state have norms ~30 here; computed in float64 instead of
    extended precision they made it 80x) and below 1e-11."""
    x = np.random.default_rng(5).standard_normal((3, 5000)).cumsum(axis=1)
    for order in (2, 4, 8):
        sos = iir.butter_lowpass_sos(order, 0.001, 1.0)
        zi = sig.sosfilt_zi(sos).astype(np.longdouble)[:, None, :]
        ref = _extended_filtfilt(lambda v, z, g=sos.astype(np.longdouble): sig.sosfilt(g, v, zi=z)[0],
                                 zi, x, 3 * (2 * len(sos) + 1 - (order % 2)))
        err_scipy = rel_err(sig.sosfiltfilt(sos, x, axis=-1), ref)
        err_ours = rel_err(iir.sosfiltfilt(sos, x, axis=-1), ref)
        assert err_ours < min(max(5 * err_scipy, 1e-13), 1e-11), (order, err_ours, err_scipy)
    b, a = iir.butter_lowpass_ba(2, 0.001, 1.0)
    gb, ga = b.astype(np.longdouble), a.astype(np.longdouble)
    ref = _extended_filtfilt(lambda v, z: sig.lfilter(gb, ga, v, zi=z)[0],
                             sig.lfilter_zi(b, a).astype(np.longdouble)[None, :], x, 9)
    err_scipy = rel_err(sig.filtfilt(b, a, x), ref)
    assert rel_err(iir.filtfilt(b, a, x), ref) < min(max(5 * err_scipy, 1e-13), 1e-11), err_scipy


def test_too_short_signal_and_bad_padtype_raise_like_scipy():
    b, a = iir.butter_lowpass_ba(2, 5.0, 100.0)
    sos = iir.butter_lowpass_sos(4, 5.0, 100.0)
    with pytest.raises(ValueError, match="greater than padlen, which is 9"):
        iir.filtfilt(b, a, np.ones(9))
    with pytest.raises(ValueError, match="greater than padlen, which is 15"):
        iir.sosfiltfilt(sos, np.ones((15, 2)), axis=0)
    with pytest.raises(ValueError, match="greater than padlen, which is 20"):
        iir.filtfilt(b, a, np.ones((3, 20)), axis=-1, padlen=20)
    with pytest.raises(ValueError, match="padtype"):
        iir.filtfilt(b, a, np.ones(100), padtype="mirror")
    assert iir.filtfilt(b, a, np.ones(10)).shape == (10,)      # 10 > 9: enough


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_forward_backward_gain_is_the_squared_butterworth_response(order):
    """Long sinusoids, steady state: gain = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^(2 order))."""
    fs, fc, n = 100.0, 6.0, 20000
    t = np.arange(n) / fs
    freqs = np.array([0.5, 1.0, 3.0, 6.0, 10.0, 20.0, 35.0])
    phase = 2 * np.pi * freqs[:, None] * t
    x = np.sin(phase)                                     # (F, n), each an integer number of periods
    mid = slice(5000, 15000)                              # 100 s, far from both ends
    ba = iir.butter_lowpass_ba(order, fc, fs)
    sos = iir.butter_lowpass_sos(order, fc, fs)
    for y in (iir.filtfilt(*ba, x, axis=-1), iir.sosfiltfilt(sos, x, axis=-1)):
        basis = np.stack([np.sin(phase[:, mid]), np.cos(phase[:, mid])])
        inphase, quad = (2 * np.mean(y[:, mid] * basis, axis=-1))
        expected = 1 / (1 + (np.tan(np.pi * freqs / fs) / np.tan(np.pi * fc / fs)) ** (2 * order))
        np.testing.assert_allclose(inphase, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(quad, 0.0, atol=1e-9)               # zero phase


def test_constant_passes_unchanged_and_a_ramp_passes_filtfilt_unchanged():
    for order in (1, 2, 3, 4, 6):
        b, a = iir.butter_lowpass_ba(order, 4.0, 50.0)
        sos = iir.butter_lowpass_sos(order, 4.0, 50.0)
        c = np.full((2, 300), 3.7)
        np.testing.assert_allclose(iir.sosfiltfilt(sos, c, axis=-1), c, rtol=1e-12)
        y, _ = iir.sosfilt(sos, c, zi=iir.sosfilt_zi(sos)[:, None, :] * np.full((1, 2, 1), 3.7))
        np.testing.assert_allclose(y, c, rtol=1e-12)
        if order <= 2:
            np.testing.assert_allclose(iir.filtfilt(b, a, c, axis=-1), c, rtol=1e-12)
            zi = np.outer([3.7, 3.7], iir.lfilter_zi(b, a))
            np.testing.assert_allclose(iir.lfilter(b, a, c, zi=zi)[0], c, rtol=1e-12)
        # a zero-phase filter with unit DC gain keeps straight lines; the odd extension continues the line,
        # and the start-up transients die out within padlen samples: r^padlen < 1e-14 (r: largest pole radius)
        radius = np.max(np.abs(np.roots(a)))
        padlen = int(np.ceil(np.log(1e-14) / np.log(radius)))
        ramp = np.linspace(-2.0, 5.0, padlen + 200)
        np.testing.assert_allclose(iir.sosfiltfilt(sos, ramp, padlen=padlen), ramp, rtol=0, atol=1e-11)
        if order <= 2:
            np.testing.assert_allclose(iir.filtfilt(b, a, ramp, padlen=padlen), ramp, rtol=0, atol=1e-11)


def test_importing_the_module_does_not_load_scipy():
    loaded = loaded_after("import imusynth.core.iir")
    assert "scipy" not in loaded and "numpy" in loaded          # numpy proves the probe saw the import
