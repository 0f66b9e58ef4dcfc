"""Shared fixtures: the ../shared data folder, a seeded RNG, small synthetic motions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path inside ../shared; fails under CI (CI set) and skips elsewhere when it is missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        msg = f"shared data missing: {p} (see README: ../shared must sit beside the repository)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture
def shared_dir() -> Path:
    """The ../shared folder (fails under CI, skips elsewhere, when it is missing)."""
    return shared_path()


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(20261129)


@pytest.fixture
def model_dir() -> Path:
    """Folder with the MediaPipe pose models in ../shared/models."""
    return shared_path("models")


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """A placements file with one sensor ``body`` on the three markers O, PX, PY (``spin_trc``'s)."""
    f = tmp_path / "markers.toml"
    f.write_text('[placements.body]\norigin = "O"\nprimary = "PX"\nsecondary = "PY"\n'
                 'axes = ["+x", "+y", "+z"]\n')
    return f
