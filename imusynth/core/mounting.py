"""Random sensor mountings for augmentation: distributions, seeded draws, and how a draw moves a sensor.

A real watch, phone or strap never sits exactly where a placement puts it. A *mounting* perturbs the
placement's nominal sensor, in the placement's segment frame (x = the segment's long axis):

* ``twist_deg``: a rigid rotation by this angle about the segment's long axis (the line through the
  segment origin along segment x). It turns the sensor *and* carries its lever arm around the segment,
  as a watch that slides around the wrist or a strap turned on a limb;
* ``tilt_deg``: two further rotations of the sensor about its own position, about the (twisted) segment
  y then z axes, each drawn independently from this distribution (a case that does not lie flat);
* ``along_m``: a shift of the position along segment x, metres (distal positive);
* ``flip_p``: probabilities of ``[no flip, half turn about sensor x, about sensor y, about sensor z]``
  (e.g. a phone upside down or screen in, in a pocket).

So with the nominal sensor-to-segment rotation ``R_ss`` and lever arm ``c`` (the sensor's offset from
the point on the segment axis, segment coordinates, m)::

    R_ss' = Rx(twist) Ry(tilt_1) Rz(tilt_2) R_ss F          c' = Rx(twist) c + (along_m, 0, 0)

where ``F`` is the flip. The variant reads ``R_m^T`` times what a sensor at its position with the
nominal axes would read, with ``R_m = R_ss^T R_ss'`` (:attr:`MountedSensor.R_m`).

A distribution is a TOML inline table: ``{ dist = "normal", mean = M, sd = S }``,
``{ dist = "uniform", low = A, high = B }`` or ``{ dist = "fixed", value = V }``.

Draws are seeded from the clip id, the placement name and a configuration seed
(:func:`mounting_seed`), so one clip gives the same variants on every run and every machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Separator between a placement name and the variant number in the sensor's name: ``wrist~aug3``.
VARIANT_SEP = "~aug"

DISTRIBUTIONS = ("normal", "uniform", "fixed")
FLIPS = ("none", "x180", "y180", "z180")


@dataclass(frozen=True)
class Distribution:
    """A scalar distribution: ``normal(a = mean, b = sd)``, ``uniform(a = low, b = high)`` or ``fixed(a)``."""

    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        """``size`` independent draws."""
        if self.kind == "normal":
            return rng.normal(self.a, self.b, size) if self.b > 0 else np.full(size, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, size)
        return np.full(size, self.a)

    @property
    def mean(self) -> float:
        """The distribution's mean."""
        return 0.5 * (self.a + self.b) if self.kind == "uniform" else self.a

    @property
    def sd(self) -> float:
        """The distribution's standard deviation."""
        if self.kind == "normal":
            return self.b
        if self.kind == "uniform":
            return (self.b - self.a) / np.sqrt(12.0)
        return 0.0

    def to_table(self) -> dict[str, Any]:
        """The TOML inline table this distribution was parsed from."""
        if self.kind == "normal":
            return {"dist": "normal", "mean": self.a, "sd": self.b}
        if self.kind == "uniform":
            return {"dist": "uniform", "low": self.a, "high": self.b}
        return {"dist": "fixed", "value": self.a}


@dataclass(frozen=True)
class MountingSpec:
    """The mounting distributions of one placement (units in the names: degrees, metres)."""

    twist_deg: Distribution
    tilt_deg: Distribution
    along_m: Distribution
    flip_p: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


#: Used by placements without an ``[augment]`` table (see docs/placements.md for the reasoning):
#: a strapped sensor turned about the limb by a few degrees, slightly tilted, shifted a couple of cm.
DEFAULT_SPEC = MountingSpec(
    twist_deg=Distribution("normal", 0.0, 10.0),
    tilt_deg=Distribution("normal", 0.0, 5.0),
    along_m=Distribution("uniform", -0.02, 0.02),
)


