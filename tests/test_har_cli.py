"""``export`` and ``har-eval`` commands end to end on small files (and on BasicMotions / spsw-har)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from imusynth.cli.har import export_cmd, har_eval_cmd, har_eval_files
from imusynth.core.sensors import SensorSignals
from imusynth.errors import InputError
from imusynth.har import load_windows
from imusynth.io.hdf5 import Clip, write_clips
from tests.conftest import shared_path

app = typer.Typer()
app.command("export")(export_cmd)
app.command("har-eval")(har_eval_cmd)


def _clip_file(path: Path, rng: np.random.Generator, *, groups: list[str], amp: dict[str, float]) -> Path:
    """One clip per (group, label): acc_x is a 2 Hz sine whose amplitude tells the label, 100 Hz, 30 s."""
    clips = []
    for g in groups:
        for label, a in amp.items():
            t = np.arange(0, 30, 0.01)
            acc = 0.05 * rng.standard_normal((t.size, 3))
            acc[:, 0] += a * np.sin(2 * np.pi * 2.0 * t + rng.uniform(0, 6))
            acc[:, 2] += 9.8
            gyro = 0.05 * rng.standard_normal((t.size, 3))
            q = np.tile([1.0, 0.0, 0.0, 0.0], (t.size, 1))
            sig = SensorSignals("wrist", t, acc, gyro, q, np.ones(t.size, dtype=bool), 100.0, 20.0, "", "")
            clips.append(
                Clip(
                    clip_id=f"{g}_{label}",
                    source="synthetic",
                    source_sha256="",
                    source_kind="motion",
                    source_rate_hz=100.0,
                    duration_s=30.0,
                    config="",
                    sensors={"wrist": sig},
                    label=label,
                    group=g,
                )
            )
    return write_clips(path, clips)


def test_export_then_har_eval(tmp_path, rng) -> None:  # noqa: ANN001
    amp = {"calm": 0.5, "busy": 3.0}
    real = _clip_file(tmp_path / "real.h5", rng, groups=["s1", "s2", "s3"], amp=amp)
    virt = _clip_file(tmp_path / "virt.h5", rng, groups=["v1", "v2"], amp=amp)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "export",
            str(real),
            "--window",
            "2.56",
            "--overlap",
            "0.5",
            "--rate",
            "50",
            "-o",
            str(tmp_path / "real_w.h5"),
        ],
    )
    assert res.exit_code == 0, res.output
    ws = load_windows(tmp_path / "real_w.h5")
    # 30 s clip at 50 Hz = 1500 samples, T = 128, step 64 -> (1500 - 128) // 64 + 1 = 22 windows per clip
    assert ws.X.shape == (3 * 2 * 22, 128, 6)
    assert ws.channels[0] == "wrist.acc_x" and ws.class_names == ("busy", "calm")
    res = runner.invoke(
        app,
        [
            "har-eval",
            "--train",
            str(virt),
            "--test",
            str(tmp_path / "real_w.h5"),
            "--protocol",
            "r2r,v2r,mix2r",
            "--folds",
            "3",
            "--trees",
            "100",
            "--json",
            str(tmp_path / "rep.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "| v2r |" in res.output
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert [r["protocol"] for r in rep["results"]] == ["r2r", "v2r", "mix2r"]
    assert all(r["macro_f1"] == 1.0 for r in rep["results"])  # amplitude separates the classes exactly


def test_har_eval_with_both_classifiers(tmp_path, rng) -> None:  # noqa: ANN001
    pytest.importorskip("torch")
    amp = {"calm": 0.5, "busy": 3.0}
    real = _clip_file(tmp_path / "real.h5", rng, groups=["s1", "s2", "s3"], amp=amp)
    virt = _clip_file(tmp_path / "virt.h5", rng, groups=["v1", "v2"], amp=amp)
    runner = CliRunner()
    args = ["har-eval", "--train", str(virt), "--test", str(real), "--folds", "3", "--trees", "30"]
    out = str(tmp_path / "r.json")
    res = runner.invoke(app, [*args, "--classifier", "both", "--cnn-epochs", "8", "--json", out])
    assert res.exit_code == 0, res.output
    assert "| rf | v2r |" in res.output and "| cnn | mix2r |" in res.output and "1-D CNN" in res.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [(r["classifier"], r["protocol"]) for r in rep["results"]] == [
        (c, p) for c in ("rf", "cnn") for p in ("r2r", "v2r", "mix2r")
    ]
    assert all(r["macro_f1"] == 1.0 for r in rep["results"])  # amplitude separates the classes exactly
    for bad, msg in ((["--classifier", "svm"], "--classifier must"), (["--cnn-epochs", "0"], "--cnn-epochs")):
        res = runner.invoke(app, [*args, *bad])
        assert res.exit_code != 0 and isinstance(res.exception, InputError) and msg in str(res.exception)


def test_export_without_labels_has_no_windows(tmp_path, rng) -> None:  # noqa: ANN001
    t = np.arange(0, 5, 0.02)
    sig = SensorSignals(
        "wrist",
        t,
        np.zeros((t.size, 3)),
        np.zeros((t.size, 3)),
        np.tile([1.0, 0, 0, 0], (t.size, 1)),
        np.ones(t.size, dtype=bool),
        50.0,
        20.0,
        "",
        "",
    )
    f = write_clips(tmp_path / "x.h5", [Clip("c", "s", "", "motion", 50.0, 5.0, "", {"wrist": sig})])
    res = CliRunner().invoke(app, ["export", str(f), "-o", str(tmp_path / "w.h5")])
    # issue 10: the reason and the flag that fixes it, one line (an InputError: exit 2 from imusynth)
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    assert str(res.exception) == "no label: give --label (" + str(f) + " has no activity labels)"
    assert not (tmp_path / "w.h5").exists()
    res = CliRunner().invoke(app, ["har-eval", "--test", str(f), "--protocol", "r2r"])  # has no --label
    assert isinstance(res.exception, InputError)
    assert str(res.exception).startswith("no label: ") and "imusynth export --label" in str(res.exception)
    # labelled, but every segment (5 s) is shorter than the window: that message stays
    res = CliRunner().invoke(app, ["export", str(f), "--label", "idle", "--window", "6",
                                   "-o", str(tmp_path / "w.h5")])
    assert isinstance(res.exception, InputError) and str(res.exception).startswith("no window fits")
    res = CliRunner().invoke(app, ["export", str(f), "--label", "idle", "-o", str(tmp_path / "w.h5")])
    assert res.exit_code == 0, res.output


def test_export_errors_name_the_flags(tmp_path, rng) -> None:  # noqa: ANN001
    """Issue 10: the readers' and the windowing's parameter names reach the user as export's flags."""
    real = _clip_file(tmp_path / "real.h5", rng, groups=["s1"], amp={"calm": 0.5})
    no_time = tmp_path / "no_time.csv"  # default column names, no time column, no preset matches
    no_time.write_text("acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n" + "0,0,9.8,0,0,0\n" * 300)

    def error(*args: str) -> str:
        res = CliRunner().invoke(app, ["export", *args, "-o", str(tmp_path / "w.h5")])
        assert isinstance(res.exception, InputError), res.output
        return str(res.exception)

    assert error(str(real), "--overlap", "1").startswith("--overlap must be in [0, 1)")
    assert error(str(real), "--window", "0").startswith("--window must be > 0 s")
    assert error(str(real), "--rate", "-5").startswith("--rate must be > 0")
    no_rate = error(str(no_time), "--label", "x")
    assert no_rate.endswith("no time: give --source-rate (the file has no time column)")
    assert "--source-rate must be a positive number" in error(str(no_time), "--source-rate", "-3")
    assert error(str(no_time), "--group-by", "subject").startswith("unknown --group-by 'subject'")
    msg = error(str(shared_path("imu", "gaitmap", "imu_sample.csv")), "--preset", "gaitmap")
    assert msg.endswith("choose one with --sensor") and "sensor=" not in msg
    res = CliRunner().invoke(app, ["export", str(no_time), "--source-rate", "50", "--label", "rest",
                                   "-o", str(tmp_path / "w.h5")])
    assert res.exit_code == 0, res.output
    assert load_windows(tmp_path / "w.h5").X.shape == (3, 128, 6)  # 300 rows at 50 Hz, T 128, step 64


