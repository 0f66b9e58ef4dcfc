"""SMPL model files: layouts, the missing-model message, .npz, and .pkl with chumpy objects but no chumpy."""

from __future__ import annotations

import importlib.util
import io
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from imusynth.body.smpl.loading import (
    SMPL_PARENTS,
    ChumpyFreeUnpickler,
    SmplModelError,
    find_model_file,
    load_model,
    model_from_dict,
    read_model_dict,
)
from imusynth.body.smpl.synthetic import REST_JOINTS, synthetic_model_data, write_synthetic_model
from imusynth.errors import InputError


def _write_chumpy_pickle(path: Path, data: dict) -> None:
    """Pickle ``data`` as an official SMPL file is: arrays wrapped in ``chumpy.ch.Ch`` objects (whose state
    holds the value under ``x``), ``J_regressor`` as a scipy sparse matrix, protocol 2. The chumpy module is
    faked for the dump only and removed afterwards, so reading must do without it."""

    class Ch:  # stands for chumpy.ch.Ch: pickles its __dict__, the value in 'x'
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars: set[str] = set()
            self._itr = None
            self._depends_on_deps: dict[str, object] = {}

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    fake_pkg = types.ModuleType("chumpy")
    fake_ch = types.ModuleType("chumpy.ch")
    fake_ch.Ch = Ch  # type: ignore[attr-defined]
    fake_pkg.ch = fake_ch  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = fake_pkg, fake_ch
    try:
        wrapped = dict(data)
        for key in ("v_template", "shapedirs", "weights", "J"):
            wrapped[key] = Ch(np.asarray(data[key]))
        wrapped["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
        with open(path, "wb") as fh:
            pickle.dump(wrapped, fh, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_chumpy_style_pkl_loads_without_chumpy(tmp_path: Path) -> None:
    data = synthetic_model_data()
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    _write_chumpy_pickle(path, data)
    assert "chumpy" not in sys.modules and importlib.util.find_spec("chumpy") is None
    assert b"chumpy.ch" in path.read_bytes()  # the file really references chumpy
    with pytest.raises(ModuleNotFoundError):  # a plain unpickler cannot read it here
        pickle.loads(path.read_bytes(), encoding="latin1")
    model = load_model(tmp_path)
    # the arrays come back bit for bit (the stand-in returns the pickled ndarray itself)
    np.testing.assert_array_equal(model.v_template, data["v_template"])
    np.testing.assert_array_equal(model.shapedirs, data["shapedirs"])
    np.testing.assert_array_equal(model.weights, data["weights"])
    np.testing.assert_array_equal(model.J_regressor, data["J_regressor"])
    np.testing.assert_array_equal(model.faces, data["f"].astype(np.int64))
    assert tuple(model.parents.tolist()) == SMPL_PARENTS
    # exact designed joints: the regressor averages rings centred on them (float rounding only)
    np.testing.assert_allclose(model.rest_joints(), REST_JOINTS, atol=1e-12)
    assert len(model.sha256) == 64 and model.source.endswith("SMPL_NEUTRAL.pkl")


def test_npz_and_plain_pkl_give_the_same_model(tmp_path: Path) -> None:
    a = load_model(write_synthetic_model(tmp_path / "a", fmt="npz"))
    b = load_model(write_synthetic_model(tmp_path / "b", fmt="pkl"))
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "faces"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert a.vertex_ids == b.vertex_ids and len(a.vertex_ids) == 21


def test_folder_layouts(tmp_path: Path) -> None:
    write_synthetic_model(tmp_path / "smpl", fmt="pkl", gender="male")
    assert find_model_file(tmp_path, gender="male") == tmp_path / "smpl" / "SMPL_MALE.pkl"
    official = tmp_path / "off" / "models"
    official.mkdir(parents=True)
    (official / "basicmodel_f_lbs_10_207_0_v1.1.0.pkl").write_bytes(b"x")
    assert find_model_file(tmp_path / "off", gender="female").name == "basicmodel_f_lbs_10_207_0_v1.1.0.pkl"


def test_missing_model_says_where_smpl_comes_from(tmp_path: Path) -> None:
    with pytest.raises(SmplModelError) as info:
        load_model(tmp_path)
    msg = str(info.value)
    assert "https://smpl.is.tue.mpg.de" in msg and "SMPL_NEUTRAL.pkl" in msg
    assert "smpl/SMPL_NEUTRAL.pkl" in msg
    assert "\n" not in msg and isinstance(info.value, InputError)
    with pytest.raises(SmplModelError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(SmplModelError, match="gender"):
        find_model_file(tmp_path, gender="other")


def test_unpickler_maps_old_scipy_paths_and_refuses_code() -> None:
    up = ChumpyFreeUnpickler(io.BytesIO(b""))
    assert up.find_class("scipy.sparse.csc", "csc_matrix") is scipy.sparse.csc_matrix
    assert up.find_class("scipy.sparse._csr", "csr_matrix") is scipy.sparse.csr_matrix
    assert up.find_class("numpy.core.multiarray", "_reconstruct") is not None
    evil = b"cos\nsystem\n(S'echo hacked'\ntR."  # protocol-0 pickle calling os.system
    with pytest.raises(SmplModelError, match="os.system"):
        ChumpyFreeUnpickler(io.BytesIO(evil)).load()


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    data = synthetic_model_data()
    bad = dict(data)
    del bad["weights"]
    with pytest.raises(SmplModelError, match="missing keys"):
        model_from_dict(bad)
    bad = dict(data, posedirs=data["posedirs"][:, :, :100])
    with pytest.raises(SmplModelError, match="posedirs"):
        model_from_dict(bad)
    bad = dict(data, J_regressor=np.zeros((52, data["v_template"].shape[0])))
    with pytest.raises(SmplModelError, match="52 joints"):
        model_from_dict(bad)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(SmplModelError, match="not a readable"):
        read_model_dict(tmp_path / "junk.pkl")
