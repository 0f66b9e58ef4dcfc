"""A command line a script can trust: usage errors, exit status, never overwriting data, empty sensors.

In-process runs go through :func:`imusynth.cli.main` (exit status from ``SystemExit``); a few go through a
subprocess ``python -m imusynth`` to see exactly what a shell sees. Everything here runs in seconds on a CPU
and needs no pose model, except where marked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from imusynth import __version__
from imusynth.batch.ingest import DownloadOptions
from imusynth.batch.manifest import MANIFEST_NAME, Manifest
from imusynth.batch.runner import run_batch
from imusynth.cli import main
from imusynth.config import KinematicsConfig, LiftConfig, OutputConfig, load_pipeline_config
from tests.batch_support import fake_process_video, synthetic_video
from tests.conftest import REPO
from tests.test_many_inputs import spin_trc


def run_sub(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "imusynth", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def exit_code(argv: list[str]) -> int:
    """Run ``imusynth ARGV`` in this process; its exit status (0 when ``main`` returns)."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def trc(tmp_path: Path) -> Path:
    """Three markers spinning at 1 rad/s about the file's y (up) axis, mm, 100 Hz, 2 s."""
    return spin_trc(tmp_path / "spin.trc")


def motion_args(trc: Path, markers: Path, out: Path | str) -> list[str]:
    return ["motion", str(trc), "-p", "body", "--placements-file", str(markers), "-o", str(out)]


# ---------------------------------------------------------------------------------------------------
# 1. usage errors: typer's message on stderr, exit 2, no traceback; --version