def test_basicmotions_r2r_end_to_end(tmp_path) -> None:  # noqa: ANN001
    d = shared_path("imu", "basicmotions")
    res = CliRunner().invoke(
        app,
        [
            "har-eval",
            "--train-real",
            str(d / "BasicMotions_TRAIN.ts"),
            "--test",
            str(d / "BasicMotions_TEST.ts"),
            "--protocol",
            "r2r",
            "--source-rate",
            "10",
            "--rate",
            "10",
            "--window",
            "2.56",
            "--overlap",
            "0.5",
            "--trees",
            "100",
            "--json",
            str(tmp_path / "bm.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "bm.json").read_text())
    # four well-separated activities (published accuracies on BasicMotions are ~1.0); chance is 0.25
    assert rep["results"][0]["macro_f1"] > 0.9
    assert rep["results"][0]["n_test"] == [240]  # 40 cases x 6 windows of 26 samples (step 13) in 100


@pytest.mark.slow
def test_spsw_har_r2r_leave_subjects_out() -> None:
    files = sorted(shared_path("imu", "spsw-har", "DATA").glob("s0*/s0*_sw.csv"))
    rep = har_eval_files(
        files,
        protocols=["r2r"],
        n_folds=6,
        n_estimators=100,
        window_s=1.0,
        overlap=0.5,
        rate_hz=50.0,
        preset="spsw_har",
        group_by="parent",
    )
    (r,) = rep.results
    assert len(rep.folds) == 6 and all(len(f) == 1 for f in rep.folds)  # leave-one-subject-out
    assert set(r.per_class_f1) == {"SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN"}
    assert r.macro_f1 > 0.6  # five classes: chance is about 0.2


def test_export_converts_units_only_on_request(tmp_path, rng) -> None:  # noqa: ANN001
    """--out-acc-unit g --out-gyro-unit deg/s --ios-sign against the SI export of the same file.

    Closed form: acc_ios = -acc_si / 9.80665, gyro_deg = gyro_si * 180 / pi; the windows are float32,
    so the comparison is at float32 precision (rtol 1e-6 of the value, atol 1e-6 for values near 0).
    """
    real = _clip_file(tmp_path / "real.h5", rng, groups=["s1"], amp={"calm": 0.5, "busy": 3.0})
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(real), "-o", str(tmp_path / "si.h5")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", str(real), "--out-acc-unit", "g", "--out-gyro-unit", "deg/s",
                              "--ios-sign", "-o", str(tmp_path / "ios.h5")])
    assert res.exit_code == 0, res.output
    si, ios = load_windows(tmp_path / "si.h5"), load_windows(tmp_path / "ios.h5")
    assert (si.acc_unit, si.gyro_unit, si.acc_sign) == ("m/s^2", "rad/s", "specific_force")
    assert (ios.acc_unit, ios.gyro_unit, ios.acc_sign) == ("g", "deg/s", "ios")
    np.testing.assert_allclose(ios.X[..., :3], -si.X[..., :3] / 9.80665, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ios.X[..., 3:], si.X[..., 3:] * 180.0 / np.pi, rtol=1e-6, atol=1e-6)
    # the clips hold 9.8 m/s^2 on z (+z up at rest): -0.999 g in the iOS sign
    assert abs(float(np.mean(ios.X[..., 2])) + 9.8 / 9.80665) < 0.01
    # windows in other units cannot be mixed with SI ones
    res = runner.invoke(app, ["har-eval", "--train", str(tmp_path / "ios.h5"),
                              "--test", str(tmp_path / "si.h5"), "--protocol", "v2r", "--folds", "2",
                              "--trees", "10"])
    assert res.exit_code != 0 and "units differ" in str(res.exception or res.output)


def test_export_refuses_unknown_output_units_before_any_work(tmp_path, rng) -> None:  # noqa: ANN001
    real = _clip_file(tmp_path / "real.h5", rng, groups=["s1"], amp={"calm": 0.5})
    res = CliRunner().invoke(app, ["export", str(real), "--out-gyro-unit", "rpm",
                                   "-o", str(tmp_path / "w.h5")])
    assert res.exit_code != 0 and "unknown gyroscope unit 'rpm'" in str(res.exception or res.output)
    assert not (tmp_path / "w.h5").exists()


def test_inspect_reads_a_windows_file(tmp_path, rng) -> None:  # noqa: ANN001
    """Issue 10: `imusynth inspect` on export's output: windows, shape, classes, groups, units."""
    from imusynth.har import WINDOWS_SCHEMA, WindowSet, save_windows
    from imusynth.io.inspect import WINDOWS_SCHEMA_PREFIX, plot_file, summary_table

    assert WINDOWS_SCHEMA.startswith(WINDOWS_SCHEMA_PREFIX)  # inspect (io) cannot import har: same prefix
    real = _clip_file(tmp_path / "real.h5", rng, groups=["s1", "s2", "s3"], amp={"calm": 0.5, "busy": 3.0})
    res = CliRunner().invoke(app, ["export", str(real), "--out-acc-unit", "g", "-o", str(tmp_path / "w.h5")])
    assert res.exit_code == 0, res.output
    # 6 clips of 30 s at 50 Hz: 22 windows each (see test_export_then_har_eval), 44 per group, 66 per class
    lines = summary_table(tmp_path / "w.h5").splitlines()
    assert lines == [
        "windows   132 x 128 samples x 6 channels (imusynth-windows/1)",
        "rate      50 Hz; window 2.56 s, overlap 0.5",
        "units     acc g (specific force), gyro rad/s; gravity included",
        "channels  wrist.acc_x, wrist.acc_y, wrist.acc_z, wrist.gyro_x, wrist.gyro_y, wrist.gyro_z",
        "classes   2: busy 66, calm 66",
        "groups    3: s1 44, s2 44, s3 44",
        "clips     6",
        f"source    {real}",
    ]
    with pytest.raises(InputError, match="is a windows file"):
        plot_file(tmp_path / "w.h5", tmp_path / "w.png")
    assert not (tmp_path / "w.png").exists()
    # many groups: the first 12 by name, then a count
    n = 15
    channels = tuple(f"p.{c}" for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"))
    groups, clips = np.array([f"g{i:02d}" for i in range(n)]), np.array([f"c{i}" for i in range(n)])
    ws = WindowSet(np.zeros((n, 4, 6), np.float32), np.zeros(n, np.int64), ("rest",), groups, clips,
                   np.zeros(n), channels, 10.0, 0.4, 0.0, "a.h5; b.h5")
    save_windows(ws, tmp_path / "many.h5")
    text = summary_table(tmp_path / "many.h5")
    assert "groups    15: g00 1, g01 1, " in text and "g11 1, ... and 3 more\n" in text and "g12" not in text
    assert text.endswith("source    a.h5 and 1 more files") and "classes   1: rest 15" in text
