"""Real data (issue 4, acceptance 2): fit a profile on one half of gaitmap, apply it to the other half.

Virtual foot IMUs come from the Vicon foot markers through the physics core; the real ones are the
Nilspod foot IMUs of the same walk (../shared/imu/gaitmap, synchronised clocks). The profile is fitted on
the first 50 % of the recording and applied to the virtual second half; the calibrated signal must be closer
to the real second half than the raw one in every channel (Wasserstein distance and KS statistic).
benchmarks/eval_calibration_real.py prints the figures (and the sevivi pair).
"""

from __future__ import annotations

import numpy as np
import pytest

from imusynth.calibrate import (
    ImuSeries,
    apply_profile,
    distribution_distances,
    fit_profile,
    resample_series,
)
from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.slow

RATE = 100.0


def _half(s: ImuSeries, second: bool) -> ImuSeries:
    mid = 0.5 * (s.time[0] + s.time[-1])
    keep = s.time >= mid if second else s.time < mid
    return ImuSeries(s.time[keep], s.acc[keep], s.gyro[keep], s.valid[keep], name=f"{s.name}_{int(second)}")


@pytest.mark.parametrize("side", ["left", "right"])
def test_gaitmap_half_fit_improves_the_other_half(side: str) -> None:
    from imusynth.core.placements import load_placements
    from imusynth.core.sensors import simulate
    from imusynth.io.readers import read_imu, read_motion

    d = shared_path("imu", "gaitmap")
    motion = read_motion(d / "mocap_sample.csv", length_unit="mm", rate_hz=100.0)
    pls = load_placements(REPO / "pipelines" / "placements" / "gaitmap_feet.toml")
    sig = simulate(motion, [pls[f"{side}_foot_imu"]], rate_hz=RATE)[f"{side}_foot_imu"]
    virt = ImuSeries(sig.time, sig.acc, sig.gyro, sig.valid, name="virtual")
    r = read_imu(d / "imu_sample.csv", preset="gaitmap", sensor=f"{side}_sensor")
    real = ImuSeries(r.time, r.acc, r.gyro, name="real")

    prof, _ = fit_profile([_half(virt, False)], [_half(real, False)], name="half", rate_hz=RATE)
    assert prof.alignment is not None  # the marker frame and the sensor frame differ
    test_v = _half(virt, True)
    test_r = resample_series(_half(real, True), rate_hz=RATE)
    ref = test_r.data[test_r.valid]
    before = distribution_distances(resample_series(test_v, rate_hz=RATE).data, ref)
    after = distribution_distances(apply_profile(test_v, prof).data, ref)
    for b, a in zip(before, after, strict=True):
        print(
            f"{side} {b.channel}: W {b.wasserstein:.3f} -> {a.wasserstein:.3f}, KS {b.ks:.3f} -> {a.ks:.3f}"
        )
        assert a.wasserstein < b.wasserstein and a.ks < b.ks
    # held-out half of the same walk: most of the gap closes (about 1900 samples per side, so the KS of
    # two samples of one distribution would be ~0.03-0.04)
    assert np.median([a.ks for a in after]) < 0.1
