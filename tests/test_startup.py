"""Start-up stays light: the command line loads no numerical library until a command needs one (issue 17).

A timed test would be flaky on a shared machine; what makes start-up slow is which modules load, so that is
what these tests check, each in a fresh interpreter (``benchmarks/bench_startup.py`` has the timings).
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

#: modules that take tenths of a second each to import
HEAVY = ("numpy", "scipy", "h5py", "cv2", "torch", "mediapipe", "sklearn", "matplotlib", "pandas", "rich")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level packages loaded in a fresh interpreter after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout.strip().splitlines()[-1]))


def test_importing_the_command_line_loads_no_heavy_module():
    assert loaded_after("import imusynth.cli.main") == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["motion", "--help"]])
def test_help_and_version_load_no_numerical_module(argv):
    code = ("import contextlib, io\nfrom imusynth.cli.main import run\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    rc = run({argv!r})\nassert rc == 0, rc")
    # rich renders typer's help boxes; numpy and the rest stay out
    assert [m for m in loaded_after(code) if m != "rich"] == []


def test_every_command_is_listed_with_its_own_first_paragraph():
    """The listing of `imusynth --help` is built without importing the commands: it must say what they say."""
    import importlib

    import typer

    main = importlib.import_module("imusynth.cli.main")

    for name, (module, attr, summary) in main.LAZY_COMMANDS.items():
        obj = getattr(__import__(module, fromlist=[attr]), attr)
        help_text = obj.info.help if isinstance(obj, typer.Typer) else inspect.getdoc(obj)
        assert summary == inspect.cleandoc(help_text).split("\n\n")[0], name


def test_lazy_commands_run_and_typos_are_suggested(capsys):
    from imusynth.cli.main import run

    assert run(["calibrate", "--help"]) == 0
    assert "apply" in capsys.readouterr().out
    assert run(["calibrate", "aply"]) == 2
    assert "apply" in capsys.readouterr().err


def test_a_motion_job_loads_only_what_the_physics_needs(tmp_path):
    """NumPy, SciPy and h5py; not the video stack (OpenCV, MediaPipe, torch) nor scikit-learn."""
    from tests.test_many_inputs import spin_trc

    trc = spin_trc(tmp_path / "spin.trc")
    (tmp_path / "m.toml").write_text('[placements.body]\norigin = "O"\nprimary = "PX"\nsecondary = "PY"\n'
                                     'axes = ["+x", "+y", "+z"]\n')
    argv = ["motion", str(trc), "-p", "body", "--placements-file", str(tmp_path / "m.toml"), "-o",
            str(tmp_path / "o.h5")]
    code = ("import contextlib, io\nfrom imusynth.cli.main import run\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    rc = run({argv!r})\nassert rc == 0, rc")
    assert set(loaded_after(code)) <= {"numpy", "scipy", "h5py"}
    assert (tmp_path / "o.h5").is_file()


def test_video_job_import_leaves_post_processing_libraries_unloaded():
    """Issue 14 (peak memory): SciPy and h5py (about 75 MiB resident together) are needed only after the
    streaming pass (the tracker's small assignments are solved without SciPy: tests/test_assignment.py);
    importing the job and the command line (what ``imusynth video`` has loaded when the pose models load)
    must not load them, so they are never held beside the landmarkers."""
    loaded = loaded_after("import imusynth.video.job, imusynth.video.stream, imusynth.cli.main, "
                          "imusynth.cli._console")
    assert not {"scipy", "h5py"} & set(loaded), loaded


def test_post_processing_loads_h5py_for_the_writer_but_no_scipy_for_its_filters():
    # the same probe sees h5py once the writer is imported (the check can fail); the zero-phase filter and
    # the quintic spline are NumPy-only (core/iir.py, core/bspline.py): SciPy stays out of the whole job
    # (the job itself: tests/test_pipeline_synthetic.py::test_post_processing_needs_no_scipy)
    loaded = loaded_after("import numpy as np, imusynth.video.job, imusynth.io.hdf5\n"
                          "from imusynth.core.kinematics import QuinticFit, lowpass\n"
                          "x = np.random.default_rng(0).normal(size=(300, 3))\n"
                          "x = lowpass(x, rate_hz=50.0, cutoff_hz=5.0)\n"
                          "fit = QuinticFit.fit(np.arange(300) / 50.0, x.T)\n"
                          "fit.evaluate(np.arange(200) / 80.0 + 0.5, 2)")
    assert "h5py" in loaded and "scipy" not in loaded, loaded