@pytest.mark.parametrize("argv", [
    ["--no-such-flag"],
    ["clip.mp4", "--plcement", "wrist"],
    ["clip.mp4", "--rate", "abc"],
    ["clip.mp4", "--fov", "500"],
    ["motion"],
    ["motion", "x.trc", "-o", "x.h5", "--cutoff"],   # typer gives this one no usage line
])
def test_usage_errors_exit_2_with_typer_message(tmp_path: Path, argv: list[str]) -> None:
    r = run_sub(*argv, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "Error:" in r.stderr, r.stderr
    assert "Usage: imusynth" in r.stderr or "requires an argument" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_arguments_is_an_error_with_the_help(tmp_path: Path) -> None:
    r = run_sub(cwd=tmp_path)
    assert r.returncode == 2
    assert "Usage: imusynth" in r.stdout and "motion" in r.stdout  # the help, for a person
    assert r.stderr.strip().splitlines() == [
        "imusynth: error: no VIDEO or COMMAND given (see the help above)"]


def test_usage_errors_need_no_click(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """typer 0.29 vendors click (typer._click): a fresh install has no ``click`` module at all."""
    monkeypatch.setitem(sys.modules, "click", None)  # import click -> ImportError
    assert exit_code(["--no-such-flag"]) == 2
    assert exit_code(["motion"]) == 2
    err = capsys.readouterr().err
    assert "No such option: --no-such-flag" in err and "Missing argument" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"imusynth {__version__}"


def test_help_states_real_defaults_and_flags_without_bool_metavar() -> None:
    cfg = load_pipeline_config(None)
    # the help strings quote the dataclass defaults: they must be the shipped pipeline.toml's
    assert cfg.kinematics.cutoff_hz == KinematicsConfig.cutoff_hz
    assert cfg.kinematics.max_gap_s == KinematicsConfig.max_gap_s
    assert cfg.output.rate_hz == OutputConfig.rate_hz and cfg.lift.fov_deg == LiftConfig.fov_deg
    r = run_sub("motion", "--help")
    assert f"(default {cfg.kinematics.cutoff_hz:g};" in r.stdout, r.stdout
    r = run_sub("video", "--help")
    assert r.returncode == 0
    for line in r.stdout.splitlines():
        if "--static-camera" in line or "--force" in line or "--verbose" in line:
            assert "<bool>" not in line, line


# ---------------------------------------------------------------------------------------------------
# 2. exit status: Ctrl-C -> 130, one line, no partial file; a batch with a failed video -> 1


def test_ctrl_c_midway_exits_130_and_leaves_no_file(tmp_path: Path, trc: Path, markers: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import imusynth.io.hdf5 as hdf5

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the HDF5 file is being written

    monkeypatch.setattr(hdf5, "_write_clip", interrupted)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert exit_code(motion_args(trc, markers, tmp_path / "out.h5")) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["imusynth: interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file


def test_ctrl_c_in_a_video_run_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import imusynth.video.job as job

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the video streams through the pose stage

    monkeypatch.setattr(job, "run_stages", interrupted)
    video = synthetic_video(tmp_path / "clip.mp4")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [str(video), "-o", str(tmp_path / "clip.h5"), "--plot", str(tmp_path / "clip.png")]
    assert exit_code(argv) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "imusynth: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_typer_abort_is_an_interruption(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    import imusynth.core.placements as placements

    def abort(*_a: object, **_k: object) -> None:
        raise typer.Abort()  # what typer raises for Ctrl-C (or end of input) in a prompt

    monkeypatch.setattr(placements, "builtin_placements", abort)
    assert exit_code(["placements"]) == 130
    assert capsys.readouterr().err.strip() == "imusynth: interrupted"


def test_batch_with_a_failed_video_exits_1(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "broken.mp4").write_bytes(b"not a video at all")
    r = run_sub("batch", str(videos), "-o", str(tmp_path / "out"), "--label", "walk", "--no-progress")
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "failed" in r.stdout and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------------------------------
# 3. outputs never replace inputs or existing files


def test_output_equal_to_input_is_refused(tmp_path: Path, trc: Path, markers: Path) -> None:
    data = trc.read_bytes()
    link = tmp_path / "link.trc"
    link.symlink_to(trc)
    for out in (trc, link, "spin.trc", "./sub/../spin.trc"):   # itself, a symlink, relative paths
        (tmp_path / "sub").mkdir(exist_ok=True)
        r = run_sub(*motion_args(trc, markers, out), "--force", cwd=tmp_path)
        assert r.returncode == 2, (out, r.stderr)
        assert "is the input file" in r.stderr and "Traceback" not in r.stderr
        assert trc.read_bytes() == data


def test_existing_output_needs_force(tmp_path: Path, trc: Path, markers: Path) -> None:
    out = tmp_path / "out.h5"
    out.write_bytes(b"precious")
    r = run_sub(*motion_args(trc, markers, out))
    assert r.returncode == 2 and "exists: give --force" in r.stderr and "--output" in r.stderr
    assert out.read_bytes() == b"precious"
    r = run_sub(*motion_args(trc, markers, out), "--force")
    assert r.returncode == 0, r.stderr
    assert h5py.is_hdf5(out)


def test_every_writing_command_refuses_its_input(tmp_path: Path, trc: Path, markers: Path) -> None:
    h5 = tmp_path / "spin.h5"
    assert exit_code(motion_args(trc, markers, h5)) == 0
    video = synthetic_video(tmp_path / "clip.mp4")
    profile = tmp_path / "p.toml"
    assert exit_code(["calibrate", "device", "phone", "-o", str(profile)]) == 0
    cases = [
        ["inspect", str(h5), "--plot", str(h5)],
        ["export", str(h5), "-o", str(h5), "--label", "x"],
        ["calibrate", "apply", str(profile), str(h5), "-o", str(h5)],
        ["calibrate", "apply", str(profile), str(h5), "-o", str(profile)],
        ["calibrate", "device", "phone", "-o", str(profile)],        # exists, no --force
        ["har-eval", "--test", str(h5), "--json", str(h5)],
        [str(video), "-o", str(video)],                               # `imusynth run.mp4 -o run.mp4`
        [str(video), "-o", str(tmp_path / "v.h5"), "--plot", str(video.with_suffix(".png")), "--overlay",
         str(video)],
        [str(video), "-o", str(tmp_path / "v.h5"), "--plot", str(tmp_path / "v.h5")],   # one file, 2 outputs
    ]
    files = {p: p.read_bytes() for p in (h5, video, profile)}
    for argv in cases:
        assert exit_code(argv) == 2, argv
        assert {p: p.read_bytes() for p in files} == files, argv
    assert not (tmp_path / "v.h5").exists()


def test_plot_format_follows_the_extension(tmp_path: Path, trc: Path, markers: Path) -> None:
    h5 = tmp_path / "spin.h5"
    assert exit_code(motion_args(trc, markers, h5)) == 0
    heads = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}
    for suffix, head in heads.items():
        assert exit_code(["inspect", str(h5), "--plot", str(tmp_path / f"p{suffix}")]) == 0
        assert (tmp_path / f"p{suffix}").read_bytes()[:len(head)] == head
    assert exit_code(["inspect", str(h5), "--plot", str(tmp_path / "p.jpg")]) == 2
    assert not (tmp_path / "p.jpg").exists()
    video = synthetic_video(tmp_path / "clip.mp4")
    assert exit_code([str(video), "-o", str(tmp_path / "v.h5"), "--overlay", str(tmp_path / "qa.avi")]) == 2
    assert not (tmp_path / "v.h5").exists() and not (tmp_path / "qa.avi").exists()


# ---------------------------------------------------------------------------------------------------
# 5. ranges and flag names in messages


def test_ranges_and_messages_name_flags(tmp_path: Path, trc: Path, markers: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.h5"
    assert exit_code([*motion_args(trc, markers, out), "--start", "1.5", "--end", "0.5"]) == 2
    assert "--end (0.5 s) must be after --start (1.5 s)" in capsys.readouterr().err
    assert exit_code([*motion_args(trc, markers, out), "--time-column", "t"]) == 2
    err = capsys.readouterr().err
    assert "--time-column" in err and "time_column" not in err, err
    assert exit_code([*motion_args(trc, markers, out), "--rate", "-5"]) == 2
    assert "--rate must be positive" in capsys.readouterr().err
    assert not out.exists()
    toml = tmp_path / "wide.toml"
    toml.write_text("[lift]\nfov_deg = 500\n")
    assert exit_code(["clip.mp4", "--pipeline", str(toml)]) == 2
    assert "[lift] fov_deg must be in [1, 179], got 500" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------
# 4. sensors without any valid sample: warned, "empty" in a batch, left out by gather


def fake_process_hidden_wrist(video_path: Path, out_path: Path, **kw: object) -> Path:
    """``fake_process_video``, then the sensors of a video named ``hidden*`` lose every valid sample."""
    out = fake_process_video(video_path, out_path, **kw)  # type: ignore[arg-type]
    if Path(video_path).name.startswith("hidden"):
        with h5py.File(out, "r+") as f:
            for clip in f["clips"].values():
                for s in clip["sensors"].values():
                    s["valid"][...] = False
    return out


def test_empty_items_in_batch_summary_and_gather(tmp_path: Path) -> None:
    from imusynth.batch.gather import gather

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b", "hidden"):
        synthetic_video(videos / f"{name}.mp4")
    out = tmp_path / "out"
    lines: list[str] = []
    summary = run_batch([str(videos)], out, config=load_pipeline_config(None), default_label="walk",
                        process_fn=fake_process_hidden_wrist, progress=False, echo=lines.append,
                        download=DownloadOptions(cache_dir=out / "cache", proxy=""))
    assert summary.status == {"done": 2, "empty": 1}
    assert len(summary.empties) == 1 and summary.empties[0][0].startswith("hidden")  # id: stem + path hash
    assert "no valid sample for sensor wrist" in summary.empties[0][1]
    table = "\n".join(lines)
    assert "empty" in table and "no valid sample for sensor wrist" in table
    with Manifest(out / MANIFEST_NAME, readonly=True) as m:
        assert sorted(r.empty for r in m.records()) == [False, False, True]
    g = gather(out, tmp_path / "ds.h5")
    assert g.clips == 2 and len(g.empty) == 1 and "--include-empty" in g.table()
    g = gather(out, tmp_path / "all.h5", include_empty=True)
    assert g.clips == 3 and g.empty == []
    # a rerun keeps the empty item like any done item
    again = run_batch([str(videos)], out, config=load_pipeline_config(None), default_label="walk",
                      process_fn=fake_process_hidden_wrist, progress=False, echo=lambda _m: None,
                      download=DownloadOptions(cache_dir=out / "cache", proxy=""))
    assert again.processed == 0 and again.status == {"done": 2, "empty": 1}


def test_empty_sensor_plot_says_so(tmp_path: Path, trc: Path, markers: Path) -> None:
    h5 = tmp_path / "spin.h5"
    assert exit_code(motion_args(trc, markers, h5)) == 0
    with h5py.File(h5, "r+") as f:
        f["clips/spin/sensors/body/valid"][...] = False
    svg = tmp_path / "p.svg"
    assert exit_code(["inspect", str(h5), "--plot", str(svg)]) == 0
    assert "sensor body: no valid sample" in svg.read_text()


def test_native_logs_hidden_unless_verbose() -> None:
    code = ("import os, sys\nfrom imusynth.cli._console import quiet_native_logs\n"
            "with quiet_native_logs({v}):\n    os.write(2, b'NATIVE LOG\\n')\n"
            "    print('python', file=sys.stderr)\nprint('after', file=sys.stderr)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    quiet = subprocess.run([sys.executable, "-c", code.format(v=False)], capture_output=True, text=True,
                           env=env, check=False)
    assert quiet.stderr.split() == ["python", "after"], quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code.format(v=True)], capture_output=True, text=True,
                          env=env, check=False)
    assert loud.stderr.split() == ["NATIVE", "LOG", "python", "after"], loud.stderr
