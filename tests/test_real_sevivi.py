"""Real check: Azure Kinect skeletons -> virtual sensors vs the real IMUs LF / RF (../shared/imu/sevivi).

The computation is the one of ``benchmarks/real_checks.py`` (method and figures in docs/validation.md):
candidate placements from the skeleton (forearm and wrist on both sides, plus upper arms, trunk, head and
legs as controls), each aligned with each real sensor by :func:`imusynth.compare.compare_signals` (time
offset searched over every offset that puts the skeleton inside the IMU recording, rotation from the
gyroscope, band capped at the virtual sensor's 6 Hz cut-off). Where LF/RF sit is undocumented, so nothing
here is an accuracy threshold; the assertions are physical consequences of the recordings.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sevivi() -> dict[str, Any]:
    shared_path("imu", "sevivi")
    spec = importlib.util.spec_from_file_location("real_checks", REPO / "benchmarks" / "real_checks.py")
    assert spec is not None and spec.loader is not None
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    return {activity: checks.sevivi_activity(activity) for activity in checks.ACTIVITIES}


def test_right_hand_movement_is_found_on_the_right_forearm(sevivi):
    """In '3d_hand_movement' the right hand moves (real RF |gyro| p99 ~770 deg/s; LF ~70 deg/s).

    So of all candidates, the one that fits RF best must be on the right forearm (a forearm or wrist
    placement), and its gyroscope must follow the real one. The skeleton observes the forearm's two
    swing axes (the elbow -> wrist direction) but not its roll (Azure reports no usable hand joints
    here), so at least two of the three gyroscope axes, i.e. the median, must correlate clearly: r > 0.5.
    """
    res = sevivi["3d_hand_movement"]
    best = res["best"]["RF"]
    assert best is not None and best.startswith("right_") and ("forearm" in best or "wrist" in best), best
    fit = res["stage_b"]["RF"][best]
    assert fit["gyro_r_median"] > 0.5, fit["gyro_r"]


@pytest.mark.parametrize("activity", ["walking", "squatting", "3d_hand_movement"])
def test_offsets_of_both_sensors_agree(sevivi, activity):
    """LF and RF share one clock, so their offsets to the skeleton's clock must be the same.

    In every activity the two files run on the same ``SampleTimeFine`` time base (same time stamps; RF
    starts at most 4 samples earlier), so the skeleton-to-IMU offset is physically one number. Each
    sensor's offset is estimated on its own (stage A: its best-fitting candidate, searched over the whole
    plausible range, 6-15 s wide); the two must agree within 0.1 s (3 skeleton frames), i.e. both
    alignments found the same instant rather than another peak of a periodic motion.
    """
    res = sevivi[activity]
    offsets = [res["stage_a"][s][res["best_stage_a"][s]]["offset_s"] for s in ("LF", "RF")]
    assert abs(offsets[0] - offsets[1]) < 0.1, offsets
