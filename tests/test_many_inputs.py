"""Datasets, not files (issue 17): many inputs per command in one process, failures per input, one output.

``motion``, ``calibrate apply``, ``export`` and ``gather`` take files, folders, globs and manifest CSV files;
one bad input is reported on one line with its reason and the rest is kept (exit status 1); usage errors
are exit status 2. A calibration profile is stored once per file.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from imusynth.cli.main import run
from imusynth.io.hdf5 import read_clips, validate_file
from imusynth.io.inputs import InputItem, expand_inputs, unique_ids
from tests.test_cli_motion import write_trc


def spin_trc(path: Path, *, rate_rad_s: float = 1.0, seconds: float = 2.0) -> Path:
    """Three markers spinning at ``rate_rad_s`` about the file's y (up) axis, mm, 100 Hz."""
    t = np.arange(0, seconds, 0.01)
    a = rate_rad_s * t
    o = np.stack([0 * t, 1000 + 0 * t, 0 * t], -1)
    px = o + 300 * np.stack([np.cos(a), 0 * t, -np.sin(a)], -1)
    py = o + 300 * np.stack([np.sin(a), 0 * t, np.cos(a)], -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_trc(path, t, ["O", "PX", "PY"], np.stack([o, px, py], 1))
    return path


@pytest.fixture
def trials(tmp_path: Path) -> Path:
    """s01/walk.trc (1 rad/s), s02/walk.trc (2 rad/s), s02/run.trc (3 rad/s) and s02/bad.trc (junk)."""
    root = tmp_path / "trials"
    spin_trc(root / "s01" / "walk.trc", rate_rad_s=1.0)
    spin_trc(root / "s02" / "walk.trc", rate_rad_s=2.0)
    spin_trc(root / "s02" / "run.trc", rate_rad_s=3.0)
    (root / "s02" / "bad.trc").write_bytes(b"\x00\x01garbage")
    (root / "s02" / "notes.md").write_text("not a motion file")
    return root


def gyro_z(path: Path, clip: str) -> float:
    with h5py.File(path) as f:
        g = f[f"clips/{clip}/sensors/body"]
        gyro, valid = g["gyro"][()], g["valid"][()]
    return float(np.median(gyro[valid, 2]))


# ---------------------------------------------------------------------------------------------------
# input expansion


def test_expand_files_folders_globs_and_manifests(tmp_path, trials):
    suff = (".trc",)
    ins = expand_inputs([trials / "s01" / "walk.trc"], suffixes=suff)
    assert not ins.many and [i.path for i in ins.items] == [trials / "s01" / "walk.trc"]
    ins = expand_inputs([trials], suffixes=suff)
    assert ins.many and [i.path.relative_to(trials).as_posix() for i in ins.items] == [
        "s01/walk.trc", "s02/bad.trc", "s02/run.trc", "s02/walk.trc"]
    ins = expand_inputs([str(trials / "*" / "w*.trc")], suffixes=suff)
    assert [i.path.parent.name for i in ins.items] == ["s01", "s02"]
    man = tmp_path / "list.csv"
    man.write_text("path,label,group\ntrials/s01/walk.trc,walking,s01\ntrials/s02/run.trc,running,\n")
    ins = expand_inputs([man], suffixes=suff)
    assert ins.items == [InputItem(tmp_path / "trials/s01/walk.trc", "walking", "s01"),
                         InputItem(tmp_path / "trials/s02/run.trc", "running", None)]
    # a motion CSV is not a manifest
    motion_csv = tmp_path / "m.csv"
    motion_csv.write_text("time,path_x,path_y\n0,1,2\n")
    assert expand_inputs([motion_csv], suffixes=(".csv",)).items == [InputItem(motion_csv)]
    from imusynth.io.inputs import InputsError

    with pytest.raises(InputsError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.nope")], suffixes=suff)
    with pytest.raises(InputsError, match="holds no"):
        expand_inputs([trials], suffixes=(".c3d",))


def test_unique_ids_prefix_the_nearest_folder_then_farther():
    ids, renamed = unique_ids(["walk", "walk", "run", "walk"],
                              [["s01", "a"], ["s02", "a"], ["s02", "a"], ["s01", "b"]])
    assert ids == ["a.s01.walk", "a.s02.walk", "run", "b.s01.walk"]
    assert renamed == [("walk", "a.s01.walk"), ("walk", "a.s02.walk"), ("walk", "b.s01.walk")]
    ids, _ = unique_ids(["x", "x"], [["same"], ["same"]])     # nothing tells them apart: a counter
    assert ids == ["same.x", "same.x.2"]


# ---------------------------------------------------------------------------------------------------
# motion


def test_motion_folder_one_dataset_one_failure_reported_rest_kept(tmp_path, trials, markers, capsys):
    out = tmp_path / "dataset.h5"
    rc = run(["motion", str(trials), "-p", "body", "--placements-file", str(markers), "--label", "spin",
              "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    failed = [ln for ln in cap.err.splitlines() if ln.startswith("imusynth: failed:")]
    assert len(failed) == 1 and "bad.trc" in failed[0], cap.err
    assert "motion: 3 of 4 input(s) done, 1 failed" in cap.out
    assert "s01.walk" in cap.out                                    # the renaming is reported
    assert validate_file(out) == []
    clips = {c.clip_id: c for c in read_clips(out, with_motion=False)}
    assert sorted(clips) == ["run", "s01.walk", "s02.walk"]
    assert {c.label for c in clips.values()} == {"spin"}
    # each clip holds its own file's motion: -rate about sensor z (see test_cli_motion)
    for clip, rate in (("s01.walk", 1.0), ("s02.walk", 2.0), ("run", 3.0)):
        assert gyro_z(out, clip) == pytest.approx(-rate, abs=2e-3)


def test_motion_all_good_exit_0_manifest_labels_and_out_dir(tmp_path, trials, markers, capsys):
    (trials / "s02" / "bad.trc").unlink()
    man = tmp_path / "manifest.csv"
    man.write_text("path,label,group,clip_id\n"
                   f"{trials / 's01' / 'walk.trc'},walking,s01,\n"
                   "trials/s02/run.trc,running,s02,run_s02\n")
    out = tmp_path / "m.h5"
    assert run(["motion", str(man), "-p", "body", "--placements-file", str(markers), "-o", str(out)]) == 0
    clips = {c.clip_id: c for c in read_clips(out, with_motion=False)}
    assert {k: (c.label, c.group) for k, c in clips.items()} == {"walk": ("walking", "s01"),
                                                                 "run_s02": ("running", "s02")}
    capsys.readouterr()
    od = tmp_path / "each"
    args = ["motion", str(trials / "s01" / "walk.trc"), str(trials / "s02"), "-p", "body",
            "--placements-file", str(markers), "--out-dir", str(od)]
    assert run(args) == 0
    assert sorted(p.name for p in od.iterdir()) == ["run.h5", "s01.walk.h5", "s02.walk.h5"]
    assert gyro_z(od / "s02.walk.h5", "s02.walk") == pytest.approx(-2.0, abs=2e-3)
    # existing outputs need --force; nothing was replaced
    before = (od / "run.h5").stat().st_mtime_ns
    assert run(args) == 2
    assert "exists: give --force" in capsys.readouterr().err
    assert (od / "run.h5").stat().st_mtime_ns == before
    assert run([*args, "--force"]) == 0


def test_motion_usage_errors_exit_2_and_a_single_file_keeps_its_errors(tmp_path, trials, markers, capsys):
    pf = ["-p", "body", "--placements-file", str(markers)]
    walk = str(trials / "s01" / "walk.trc")
    assert run(["motion", walk, *pf]) == 2                                        # no output named
    assert "-o FILE" in capsys.readouterr().err
    assert run(["motion", walk, *pf, "-o", str(tmp_path / "a.h5"), "--out-dir", str(tmp_path)]) == 2
    assert run(["motion", str(trials), *pf, "--clip-id", "x", "-o", str(tmp_path / "a.h5")]) == 2
    assert run(["motion", str(tmp_path / "nothing" / "*.trc"), *pf, "-o", str(tmp_path / "a.h5")]) == 2
    capsys.readouterr()
    # one plain file: its error is the command's error (exit 2, one line), as before
    assert run(["motion", str(trials / "s02" / "bad.trc"), *pf, "-o", str(tmp_path / "b.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("imusynth: error:")
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists()
    # the output may not be one of the inputs
    assert run(["motion", str(trials), *pf, "-o", walk, "--force"]) == 2
    assert "input file" in capsys.readouterr().err


def test_motion_every_input_failing_writes_nothing(tmp_path, markers, capsys):
    for k in range(2):
        (tmp_path / "in" / f"bad{k}.trc").parent.mkdir(exist_ok=True)
        (tmp_path / "in" / f"bad{k}.trc").write_bytes(b"junk")
    out = tmp_path / "none.h5"
    assert run(["motion", str(tmp_path / "in"), "-p", "body", "--placements-file", str(markers), "-o",
                str(out)]) == 1
    cap = capsys.readouterr()
    assert cap.err.count("imusynth: failed:") == 2 and "nothing written" in cap.out
    assert not out.exists() and not list(tmp_path.glob(".none.h5*"))


# ---------------------------------------------------------------------------------------------------
# calibrate apply: many inputs, the profile stored once per file


def virtual_file(path: Path, ids: list[str], *, seed: int = 0, seconds: float = 5.0, sensor: str = "wrist",
                 label: str = "walk") -> Path:
    """Clips with one sensor (``wrist``): noise about gravity on z, 50 Hz."""
    from imusynth.core.sensors import SensorSignals
    from imusynth.io.hdf5 import Clip, write_clips

    rng = np.random.default_rng(seed)
    clips = []
    for cid in ids:
        t = np.arange(int(seconds * 50)) / 50.0
        acc = rng.normal(0, 1, (t.size, 3)) + [0, 0, 9.80665]
        gyro = rng.normal(0, 0.5, (t.size, 3))
        q = np.tile([1.0, 0, 0, 0], (t.size, 1))
        sig = SensorSignals(sensor, t, acc, gyro, q, np.ones(t.size, bool), 50.0, 12.0, "test", "[x]")
        clips.append(Clip(cid, "synthetic", "", "motion", 50.0, float(t[-1]), "", {sensor: sig},
                          label=label, group=cid))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_clips(path, clips)


@pytest.fixture(scope="module")
def big_profile(tmp_path_factory) -> tuple[Path, str]:
    """A profile of about 5 MB of TOML: quantile maps with 20001 knots per channel."""
    from imusynth.calibrate import CalibrationProfile, fit_mapping, save_profile

    rng = np.random.default_rng(1)
    v, r = rng.normal(0, 1, (60000, 6)), rng.normal(0, 2, (60000, 6))
    prof = CalibrationProfile(name="big", mapping=fit_mapping(v, r, n_knots=20001))
    path = save_profile(prof, tmp_path_factory.mktemp("prof") / "big.toml")
    text = path.read_text(encoding="utf-8")
    assert len(text) > 4_000_000
    return path, text


def test_a_profile_applied_to_ten_clips_is_stored_once(tmp_path, big_profile):
    import hashlib

    prof, text = big_profile
    src = virtual_file(tmp_path / "ten.h5", [f"c{k}" for k in range(10)])
    out = tmp_path / "cal.h5"
    assert run(["calibrate", "apply", str(prof), str(src), "-o", str(out)]) == 0
    growth = out.stat().st_size - src.stat().st_size
    size = len(text.encode("utf-8"))
    assert 0.8 * size < growth < 1.2 * size, (growth, size)        # one profile, not ten
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with h5py.File(out) as f:
        assert list(f["profiles"]) == [sha]
        assert {f[f"clips/c{k}"].attrs["calibration_profile_sha256"] for k in range(10)} == {sha}
        assert not any("calibration_profile_toml" in g.attrs for g in f["clips"].values())
    clips = read_clips(out)
    assert all(c.attrs["calibration_profile_toml"] == text and c.attrs["calibration_profile"] == "big"
               for c in clips)
    assert validate_file(out) == []
    # rewriting the clips (gather, a second apply) keeps one copy
    from imusynth.io.hdf5 import write_clips

    again = write_clips(tmp_path / "again.h5", clips)
    assert abs(again.stat().st_size - out.stat().st_size) < 0.05 * size


def test_apply_many_inputs_one_dataset_ids_kept_apart_and_a_failure(tmp_path, big_profile, capsys):
    prof, text = big_profile
    virtual_file(tmp_path / "in" / "a.h5", ["c0", "c1"], seed=1)
    virtual_file(tmp_path / "in" / "b.h5", ["c0", "c2"], seed=2)
    (tmp_path / "in" / "broken.h5").write_bytes(b"not hdf5")
    out = tmp_path / "cal.h5"
    rc = run(["calibrate", "apply", str(prof), str(tmp_path / "in"), "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1
    failed = [ln for ln in cap.err.splitlines() if ln.startswith("imusynth: failed:")]
    assert len(failed) == 1 and "broken.h5" in failed[0], cap.err
    assert "2 of 3 input(s) done, 1 failed" in cap.out and "b.c0" in cap.out
    clips = {c.clip_id: c for c in read_clips(out)}
    assert sorted(clips) == ["b.c0", "c0", "c1", "c2"]
    assert clips["b.c0"].source == "synthetic" and clips["b.c0"].group == "c0"
    with h5py.File(out) as f:
        assert len(f["profiles"]) == 1
    assert out.stat().st_size < 1.3 * len(text)
    # one file per input, all good: exit 0
    (tmp_path / "in" / "broken.h5").unlink()
    od = tmp_path / "each"
    assert run(["calibrate", "apply", str(prof), str(tmp_path / "in" / "*.h5"), "--out-dir", str(od)]) == 0
    assert sorted(p.name for p in od.iterdir()) == ["a.h5", "b.h5"]
    assert [c.clip_id for c in read_clips(od / "b.h5")] == ["c0", "c2"]


# ---------------------------------------------------------------------------------------------------
# gather: any imusynth/1 files


def test_gather_any_files_ids_kept_apart_manifest_labels_and_a_failure(tmp_path, capsys):
    a = virtual_file(tmp_path / "s01" / "walk.h5", ["t1", "t2"], seed=1)
    b = virtual_file(tmp_path / "s02" / "walk.h5", ["t1"], seed=2)
    c = virtual_file(tmp_path / "s02" / "run.h5", ["t3"], seed=3)
    (tmp_path / "s02" / "junk.h5").write_bytes(b"junk")
    out = tmp_path / "all.h5"
    rc = run(["gather", str(a), str(tmp_path / "s02"), "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1
    failed = [ln for ln in cap.err.splitlines() if ln.startswith("imusynth: failed:")]
    assert len(failed) == 1 and failed[0].startswith(f"imusynth: failed: {tmp_path / 's02' / 'junk.h5'}: ")
    assert "gathered 4 clip(s) from 3 file(s)" in cap.out and "walk.t1" in cap.out
    clips = {k.clip_id: k for k in read_clips(out)}
    assert sorted(clips) == ["t1", "t2", "t3", "walk.t1"]
    # each clip is its own file's: same samples as the source
    (src,) = read_clips(b)
    np.testing.assert_array_equal(clips["walk.t1"].sensors["wrist"].acc, src.sensors["wrist"].acc)
    assert clips["walk.t1"].source == src.source
    # a manifest labels and groups the files' clips; all good: exit 0
    man = tmp_path / "m.csv"
    man.write_text(f"path,label,group\n{a},walking,s01\n{c},running,s02\n")
    assert run(["gather", str(man), "-o", str(tmp_path / "lab.h5")]) == 0
    got = {k.clip_id: (k.label, k.group) for k in read_clips(tmp_path / "lab.h5")}
    assert got == {"t1": ("walking", "s01"), "t2": ("walking", "s01"), "t3": ("running", "s02")}
    # batch-only options with files are a usage error
    assert run(["gather", str(a), "--include-empty", "-o", str(tmp_path / "x.h5")]) == 2


# ---------------------------------------------------------------------------------------------------
# export: many inputs, sensors stacked by role


def test_export_stacks_sensors_by_role_into_one_windows_file(tmp_path, capsys):
    from imusynth.har import load_windows

    left = virtual_file(tmp_path / "d" / "left.h5", ["l1", "l2"], seed=1, sensor="left_wrist", label="walk")
    right = virtual_file(tmp_path / "d" / "right.h5", ["r1"], seed=2, sensor="right_wrist", label="run")
    thigh = virtual_file(tmp_path / "d" / "thigh.h5", ["t1"], seed=3, sensor="thigh", label="sit")
    out = tmp_path / "w.h5"
    rc = run(["export", str(tmp_path / "d"), "--as", "wrist=right_wrist,left_wrist", "--window", "1",
              "--overlap", "0", "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1                                                   # thigh.h5 has no wrist: reported
    failed = [ln for ln in cap.err.splitlines() if ln.startswith("imusynth: failed:")]
    assert len(failed) == 1 and "thigh.h5" in failed[0] and "right_wrist, left_wrist" in failed[0], cap.err
    ws = load_windows(out)
    assert ws.channels[:3] == ("wrist.acc_x", "wrist.acc_y", "wrist.acc_z") and len(ws.channels) == 6
    assert set(ws.class_names) == {"walk", "run"}
    assert sorted(set(ws.clip.tolist())) == ["l1", "l2", "r1"]
    # the role's windows are exactly those of the named sensor exported alone
    alone = tmp_path / "r.h5"
    assert run(["export", str(right), "-p", "right_wrist", "--window", "1", "--overlap", "0",
                "-o", str(alone)]) == 0
    ref = load_windows(alone)
    mine = ws.X[ws.clip == "r1"]
    assert mine.shape == ref.X.shape and len(ref) == 5
    np.testing.assert_array_equal(mine, ref.X)
    # without --as the second input's channels differ: reported, the first kept
    capsys.readouterr()
    assert run(["export", str(left), str(right), "--window", "1", "-o", str(tmp_path / "x.h5")]) == 1
    err = capsys.readouterr().err
    assert "right.h5" in err and "--as" in err
    with pytest.raises(Exception, match="ROLE=SENSOR"):
        from imusynth.har.roles import parse_roles

        parse_roles(["wrist"])
    # one windows file per input, the manifest's group replacing the clips'
    man = tmp_path / "m.csv"
    man.write_text(f"path,label,group\n{left},,subject1\n{right},,subject2\n")
    od = tmp_path / "each"
    assert run(["export", str(man), "--as", "wrist=right_wrist,left_wrist", "--window", "1",
                "--out-dir", str(od)]) == 0
    assert sorted(p.name for p in od.iterdir()) == ["left.h5", "right.h5"]
    assert set(load_windows(od / "left.h5").group.tolist()) == {"subject1"}
    del thigh


# ---------------------------------------------------------------------------------------------------
# compare: many pairs in one process


def test_compare_pairs_one_result_per_row_and_a_failure(tmp_path, capsys):
    import json

    from tests.test_compare import OFFSET_S, Motion3, _write_files

    rng = np.random.default_rng(20240611)
    motion = Motion3(freq=rng.uniform(0.2, 3.0, (2, 3, 5)), phase=rng.uniform(0.0, 2 * np.pi, (2, 3, 5)),
                     amp=rng.uniform(0.3, 1.0, (2, 3, 5)))
    h5, real = _write_files(tmp_path, motion, n_clips=2)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"virtual,real,clip\n{h5.name},{real.name},walk0\n{h5.name},{real.name},walk1\n"
                     f"{h5.name},missing.csv,walk0\n")
    rc = run(["compare", "--pairs", str(pairs), "-p", "left_foot", "--real-preset", "xsens_dot",
              "--offset-guess", "1000", "--max-lag", "5", "--json"])
    cap = capsys.readouterr()
    assert rc == 1
    failed = [ln for ln in cap.err.splitlines() if ln.startswith("imusynth: failed:")]
    assert len(failed) == 1 and "[walk0] vs" in failed[0] and "missing.csv" in failed[0], cap.err
    docs = json.loads(cap.out[: cap.out.rindex("]") + 1])
    assert [d["clip"] for d in docs] == ["walk0", "walk1"]
    for d in docs:       # each pair scored as a single call scores it (test_compare)
        assert d["offset_s"] == pytest.approx(1000.0 + OFFSET_S, abs=1e-3)
    assert "compare: 2 of 3 input(s) done, 1 failed" in cap.out
    assert run(["compare", str(h5), "--pairs", str(pairs), "-p", "left_foot"]) == 2    # one form or the other
