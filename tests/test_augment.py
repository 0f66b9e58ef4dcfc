"""Mounting augmentation: draws follow their stated distributions, variants are the rotated (and moved)
sensor in closed form, draws are reproducible, variants reach the HDF5 file and the export modes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from imusynth.core.conventions import matrix_from_quat
from imusynth.core.mounting import (
    DEFAULT_SPEC,
    Distribution,
    MountingSpec,
    draw_mountings,
    mount,
    mounting_seed,
    parse_mounting_spec,
    split_variant,
    variant_name,
)
from imusynth.core.placements import PlacementError, builtin_placements, placements_from_dict
from imusynth.core.sensors import simulate
from imusynth.har.augmented import sample_variants
from tests.test_physics import SOURCE_HZ, interior, rigid_motion, rms, truth

N_DRAWS = 20000
KS_P_MIN = 1e-3          # a correct sampler fails this with probability 1e-3 per check; seeded, so never


def _check_distribution(values: np.ndarray, d: Distribution) -> None:
    """KS test against the stated distribution, and mean / sd within 5 standard errors."""
    n = values.size
    if d.kind == "fixed" or (d.kind == "normal" and d.b == 0):
        assert np.all(values == d.a)
        return
    ref = stats.norm(d.a, d.b) if d.kind == "normal" else stats.uniform(d.a, d.b - d.a)
    assert stats.kstest(values, ref.cdf).pvalue > KS_P_MIN
    assert abs(values.mean() - d.mean) < 5 * d.sd / np.sqrt(n)
    # sd of the sample sd: sd * sqrt((kurtosis - 1) / (4 n)); kurtosis 3 (normal) or 1.8 (uniform)
    kurt = 3.0 if d.kind == "normal" else 1.8
    assert abs(values.std(ddof=1) - d.sd) < 5 * d.sd * np.sqrt((kurt - 1) / (4 * n))
    if d.kind == "uniform":
        assert values.min() >= d.a and values.max() <= d.b


SPEC = MountingSpec(
    twist_deg=Distribution("normal", 3.0, 12.0),
    tilt_deg=Distribution("normal", 0.0, 5.0),
    along_m=Distribution("uniform", -0.03, 0.01),
    flip_p=(0.4, 0.1, 0.2, 0.3),
)


@pytest.mark.parametrize("spec", [SPEC, DEFAULT_SPEC, *[p.augment for p in builtin_placements().values()
                                                        if p.augment is not None][:6]])
def test_draws_match_their_stated_distributions(spec):
    ms = draw_mountings(spec, N_DRAWS, seed=12345)
    _check_distribution(np.array([m.twist_deg for m in ms]), spec.twist_deg)
    tilts = np.array([m.tilt_deg for m in ms])
    _check_distribution(tilts[:, 0], spec.tilt_deg)
    _check_distribution(tilts[:, 1], spec.tilt_deg)
    assert abs(np.corrcoef(tilts.T)[0, 1]) < 5 / np.sqrt(N_DRAWS)          # independent tilts
    _check_distribution(np.array([m.along_m for m in ms]), spec.along_m)
    counts = np.bincount([m.flip for m in ms], minlength=4)
    p = np.asarray(spec.flip_p)
    assert np.all(np.abs(counts - N_DRAWS * p) <= 5 * np.sqrt(N_DRAWS * p * (1 - p)) + 1e-9)


def test_a_wrong_sampler_fails_the_check():
    """The distribution check can fail: sd taken as a variance is caught."""
    ms = draw_mountings(MountingSpec(Distribution("normal", 0.0, 12.0 ** 2), DEFAULT_SPEC.tilt_deg,
                                     DEFAULT_SPEC.along_m), 5000, seed=1)
    with pytest.raises(AssertionError):
        _check_distribution(np.array([m.twist_deg for m in ms]), Distribution("normal", 0.0, 12.0))


def test_seeds_are_reproducible_and_distinct():
    assert mounting_seed("walk_01", "wrist", 0) == mounting_seed("walk_01", "wrist", 0)
    # stable across runs and machines (SHA-256, not Python's salted hash)
    assert mounting_seed("walk_01", "wrist", 0) == 7388026697466309885
    seeds = {mounting_seed(c, p, s) for c in ("a", "b") for p in ("wrist", "thigh") for s in (0, 1)}
    assert len(seeds) == 8
    a = draw_mountings(DEFAULT_SPEC, 5, mounting_seed("a", "wrist", 0))
    assert a == draw_mountings(DEFAULT_SPEC, 5, mounting_seed("a", "wrist", 0))
    assert a != draw_mountings(DEFAULT_SPEC, 5, mounting_seed("b", "wrist", 0))


def test_variant_names_round_trip():
    assert variant_name("left_wrist", 3) == "left_wrist~aug3"
    assert split_variant("left_wrist~aug3") == ("left_wrist", 3)
    assert split_variant("left_wrist") == ("left_wrist", 0)
    assert split_variant("odd~augx") == ("odd~augx", 0)


def test_mount_geometry():
    """Twist turns the lever arm about segment x, tilt does not move it, along shifts it along x."""
    from imusynth.core.mounting import Mounting

    R = np.eye(3)
    m = mount(Mounting(1, 0, 90.0, (0.0, 0.0), 0.01, 0), R, np.array([0.0, 0.0, 0.05]))
    assert np.allclose(m.lever_seg, [0.01, -0.05, 0.0], atol=1e-15)
    assert np.allclose(m.R_seg_sensor @ [0, 0, 1], [0, -1, 0], atol=1e-15)   # z turned with it
    t = mount(Mounting(1, 0, 0.0, (30.0, 0.0), 0.0, 0), R, np.array([0.0, 0.0, 0.05]))
    assert np.allclose(t.lever_seg, [0, 0, 0.05]) and np.allclose(t.offset_m, 0)
    assert np.isclose(np.degrees(np.arccos((np.trace(t.R_m) - 1) / 2)), 30.0)
    f = mount(Mounting(1, 0, 0.0, (0.0, 0.0), 0.0, 3), R, np.zeros(3))       # half turn about z
    assert np.allclose(f.R_m, np.diag([-1.0, -1.0, 1.0]))
    assert np.allclose(matrix_from_quat(f.q_m), f.R_m)


def _rigid_placement(axes=("+x", "-z", "+y"), offset=(0.0, 0.0, 0.0)):
    table = {"placements": {"s": {"origin": "o", "primary": "px", "secondary": "py", "axes": list(axes),
                                  "offset_m": list(offset)}}}
    return placements_from_dict(table)["s"]


ROTATION_ONLY = MountingSpec(Distribution("normal", 0.0, 40.0), Distribution("normal", 0.0, 15.0),
                             Distribution("fixed", 0.0), (0.25, 0.25, 0.25, 0.25))


def test_rotated_variant_is_the_rotated_base_in_closed_form():
    """Zero offset: a variant reads R_m^T times the base (acc and gyro), its orientation is R_base R_m."""
    t = np.arange(0.0, 10.0, 1 / SOURCE_HZ)
    p = _rigid_placement()
    ms = draw_mountings(ROTATION_ONLY, 6, seed=7)
    out = simulate(rigid_motion(t), [p], rate_hz=50.0, cutoff_hz=None, mountings={"s": ms})
    assert list(out) == ["s"] + [f"s~aug{k}" for k in range(1, 7)]
    base = out["s"]
    v = base.valid
    assert v.sum() > 400
    for k in range(1, 7):
        var = out[f"s~aug{k}"]
        Rm = matrix_from_quat(var.attrs["mounting_quat"])
        assert np.array_equal(var.valid, base.valid)
        # float64 rounding of a few products of O(10) m/s^2 values
        assert np.abs(var.acc[v] - base.acc[v] @ Rm).max() < 1e-12
        assert np.abs(var.gyro[v] - base.gyro[v] @ Rm).max() < 1e-13
        R_var = matrix_from_quat(var.orientation[v])
        assert np.abs(R_var - matrix_from_quat(base.orientation[v]) @ Rm).max() < 1e-12
        assert np.allclose(var.attrs["mounting_offset_m"], 0.0, atol=1e-15)
        assert not np.allclose(Rm, np.eye(3))


def test_variant_with_lever_arm_matches_rigid_body_truth():
    """With an offset, a variant is a sensor at offset + mounting_offset_m, rotated by R_m (closed form)."""
    t = np.arange(0.0, 12.0, 1 / SOURCE_HZ)
    offset = np.array([0.05, -0.02, 0.03])
    p = _rigid_placement(axes=("+x", "+y", "+z"), offset=offset)
    ms = draw_mountings(MountingSpec(Distribution("normal", 0.0, 30.0), Distribution("normal", 0.0, 10.0),
                                     Distribution("uniform", -0.05, 0.05)), 4, seed=3)
    out = simulate(rigid_motion(t), [p], rate_hz=50.0, cutoff_hz=None, mountings={"s": ms})
    m = interior(out["s"].time) & out["s"].valid
    for k in range(1, 5):
        var = out[f"s~aug{k}"]
        Rm = matrix_from_quat(var.attrs["mounting_quat"])
        d = var.attrs["mounting_offset_m"]
        assert np.linalg.norm(d) > 1e-3
        _, _, w, f = truth(var.time, offset + d)
        # the same bound as the base sensor's closed-form test (tests/test_physics.py)
        assert rms(var.acc[m] - f[m] @ Rm) < 1e-3 * rms(f[m])
        assert rms(var.gyro[m] - w[m] @ Rm) < 1e-3 * rms(w[m])


def test_base_is_unchanged_by_augmentation():
    t = np.arange(0.0, 6.0, 1 / SOURCE_HZ)
    p = _rigid_placement(offset=(0.01, 0.02, 0.03))
    plain = simulate(rigid_motion(t), [p], rate_hz=50.0, cutoff_hz=None)["s"]
    aug = simulate(rigid_motion(t), [p], rate_hz=50.0, cutoff_hz=None,
                   mountings={"s": draw_mountings(DEFAULT_SPEC, 3, 1)})["s"]
    v = plain.valid
    assert np.array_equal(plain.valid, aug.valid)
    assert np.abs(plain.acc[v] - aug.acc[v]).max() < 1e-11          # one spline instead of two: rounding
    assert np.array_equal(plain.gyro[v], aug.gyro[v])
    assert np.array_equal(plain.orientation[v], aug.orientation[v])


def test_spec_parsing_and_errors():
    spec = parse_mounting_spec({"twist_deg": {"dist": "uniform", "low": -5, "high": 5}, "along_m": 0.01})
    assert spec.twist_deg == Distribution("uniform", -5.0, 5.0)
    assert spec.along_m == Distribution("fixed", 0.01)
    assert spec.tilt_deg == DEFAULT_SPEC.tilt_deg
    bad = [{"twist": 1.0}, {"twist_deg": {"dist": "normal", "mean": 0}}, {"tilt_deg": {"dist": "normal",
           "mean": 0, "sd": -1}}, {"along_m": {"dist": "uniform", "low": 1, "high": 0}},
           {"flip_p": [0.5, 0.5, 0.5, 0.5]}, {"flip_p": [1, 0, 0]}, {"twist_deg": {"dist": "cauchy"}}]
    for table in bad:
        doc = {"placements": {"s": {"origin": "o", "primary": "px", "secondary": "py",
                                    "axes": ["+x", "+y", "+z"], "augment": table}}}
        with pytest.raises(PlacementError, match=r"\[augment\]"):
            placements_from_dict(doc)


def test_variants_reach_the_file_and_every_export_mode(tmp_path):
    from imusynth.cli.har import windows_from_files
    from imusynth.io.hdf5 import Clip, read_clips, write_clips

    t = np.arange(0.0, 12.0, 1 / SOURCE_HZ)
    motion = rigid_motion(t)
    p = _rigid_placement(offset=(0.0, 0.0, 0.02))
    n = 3
    sensors = simulate(motion, [p], rate_hz=50.0, cutoff_hz=None,
                       mountings={"s": draw_mountings(DEFAULT_SPEC, n, mounting_seed("c1", "s", 0))})
    clip = Clip(clip_id="c1", source="synthetic", source_sha256="0" * 64, source_kind="motion",
                source_rate_hz=SOURCE_HZ, duration_s=float(t[-1]), config="", sensors=sensors, label="spin",
                group="subject1")
    path = tmp_path / "aug.h5"
    write_clips(path, [clip])
    back = read_clips(path)[0].sensors
    assert list(back) == list(sensors)
    for k in range(1, n + 1):
        a = back[f"s~aug{k}"].attrs
        assert a["augment_of"] == "s" and a["augment_index"] == k
        assert np.allclose(a["mounting_quat"], sensors[f"s~aug{k}"].attrs["mounting_quat"])
        assert a["augment_seed"] == mounting_seed("c1", "s", 0)
    assert back["s"].attrs == {}

    kw = {"window_s": 2.0, "overlap": 0.5, "rate_hz": 50.0}
    none = windows_from_files([path], augmented="none", **kw)
    stack = windows_from_files([path], augmented="stack", **kw)
    stack_p = windows_from_files([path], augmented="stack", placements=["s"], **kw)
    sample = windows_from_files([path], augmented="sample", seed=4, **kw)
    assert none.channels == stack.channels == sample.channels == tuple(
        f"s.{c}" for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"))
    assert len(none) > 3
    assert len(stack) == (n + 1) * len(none) == len(stack_p)
    assert set(stack.clip.tolist()) == {"c1"} | {f"c1~aug{k}" for k in range(1, n + 1)}
    assert set(stack.group.tolist()) == {"subject1"}          # variants stay in their clip's group
    assert len(sample) == len(none)
    assert np.array_equal(np.sort(sample.start_s), np.sort(none.start_s))
    assert len(set(sample.clip.tolist())) > 1                 # a mix of base and variants
    # each sampled window is the stacked window of the same clip and start
    for i in range(len(sample)):
        j = np.flatnonzero((stack.clip == sample.clip[i]) & (stack.start_s == sample.start_s[i]))
        assert j.size == 1 and np.array_equal(stack.X[j[0]], sample.X[i])
    again = windows_from_files([path], augmented="sample", seed=4, **kw)
    assert np.array_equal(again.clip, sample.clip)
    assert sample_variants(none).clip.tolist() == none.clip.tolist()


def test_motion_cli_augment(tmp_path):
    from tests.test_cli_motion import run, write_trc

    t = np.arange(0.0, 6.0, 0.01)
    c, R, _, _ = truth(t)
    xyz = np.stack([c, c + 0.3 * R[:, :, 0], c + 0.3 * R[:, :, 1]], axis=1) * 1000.0
    trc = tmp_path / "spin.trc"
    write_trc(trc, t, ["o", "px", "py"], xyz)
    pl = tmp_path / "p.toml"
    pl.write_text('[placements.s]\norigin = "o"\nprimary = "px"\nsecondary = "py"\n'
                  'axes = ["+x", "+y", "+z"]\n[placements.s.augment]\n'
                  'twist_deg = { dist = "uniform", low = -90, high = 90 }\n')
    out1, out2 = tmp_path / "a.h5", tmp_path / "b.h5"
    for out in (out1, out2):
        r = run("motion", str(trc), "--placements-file", str(pl), "-p", "s", "--augment", "2", "-o", str(out))
        assert r.returncode == 0, r.stderr
    import h5py

    with h5py.File(out1) as f1, h5py.File(out2) as f2:
        s1, s2 = f1["clips/spin/sensors"], f2["clips/spin/sensors"]
        assert sorted(s1) == ["s", "s~aug1", "s~aug2"]
        for k in ("s~aug1", "s~aug2"):          # reproducible: same clip id, same seed
            assert np.array_equal(s1[k]["acc"][()], s2[k]["acc"][()])
            assert abs(float(s1[k].attrs["mounting_twist_deg"])) <= 90
    r = run("motion", str(trc), "--placements-file", str(pl), "-p", "s", "--augment", "-1", "-o",
            str(tmp_path / "c.h5"))
    assert r.returncode == 2 and "--augment" in r.stderr


def test_calibrate_apply_follows_the_variants(tmp_path):
    """A profile applied to ``wrist`` also calibrates ``wrist~augK``, whose mounting attrs are kept."""
    from imusynth.cli.calibrate import apply_file
    from imusynth.io.hdf5 import Clip, read_clips, write_clips

    t = np.arange(0.0, 6.0, 1 / SOURCE_HZ)
    p = _rigid_placement()
    sensors = simulate(rigid_motion(t), [p], rate_hz=50.0, cutoff_hz=None,
                       mountings={"s": draw_mountings(DEFAULT_SPEC, 2, 9)})
    src = tmp_path / "v.h5"
    write_clips(src, [Clip(clip_id="c", source="synthetic", source_sha256="0" * 64, source_kind="motion",
                           source_rate_hz=SOURCE_HZ, duration_s=float(t[-1]), config="", sensors=sensors)])
    prof = tmp_path / "dev.toml"
    from tests.test_cli_motion import run

    assert run("calibrate", "device", "smartwatch", "-o", str(prof)).returncode == 0
    out, _ = apply_file(prof, src, tmp_path / "cal.h5", placements=["s"])
    before, after = read_clips(src)[0].sensors, read_clips(out)[0].sensors
    assert list(after) == ["s", "s~aug1", "s~aug2"]
    for name in after:
        assert not np.array_equal(after[name].acc, before[name].acc)        # device noise added to each
        assert sorted(after[name].attrs) == sorted(before[name].attrs)
        for key, value in before[name].attrs.items():
            assert np.array_equal(after[name].attrs[key], value)
    assert "mounting_quat" in after["s~aug2"].attrs