def _distribution(value: Any, key: str) -> Distribution:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Distribution("fixed", float(value))
    if not isinstance(value, Mapping) or value.get("dist") not in DISTRIBUTIONS:
        raise ValueError(f"{key} must be a number or an inline table with dist = one of {DISTRIBUTIONS}, "
                         f"got {value!r}")
    kind = str(value["dist"])
    params = {"normal": ("mean", "sd"), "uniform": ("low", "high"), "fixed": ("value",)}[kind]
    extra = set(value) - set(params) - {"dist"}
    if extra:
        raise ValueError(f"{key}: unknown keys {sorted(extra)} for dist = {kind!r} (it takes {params})")
    nums = []
    for p in params:
        v = value.get(p)
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise ValueError(f"{key}: {p} must be a finite number, got {v!r}")
        nums.append(float(v))
    if kind == "normal" and nums[1] < 0:
        raise ValueError(f"{key}: sd must be >= 0, got {nums[1]}")
    if kind == "uniform" and nums[1] < nums[0]:
        raise ValueError(f"{key}: high must be >= low, got {nums}")
    return Distribution(kind, *nums)


def parse_mounting_spec(table: Mapping[str, Any], base: MountingSpec = DEFAULT_SPEC) -> MountingSpec:
    """A :class:`MountingSpec` from a placement's ``[augment]`` table; missing keys keep ``base``'s.

    Raises
    ------
    ValueError
        Unknown keys, bad distributions, or ``flip_p`` not four probabilities summing to 1 (within 1e-6).
    """
    if not isinstance(table, Mapping):
        raise ValueError(f"must be a table, got {table!r}")
    known = ("twist_deg", "tilt_deg", "along_m", "flip_p")
    unknown = set(table) - set(known)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; known: {', '.join(known)}")
    dists = {k: _distribution(table[k], k) if k in table else getattr(base, k) for k in known[:3]}
    flip = base.flip_p
    if "flip_p" in table:
        f = table["flip_p"]
        ok = isinstance(f, list | tuple) and len(f) == 4 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in f)
        if not ok or abs(sum(f) - 1.0) > 1e-6:
            raise ValueError(f"flip_p must be four probabilities [none, x180, y180, z180] summing to 1, "
                             f"got {f!r}")
        flip = (float(f[0]), float(f[1]), float(f[2]), float(f[3]))
    return MountingSpec(dists["twist_deg"], dists["tilt_deg"], dists["along_m"], flip)


def _rx(a: float) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_FLIP_MATRICES = (np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]),
                  np.diag([-1.0, -1.0, 1.0]))


