"""Reader for the sktime / UEA-UCR ``.ts`` time-series classification format (e.g. BasicMotions).

The format: ``#`` comment lines, ``@key value`` header lines (``@problemName``, ``@timeStamps``,
``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
``@classLabel true A B C``), then ``@data`` and one case per line: the dimensions separated by ``:``,
each a comma-separated list of values (``?`` = missing), then the class label. Files with
``@timeStamps true`` (``(t,v)`` pairs) are refused.

The format carries neither a sample rate nor units: the caller states both when turning the cases into
IMU recordings (:func:`ts_to_series`); the conversion to SI happens there, at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from imusynth.core.conventions import to_si
from imusynth.core.imu_series import ImuSeries
from imusynth.io.readers._table import ReadError, read_text

_BOOL = {"true": True, "false": False}


@dataclass(frozen=True)
class TsDataset:
    """The cases of one ``.ts`` file.

    Attributes
    ----------
    cases : tuple of ndarray, each shape (D, T_i), float64
        One array per case: D dimensions by T_i samples (NaN where missing), in the file's units.
    labels : ndarray, shape (n,), str, or None
        Class label of each case (None when the file has no class labels).
    class_names : tuple of str
        Classes declared by ``@classLabel`` (in declaration order).
    problem_name : str
        ``@problemName``.
    header : dict of str to str
        Every header key (lower case, without ``@``) and its raw value.
    source : str
        Path the cases were read from.
    """

    cases: tuple[NDArray[np.float64], ...]
    labels: NDArray[np.str_] | None
    class_names: tuple[str, ...]
    problem_name: str = ""
    header: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def n_cases(self) -> int:
        """Number of cases n."""
        return len(self.cases)

    @property
    def n_dims(self) -> int:
        """Number of dimensions D."""
        return int(self.cases[0].shape[0]) if self.cases else 0

    @property
    def X(self) -> NDArray[np.float64]:
        """All cases stacked, shape (n, D, T); only for equal-length files."""
        lengths = {c.shape[1] for c in self.cases}
        if len(lengths) != 1:
            raise ReadError(f"{self.source}: cases have unequal lengths {sorted(lengths)[:5]}...; use .cases")
        return np.stack(self.cases)


def read_ts(path: str | Path) -> TsDataset:
    """Read a sktime/UCR ``.ts`` classification file (gzip allowed).

    Parameters
    ----------
    path : str or Path
        The file.

    Raises
    ------
    ReadError
        For a missing file, a missing ``@data`` section, time-stamped data, a case with the wrong number of
        dimensions, a non-numeric value, or a label not declared by ``@classLabel``.
    """
    src = str(path)
    text = read_text(path)
    header: dict[str, str] = {}
    class_names: tuple[str, ...] = ()
    has_labels = False
    cases: list[NDArray[np.float64]] = []
    labels: list[str] = []
    in_data = False
    n_dims: int | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ReadError(f"{src}: line {lineno}: expected a '@key value' header line before @data")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            value = value.strip()
            if key == "data":
                in_data = True
                continue
            header[key] = value
            if key == "timestamps" and _BOOL.get(value.lower(), False):
                raise ReadError(f"{src}: time-stamped .ts data (@timeStamps true) is not supported")
            if key == "classlabel":
                parts = value.split()
                has_labels = bool(parts) and _BOOL.get(parts[0].lower(), False)
                class_names = tuple(parts[1:]) if has_labels else ()
            if key == "dimensions":
                try:
                    n_dims = int(value)
                except ValueError:
                    raise ReadError(
                        f"{src}: line {lineno}: @dimensions must be an integer, got {value!r}"
                    ) from None
            continue
        fields = line.split(":")
        label = None
        if has_labels:
            label = fields[-1].strip()
            fields = fields[:-1]
            if class_names and label not in class_names:
                raise ReadError(
                    f"{src}: line {lineno}: label {label!r} is not one of the declared classes "
                    f"{', '.join(class_names)}"
                )
        if n_dims is None:
            n_dims = len(fields)
        if len(fields) != n_dims:
            raise ReadError(f"{src}: line {lineno}: {len(fields)} dimensions, expected {n_dims}")
        dims = [_parse_values(f, src, lineno, d) for d, f in enumerate(fields)]
        length = max(d.size for d in dims)
        case = np.full((n_dims, length), np.nan)
        for d, vals in enumerate(dims):
            case[d, : vals.size] = vals  # shorter dimensions are padded with NaN at the end
        cases.append(case)
        if label is not None:
            labels.append(label)
    if not in_data:
        raise ReadError(f"{src}: no @data line; is this a sktime/UCR .ts file?")
    if not cases:
        raise ReadError(f"{src}: no cases after @data")
    if has_labels and not class_names:
        class_names = tuple(dict.fromkeys(labels))
    return TsDataset(
        cases=tuple(cases),
        labels=np.asarray(labels, dtype=str) if has_labels else None,
        class_names=class_names,
        problem_name=header.get("problemname", Path(src).stem),
        header=header,
        source=src,
    )


def _parse_values(field_text: str, src: str, lineno: int, dim: int) -> NDArray[np.float64]:
    cells = [c.strip() for c in field_text.split(",")]
    if cells and cells[-1] == "":
        cells = cells[:-1]
    out = np.empty(len(cells))
    for i, c in enumerate(cells):
        if c in ("?", "", "NaN", "nan"):
            out[i] = np.nan
            continue
        try:
            out[i] = float(c)
        except ValueError:
            raise ReadError(
                f"{src}: line {lineno}: dimension {dim + 1} value {i + 1} is not a number: {c[:20]!r}"
            ) from None
    return out


def ts_to_series(
    dataset: TsDataset,
    *,
    rate_hz: float,
    acc_dims: Sequence[int] = (0, 1, 2),
    gyro_dims: Sequence[int] = (3, 4, 5),
    acc_unit: str = "m/s^2",
    gyro_unit: str = "rad/s",
    group_prefix: str | None = None,
) -> list[ImuSeries]:
    """Turn each case into an :class:`~imusynth.calibrate.ImuSeries` (SI), labelled with the case's class.

    Parameters
    ----------
    dataset : TsDataset
        Cases read by :func:`read_ts`.
    rate_hz : float
        Sample rate of the cases, Hz (the format does not store it; BasicMotions: 10 Hz).
    acc_dims, gyro_dims : sequence of 3 int
        Which dimensions hold acc x, y, z and gyro x, y, z (0-based).
    acc_unit, gyro_unit : str
        Units of those dimensions (see :func:`imusynth.core.conventions.unit_factor`); converted to SI here.
    group_prefix : str, optional
        Group key prefix; case ``i`` gets group ``f"{prefix}:{i}"`` (default prefix: the file stem), since
        the format records no subject.

    Returns
    -------
    list of ImuSeries
        One per case, time from 0 s, ``name`` = group key.
    """
    if not rate_hz > 0:
        raise ReadError(f"{dataset.source}: rate_hz must be > 0, got {rate_hz}")
    for what, dims in (("acc_dims", acc_dims), ("gyro_dims", gyro_dims)):
        if len(dims) != 3 or any(not 0 <= d < dataset.n_dims for d in dims):
            raise ReadError(
                f"{dataset.source}: {what} must be 3 dimension indices in "
                f"0..{dataset.n_dims - 1}, got {list(dims)}"
            )
    try:
        acc_factor = float(to_si(1.0, "acc", acc_unit))
        gyro_factor = float(to_si(1.0, "gyro", gyro_unit))
    except ValueError as exc:
        raise ReadError(f"{dataset.source}: {exc}") from None
    prefix = group_prefix if group_prefix is not None else Path(dataset.source).stem
    out = []
    for i, case in enumerate(dataset.cases):
        n = case.shape[1]
        key = f"{prefix}:{i}"
        labels = None
        if dataset.labels is not None:
            labels = np.full(n, dataset.labels[i])
        out.append(
            ImuSeries(
                time=np.arange(n) / rate_hz,
                acc=case[list(acc_dims)].T * acc_factor,
                gyro=case[list(gyro_dims)].T * gyro_factor,
                labels=labels,
                group=key,
                name=key,
            )
        )
    return out
