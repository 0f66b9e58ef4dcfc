"""The video job keeps its post-processing libraries out of the pose stage (issue 14: peak memory).

h5py and SciPy (about 75 MiB resident together) are needed only after the streaming pass (the tracker's
small assignments are solved without SciPy: tests/test_assignment.py); importing the job (what
``imusynth video`` and the benchmark do before the pose models load) must not load them, so they are
never held beside the landmarkers.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY_AFTER_STAGES = ("h5py", "scipy", "scipy.signal", "scipy.stats")


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_video_job_import_leaves_post_processing_libraries_unloaded():
    loaded = _loaded_after("import imusynth.video.job, imusynth.video.stream, imusynth.cli.main, "
                           "imusynth.cli._console")  # what `imusynth video` has loaded when the stage starts
    assert "imusynth.video.job" in loaded  # the import itself happened
    assert not loaded & set(HEAVY_AFTER_STAGES), sorted(loaded & set(HEAVY_AFTER_STAGES))


def test_the_check_can_fail():
    # the same probe sees the libraries once the writer is imported and a filter has run
    loaded = _loaded_after("import numpy as np, imusynth.video.job, imusynth.io.hdf5; "
                           "from imusynth.core.kinematics import lowpass; "
                           "lowpass(np.zeros((50, 3)), rate_hz=50.0, cutoff_hz=5.0, axis=0)")
    assert {"h5py", "scipy.signal"} <= loaded