@dataclass(frozen=True)
class Mounting:
    """One drawn mounting.

    Attributes
    ----------
    index : int
        Variant number, 1-based (the sensor is named ``f"{placement}{VARIANT_SEP}{index}"``).
    seed : int
        The seed the variants of this placement were drawn with (:func:`mounting_seed`).
    twist_deg : float, degrees
    tilt_deg : tuple of two floats, degrees
    along_m : float, m
    flip : int
        Index into :data:`FLIPS`.
    """

    index: int
    seed: int
    twist_deg: float
    tilt_deg: tuple[float, float]
    along_m: float
    flip: int = 0

    def apply(self, R_seg_sensor: NDArray[np.float64], lever_seg: NDArray[np.float64]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The mounted sensor's rotation (sensor to segment, 3x3) and lever arm (segment coordinates, m)."""
        tw = _rx(np.radians(self.twist_deg))
        R = tw @ _ry(np.radians(self.tilt_deg[0])) @ _rz(np.radians(self.tilt_deg[1])) @ np.asarray(
            R_seg_sensor, dtype=np.float64) @ _FLIP_MATRICES[self.flip]
        lever = tw @ np.asarray(lever_seg, dtype=np.float64) + np.array([self.along_m, 0.0, 0.0])
        return R, lever


def mounting_seed(clip_id: str, placement: str, seed: int) -> int:
    """A 63-bit seed from the clip id, the placement name and the configuration seed (SHA-256)."""
    digest = hashlib.sha256(f"{clip_id}\0{placement}\0{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def draw_mountings(spec: MountingSpec, n: int, seed: int) -> list[Mounting]:
    """``n`` independent mountings drawn from ``spec`` with ``numpy.random.default_rng(seed)``.

    The draws are made in a fixed order (all twists, all first tilts, all second tilts, all shifts, all
    flips), so variant ``k`` of ``n`` is the same for any ``n >= k`` only when ``n`` is the same; the
    seed and ``n`` together fix every variant.
    """
    if n < 0:
        raise ValueError(f"the number of variants must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    twist = spec.twist_deg.sample(rng, n)
    tilt1 = spec.tilt_deg.sample(rng, n)
    tilt2 = spec.tilt_deg.sample(rng, n)
    along = spec.along_m.sample(rng, n)
    flips = rng.choice(4, size=n, p=np.asarray(spec.flip_p) / sum(spec.flip_p))
    return [Mounting(k + 1, int(seed), float(twist[k]), (float(tilt1[k]), float(tilt2[k])), float(along[k]),
                     int(flips[k])) for k in range(n)]


@dataclass(frozen=True)
class MountedSensor:
    """A mounting resolved against one placement definition.

    Attributes
    ----------
    mounting : Mounting
    R_seg_sensor : ndarray, shape (3, 3)
        Sensor to segment rotation of the variant.
    lever_seg : ndarray, shape (3,), m
        The variant's offset from the point on the segment axis (origin + along x primary), segment frame.
    R_m : ndarray, shape (3, 3)
        Nominal sensor frame to variant frame: columns are the variant's axes in the nominal sensor frame.
    offset_m : ndarray, shape (3,), m
        The variant's position minus the nominal sensor's, in the nominal sensor frame.
    q_m : ndarray, shape (4,)
        ``R_m`` as a quaternion (w, x, y, z), w >= 0.
    """

    mounting: Mounting
    R_seg_sensor: NDArray[np.float64]
    lever_seg: NDArray[np.float64]
    R_m: NDArray[np.float64]
    offset_m: NDArray[np.float64]
    q_m: NDArray[np.float64]


def mount(mounting: Mounting, R_seg_sensor: NDArray[np.float64], offset_sensor_m: NDArray[np.float64]
          ) -> MountedSensor:
    """Resolve ``mounting`` on a sensor with rotation ``R_seg_sensor`` and offset (sensor frame, m)."""
    Rss = np.asarray(R_seg_sensor, dtype=np.float64)
    lever = Rss @ np.asarray(offset_sensor_m, dtype=np.float64)
    from imusynth.core.conventions import quat_from_matrix

    R_v, lever_v = mounting.apply(Rss, lever)
    R_m = Rss.T @ R_v
    return MountedSensor(mounting, R_v, lever_v, R_m, Rss.T @ (lever_v - lever), quat_from_matrix(R_m))


def variant_name(placement: str, index: int) -> str:
    """``"wrist", 3`` -> ``"wrist~aug3"``."""
    return f"{placement}{VARIANT_SEP}{index}"


def split_variant(name: str) -> tuple[str, int]:
    """``"wrist~aug3"`` -> ``("wrist", 3)``; a base sensor's name -> ``(name, 0)``."""
    base, sep, k = name.rpartition(VARIANT_SEP)
    if sep and k.isdigit() and base:
        return base, int(k)
    return name, 0


def mounting_attrs(m: MountedSensor, base: str) -> dict[str, Any]:
    """The HDF5 sensor attributes that record a variant's mounting (see docs/hdf5_schema.md)."""
    mt = m.mounting
    return {
        "augment_of": base,
        "augment_index": mt.index,
        "augment_seed": np.int64(mt.seed),
        "mounting_quat": np.asarray(m.q_m, dtype=np.float64),
        "mounting_offset_m": np.asarray(m.offset_m, dtype=np.float64),
        "mounting_twist_deg": mt.twist_deg,
        "mounting_tilt_deg": np.asarray(mt.tilt_deg, dtype=np.float64),
        "mounting_along_m": mt.along_m,
        "mounting_flip": FLIPS[mt.flip],
        "mounting_convention": "mounting_quat (w,x,y,z) rotates the variant's sensor frame into the base "
                               "sensor's; mounting_offset_m = variant position - base position, base sensor "
                               "frame, m",
    }


def _right_product_matrix(q: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 4x4 matrix ``M`` with ``M @ p = p (x) q`` (Hamilton product, w, x, y, z)."""
    w, x, y, z = q
    return np.array([[w, -x, -y, -z], [x, w, z, -y], [y, -z, w, x], [z, y, -x, w]])


def variant_outputs(
    axes: tuple[tuple[NDArray[np.float64], ...], ...],
    omega: tuple[NDArray[np.float64], ...],
    quat: NDArray[np.float64],
    d2: NDArray[np.float64],
    mounted: list[MountedSensor],
    *,
    g_up: float,
    out: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Accelerometer, gyroscope and orientation of every mounted variant of one sensor over one run.

    The position of variant ``v`` is ``b(t) + sum_k c_v[k] e_k(t)`` with ``b`` the point on the segment
    axis, ``e_k`` the segment axes (world) and ``c_v`` its lever arm (segment coordinates), so its
    acceleration ``b'' + sum_k c_v[k] e_k''`` is linear in the second derivatives ``d2`` that one spline
    gives for every variant (the rigid-body terms ``alpha x r + omega x (omega x r)`` of the lever arm
    are ``sum_k c_k e_k''``). In the segment frame, ``f_j = R_seg^T d2_j`` (gravity added to ``b``); then
    ``acc_v = R_ss_v^T (f_0 + sum_k c_v[k] f_{k+1})``, ``gyro_v = R_ss_v^T omega_seg`` and
    ``q_v = q_base (x) q(R_ss^T R_ss_v)``: three matrix products for all the variants together.

    Parameters
    ----------
    axes : three tuples of three ndarray (N,)
        Segment x, y, z axes, world components, at the output times.
    omega : three ndarray (N,), rad/s
        Angular velocity in the segment frame.
    quat : ndarray, shape (4, N)
        The nominal sensor's orientation (sensor to world, w, x, y, z), continuous.
    d2 : ndarray, shape (12, N), m/s^2
        Second derivatives of ``b`` (rows 0-2) and of the segment axes x, y, z (rows 3-5, 6-8, 9-11), world.
    mounted : list of MountedSensor
    g_up : float, m/s^2
        Gravity's magnitude (added to the vertical component of ``b''``: specific force).
    out : three ndarray, optional
        Arrays of shapes (N, 3 V), (N, 3 V), (N, 4 V) to write into (e.g. row slices of bigger arrays).

    Returns
    -------
    acc, gyro : ndarray, shape (N, 3 V)
        m/s^2 and rad/s, variant ``v`` in columns ``3 v : 3 v + 3``, in its sensor frame.
    quat : ndarray, shape (N, 4 V)
        Sensor to world (w, x, y, z), variant ``v`` in columns ``4 v : 4 v + 4``; continuous where the
        nominal one is (a constant right factor keeps the sign pattern).
    """
    n = quat.shape[1]
    V = len(mounted)
    F = np.empty((12, n))                               # rows contiguous; F.T goes to BLAS transposed
    tmp = np.empty(n)
    for j in range(4):
        r = d2[3 * j:3 * j + 3]
        vz = r[2] + g_up if j == 0 else r[2]
        for k in range(3):
            ax = axes[k]
            row = F[3 * j + k]
            np.multiply(ax[0], r[0], out=row)
            row += np.multiply(ax[1], r[1], out=tmp)
            row += np.multiply(ax[2], vz, out=tmp)
    M = np.empty((12, 3 * V))
    G = np.empty((3, 3 * V))
    Q = np.empty((4, 4 * V))
    for i, m in enumerate(mounted):
        Rv = m.R_seg_sensor
        M[0:3, 3 * i:3 * i + 3] = Rv
        for k in range(3):
            M[3 + 3 * k:6 + 3 * k, 3 * i:3 * i + 3] = Rv * m.lever_seg[k]
        G[:, 3 * i:3 * i + 3] = Rv
        Q[:, 4 * i:4 * i + 4] = _right_product_matrix(m.q_m).T
    if out is None:
        out = (np.empty((n, 3 * V)), np.empty((n, 3 * V)), np.empty((n, 4 * V)))
    np.matmul(F.T, M, out=out[0])
    np.matmul(np.stack(omega, axis=1), G, out=out[1])
    np.matmul(quat.T, Q, out=out[2])
    return out
