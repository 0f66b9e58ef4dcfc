"""Stage 7: windowed HAR export, NumPy / torch loaders, and the ``har-eval`` protocol.

Windows
    Each recording (one clip, or one real file) is resampled to the export rate (anti-aliased,
    :func:`imusynth.calibrate.resample`), its placements are stacked as channels, and fixed-length
    windows are cut inside *segments*: maximal runs of samples that are valid and share one label. A
    window therefore never crosses a clip, an invalid gap or a label change. Unlabelled samples (label
    ``""``) are never windowed.

Windows file (HDF5, schema ``imusynth-windows/1``, written atomically)::

    /X        (n, T, C) float32   acc then gyro per placement (channels attr); SI (m/s^2 specific
                                  force, rad/s) unless exported with other units (attrs acc_unit,
                                  gyro_unit, acc_sign)
    /y        (n,) int64          index into class_names
    /group    (n,) str            group key (subject, video) for group-wise splits
    /clip     (n,) str            recording each window came from
    /start_s  (n,) float64        window start time in its recording, s
    attrs: schema, class_names (JSON list), channels (JSON list), rate_hz, window_s, overlap, source,
           units (text), acc_unit, gyro_unit, acc_sign ("specific_force" or "ios")

Evaluation (the IMUTube protocol, Kwon et al. 2020): every model is tested on real windows only;
``r2r`` trains on real, ``v2r`` on virtual, ``mix2r`` on both. Splits are group-wise (leave groups, i.e.
subjects, out); virtual windows whose group appears in a test fold are left out of that fold's training
set. The classifier is a random forest on statistical and ECDF features (:func:`window_features`),
scored with macro-F1 over the classes present in the test fold.

Modules: :mod:`~imusynth.har.windows` (the :class:`WindowSet` record and windowing),
:mod:`~imusynth.har.units` (unit conversion at the export edge), :mod:`~imusynth.har.loaders` (the windows
file: writer, NumPy and torch loaders), :mod:`~imusynth.har.evaluation` (features, classifier, protocols),
:mod:`~imusynth.har.errors` (:class:`HarError`). Import the public names from ``imusynth.har``.
"""

from __future__ import annotations

from imusynth.har.errors import HarError
from imusynth.har.evaluation import (
    ECDF_PROBS,
    PROTOCOLS,
    HarReport,
    ProtocolResult,
    evaluate,
    group_folds,
    make_classifier,
    window_features,
)
from imusynth.har.loaders import WINDOWS_SCHEMA, is_windows_file, load_windows, save_windows, torch_dataset
from imusynth.har.units import ACC_UNITS, GYRO_UNITS, check_output_units, convert_units
from imusynth.har.windows import (
    Recording,
    WindowSet,
    concat_windows,
    make_windows,
    segments,
    stack_placements,
    window_length,
    window_starts,
)

__all__ = [
    "ACC_UNITS",
    "ECDF_PROBS",
    "GYRO_UNITS",
    "PROTOCOLS",
    "WINDOWS_SCHEMA",
    "HarError",
    "HarReport",
    "ProtocolResult",
    "Recording",
    "WindowSet",
    "check_output_units",
    "concat_windows",
    "convert_units",
    "evaluate",
    "group_folds",
    "is_windows_file",
    "load_windows",
    "make_classifier",
    "make_windows",
    "save_windows",
    "segments",
    "stack_placements",
    "torch_dataset",
    "window_features",
    "window_length",
    "window_starts",
]
