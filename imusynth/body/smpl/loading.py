"""SMPL model files: find them, read them without chumpy, check them, hold them as arrays.

SMPL is licensed and is not shipped with imusynth. A user registers at https://smpl.is.tue.mpg.de,
accepts the licence, downloads "SMPL for Python" and points ``--smpl-dir`` at the folder holding the
model files. The accepted layouts (the first match wins, for the requested gender)::

    DIR/SMPL_NEUTRAL.pkl                      # the names smplx expects (also .npz)
    DIR/smpl/SMPL_NEUTRAL.pkl                 # smplx.create(model_path=DIR, model_type="smpl")
    DIR/basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl   # the official file names (m / f / neutral)
    DIR/models/..., DIR/smpl/models/...       # the official archive's layout

The official ``.pkl`` files were pickled in Python 2 with chumpy objects (``chumpy.ch.Ch``) and a
scipy sparse ``J_regressor``. chumpy does not import on Python 3.11, so :func:`read_model_dict`
uses an unpickler that maps every ``chumpy.*`` class to a stand-in capturing the pickled state (a
chumpy ``Ch`` pickles its value as ``__dict__['x']``) and that only admits numpy, scipy.sparse and
chumpy classes: a model file cannot run code when it is read.

Everything here is numpy only; torch and smplx are needed only for fitting (:mod:`.fit`).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from imusynth.errors import InputError

#: Where SMPL is obtained (registration and licence required).
SMPL_URL = "https://smpl.is.tue.mpg.de"

#: The 24 SMPL joints, in model order (left/right are the subject's own sides).
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)

#: Parent of each SMPL joint (-1 for the root): the SMPL kinematic tree.
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

#: Number of vertices of the SMPL (and SMPL-H) mesh topology.
SMPL_N_VERTICES = 6890

#: Named vertices of the SMPL topology: the keypoint vertices that smplx uses for SMPL
#: (``smplx.vertex_ids.vertex_ids["smplh"]``; SMPL and SMPL-H share the topology).
SMPL_TOPOLOGY_VERTEX_IDS: dict[str, int] = {
    "nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583,
    "rthumb": 6191, "rindex": 5782, "rmiddle": 5905, "rring": 6016, "rpinky": 6133,
    "lthumb": 2746, "lindex": 2319, "lmiddle": 2445, "lring": 2556, "lpinky": 2673,
    "LBigToe": 3216, "LSmallToe": 3226, "LHeel": 3387, "RBigToe": 6617, "RSmallToe": 6624, "RHeel": 6787,
}

#: Keys a model file must hold.
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")

#: Optional keys naming landmark vertices of a non-SMPL topology (the synthetic test model writes them).
VERTEX_NAMES_KEY = "imusynth_vertex_names"
VERTEX_IDS_KEY = "imusynth_vertex_ids"

GENDERS = ("neutral", "male", "female")
_GENDER_TOKEN = {"neutral": "neutral", "male": "m", "female": "f"}


class SmplModelError(InputError):
    """A missing, unreadable or malformed SMPL model file."""


def _layout_hint(gender: str) -> str:
    g = gender.upper()
    return (f"expected DIR/SMPL_{g}.pkl (or .npz), DIR/smpl/SMPL_{g}.pkl or the official "
            f"basicmodel_{_GENDER_TOKEN.get(gender, gender)}_lbs_10_207_0_v1.*.pkl; SMPL is licensed and not "
            f"bundled: register at {SMPL_URL}, download 'SMPL for Python' and pass its folder as --smpl-dir")


def find_model_file(smpl_dir: str | Path, *, gender: str = "neutral") -> Path:
    """Locate the SMPL model file of ``gender`` in ``smpl_dir`` (or accept a file path).

    Parameters
    ----------
    smpl_dir : str or Path
        A folder in one of the layouts of the module docstring, or a model file itself.
    gender : {"neutral", "male", "female"}

    Raises
    ------
    SmplModelError
        Nothing found; the message says where SMPL is obtained and which layout is expected.
    """
    if gender not in GENDERS:
        raise SmplModelError(f"unknown SMPL gender {gender!r}; allowed: {', '.join(GENDERS)}")
    root = Path(smpl_dir).expanduser()
    if root.is_file():
        return root
    if not root.exists():
        raise SmplModelError(f"SMPL folder {root} does not exist; {_layout_hint(gender)}")
    official = re.compile(rf"basic_?model_{_GENDER_TOKEN[gender]}_lbs_10_207_0_v1\.\d\.\d\.pkl",
                          re.IGNORECASE)
    for folder in (root, root / "smpl", root / "models", root / "smpl" / "models"):
        if not folder.is_dir():
            continue
        for ext in (".pkl", ".npz"):
            cand = folder / f"SMPL_{gender.upper()}{ext}"
            if cand.is_file():
                return cand
        matches = sorted(p for p in folder.iterdir() if p.is_file() and official.fullmatch(p.name))
        if matches:
            return matches[-1]
    raise SmplModelError(f"no SMPL {gender} model file in {root}; {_layout_hint(gender)}")


# --------------------------------------------------------------------------------------------------
# Reading pickles without chumpy
# --------------------------------------------------------------------------------------------------


class ChumpyStandIn:
    """What a pickled chumpy object becomes: its class name and pickled state, nothing else."""

    chumpy_class = "chumpy.?"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def value(self) -> NDArray[np.float64]:
        """The array a plain ``chumpy.ch.Ch`` held (its ``x`` term)."""
        state = getattr(self, "state", None)
        if isinstance(state, dict) and "x" in state:
            x = state["x"]
            return x.value() if isinstance(x, ChumpyStandIn) else np.asarray(x)
        raise SmplModelError(
            f"the model file holds a chumpy {self.chumpy_class} expression, not a plain array; "
            "re-export the model with plain arrays (or use the .npz version)"
        )


_SPARSE = {"csc_matrix", "csr_matrix", "coo_matrix", "lil_matrix", "dok_matrix", "bsr_matrix", "dia_matrix",
           "csc_array", "csr_array", "coo_array"}
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_BUILTINS = {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("__builtin__", "object"),
             ("builtins", "object"), ("copyreg", "__newobj__"), ("__builtin__", "set"), ("builtins", "set"),
             ("builtins", "frozenset"), ("__builtin__", "frozenset"), ("builtins", "slice"),
             ("collections", "OrderedDict"), ("builtins", "complex"), ("__builtin__", "complex"),
             ("_codecs", "encode")}  # protocol-2 pickles written by Python 3 encode bytes with it


class ChumpyFreeUnpickler(pickle.Unpickler):
    """Unpickler for SMPL model files that needs neither chumpy nor Python 2.

    ``chumpy.*`` classes become :class:`ChumpyStandIn` subclasses; scipy sparse classes from any old
    module path (``scipy.sparse.csc``) map to today's ``scipy.sparse`` classes; numpy's pickling helpers
    are allowed under their numpy 1 and numpy 2 module names. Any other global is refused, so reading a
    model file cannot execute code.
    """

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle API
        if module == "chumpy" or module.startswith("chumpy."):
            return type(name, (ChumpyStandIn,), {"chumpy_class": f"{module}.{name}"})
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE:
            return getattr(scipy.sparse, name)
        if (module, name) in _NUMPY_GLOBALS:
            return getattr(_numpy_module(module), name)
        if (module, name) in _BUILTINS:
            return super().find_class(module, name)
        raise SmplModelError(
            f"the model file references {module}.{name}, which an SMPL model file never does"
        )


def _numpy_module(module: str) -> Any:
    """The numpy module under its numpy 2 name (``numpy._core``), or numpy 1's (``numpy.core``)."""
    if module == "numpy":
        return np
    leaf = module.split(".", 2)[-1]
    for candidate in (f"numpy._core.{leaf}", f"numpy.core.{leaf}"):
        try:
            return importlib.import_module(candidate)
        except ImportError:
            continue
    raise SmplModelError(f"numpy has no module {module}")


def _plain(value: Any) -> Any:
    """Replace chumpy stand-ins by their arrays (recursively in dicts, lists and tuples)."""
    if isinstance(value, ChumpyStandIn):
        return value.value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def read_model_dict(path: str | Path) -> dict[str, Any]:
    """Read an SMPL model file (``.pkl`` with or without chumpy objects, or ``.npz``) into a dict.

    Values are numpy arrays (``J_regressor`` may be a scipy sparse matrix), other entries unchanged.
    """
    p = Path(path)
    return _parse_model_bytes(_read_bytes(p), p)


def _read_bytes(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise SmplModelError(f"cannot read SMPL model file {p}: {exc.strerror or exc}") from None


def _parse_model_bytes(raw: bytes, p: Path) -> dict[str, Any]:
    if raw[:2] == b"PK" or p.suffix.lower() == ".npz":
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise SmplModelError(f"{p} is not a readable .npz SMPL model: {exc}") from None
    try:
        data = ChumpyFreeUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except SmplModelError as exc:
        raise SmplModelError(f"{p}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError,
            ValueError) as exc:
        raise SmplModelError(f"{p} is not a readable SMPL .pkl model file: {exc}") from None
    if not isinstance(data, dict):
        raise SmplModelError(f"{p} holds a {type(data).__name__}, not the dict of an SMPL model file")
    try:
        return {str(k): v for k, v in _plain(data).items()}
    except SmplModelError as exc:
        raise SmplModelError(f"{p}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# The model record
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmplModel:
    """An SMPL-format body model as plain arrays (rest pose: y up, face toward +z, subject's left +x).

    Attributes
    ----------
    v_template : ndarray, shape (V, 3), m
        Template (mean-shape, zero-pose) vertices.
    shapedirs : ndarray, shape (V, 3, B), m per unit beta
        Shape blend shapes.
    posedirs : ndarray, shape (V, 3, 9 * (J - 1)), m
        Pose-corrective blend shapes (coefficients: the flattened ``R_j - I`` of joints 1..J-1).
    J_regressor : ndarray, shape (J, V)
        Joint locations as linear combinations of the shaped vertices (dense).
    weights : ndarray, shape (V, J)
        Linear-blend-skinning weights (rows sum to 1).
    parents : ndarray, shape (J,), int64
        Kinematic tree (``-1`` for the root).
    faces : ndarray, shape (F, 3), int64
        Triangles (vertex indices, counter-clockwise seen from outside).
    vertex_ids : dict of str to int
        Named keypoint vertices (smplx's names: ``nose``, ``leye``, ``LHeel``, ``lindex``, ...).
    source : str
        Model file path.
    sha256 : str
        SHA-256 of the model file.
    gender : str
    """

    v_template: NDArray[np.float64]
    shapedirs: NDArray[np.float64]
    posedirs: NDArray[np.float64]
    J_regressor: NDArray[np.float64]
    weights: NDArray[np.float64]
    parents: NDArray[np.int64]
    faces: NDArray[np.int64]
    vertex_ids: dict[str, int] = field(default_factory=dict)
    source: str = ""
    sha256: str = ""
    gender: str = "neutral"

    @property
    def n_vertices(self) -> int:
        """Number of vertices V."""
        return int(self.v_template.shape[0])

    @property
    def n_joints(self) -> int:
        """Number of joints J (24 for SMPL)."""
        return int(self.J_regressor.shape[0])

    @property
    def n_betas(self) -> int:
        """Number of shape coefficients B in the file."""
        return int(self.shapedirs.shape[2])

    def rest_joints(self, betas: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Joint locations (J, 3), m, of the zero pose for ``betas`` (B,) (zeros when omitted)."""
        return self.J_regressor @ self.shaped_vertices(betas)

    def shaped_vertices(self, betas: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Vertices (V, 3), m, of the zero pose for ``betas`` (B,) (zeros when omitted)."""
        if betas is None:
            return self.v_template.copy()
        b = np.asarray(betas, dtype=np.float64)
        return self.v_template + self.shapedirs[:, :, : b.shape[0]] @ b

    def smplx_data(self) -> dict[str, Any]:
        """The arrays under the key names of an SMPL model file (what ``smplx.SMPL`` reads)."""
        kintree = np.stack([np.where(self.parents < 0, 4294967295, self.parents), np.arange(self.n_joints)])
        return {
            "v_template": self.v_template, "shapedirs": self.shapedirs, "posedirs": self.posedirs,
            "J_regressor": self.J_regressor, "weights": self.weights,
            "kintree_table": kintree.astype(np.int64),
            "f": self.faces,
        }


def _array(data: dict[str, Any], key: str, path: Path) -> NDArray[np.float64]:
    value = data[key]
    if scipy.sparse.issparse(value):
        value = value.toarray()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SmplModelError(f"{path}: {key!r} is not numeric (got {type(value).__name__})") from None
    if not np.all(np.isfinite(arr)):
        raise SmplModelError(f"{path}: {key!r} contains NaN or infinite values")
    return arr


def model_from_dict(data: dict[str, Any], *, source: str | Path = "", sha256: str = "",
                    gender: str = "neutral") -> SmplModel:
    """Check the arrays of an SMPL model file and build an :class:`SmplModel`.

    Raises
    ------
    SmplModelError
        A key is missing or the shapes disagree (each message says which and what was expected).
    """
    path = Path(source)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise SmplModelError(
            f"{path}: not an SMPL model file, missing keys {missing} (needs {list(REQUIRED_KEYS)})"
        )
    v = _array(data, "v_template", path)
    if v.ndim != 2 or v.shape[1] != 3:
        raise SmplModelError(f"{path}: v_template must have shape (V, 3), got {v.shape}")
    n_v = v.shape[0]
    shapedirs = _array(data, "shapedirs", path)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (n_v, 3):
        raise SmplModelError(f"{path}: shapedirs must have shape ({n_v}, 3, B), got {shapedirs.shape}")
    J_reg = _array(data, "J_regressor", path)
    n_j = J_reg.shape[0] if J_reg.ndim == 2 else -1
    if J_reg.ndim != 2 or J_reg.shape[1] != n_v:
        raise SmplModelError(f"{path}: J_regressor must have shape (J, {n_v}), got {J_reg.shape}")
    if n_j != len(SMPL_PARENTS):
        raise SmplModelError(
            f"{path}: {n_j} joints; an SMPL model has {len(SMPL_PARENTS)} "
            "(SMPL-H / SMPL-X files are not supported)"
        )
    posedirs = _array(data, "posedirs", path)
    if posedirs.shape != (n_v, 3, 9 * (n_j - 1)):
        raise SmplModelError(
            f"{path}: posedirs must have shape ({n_v}, 3, {9 * (n_j - 1)}), got {posedirs.shape}"
        )
    weights = _array(data, "weights", path)
    if weights.shape != (n_v, n_j):
        raise SmplModelError(f"{path}: weights must have shape ({n_v}, {n_j}), got {weights.shape}")
    kintree = np.asarray(data["kintree_table"])
    if kintree.shape != (2, n_j):
        raise SmplModelError(f"{path}: kintree_table must have shape (2, {n_j}), got {kintree.shape}")
    parents = kintree[0].astype(np.int64)
    parents[0] = -1
    if tuple(parents.tolist()) != SMPL_PARENTS:
        raise SmplModelError(
            f"{path}: the kinematic tree {parents.tolist()} is not SMPL's {list(SMPL_PARENTS)}"
        )
    faces = np.asarray(data["f"]).astype(np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size == 0 or faces.min() < 0 or faces.max() >= n_v:
        raise SmplModelError(f"{path}: f must be (F, 3) vertex indices below {n_v}")
    if VERTEX_NAMES_KEY in data and VERTEX_IDS_KEY in data:
        names = [str(n) for n in np.asarray(data[VERTEX_NAMES_KEY]).tolist()]
        ids = [int(i) for i in np.asarray(data[VERTEX_IDS_KEY]).tolist()]
        if len(names) != len(ids) or any(not 0 <= i < n_v for i in ids):
            raise SmplModelError(
                f"{path}: {VERTEX_NAMES_KEY}/{VERTEX_IDS_KEY} disagree or index outside the mesh"
            )
        vertex_ids = dict(zip(names, ids, strict=True))
    elif n_v == SMPL_N_VERTICES:
        vertex_ids = dict(SMPL_TOPOLOGY_VERTEX_IDS)
    else:
        vertex_ids = {}
    return SmplModel(
        v_template=v, shapedirs=shapedirs, posedirs=posedirs, J_regressor=J_reg, weights=weights,
        parents=parents, faces=faces, vertex_ids=vertex_ids, source=str(source), sha256=sha256, gender=gender,
    )


def load_model(smpl_dir: str | Path, *, gender: str = "neutral") -> SmplModel:
    """Find, read and check the SMPL model of ``gender`` (see :func:`find_model_file` for the layouts).

    Parameters
    ----------
    smpl_dir : str or Path
        Folder holding the model files, or one model file (``.pkl`` or ``.npz``).
    gender : {"neutral", "male", "female"}

    Raises
    ------
    SmplModelError
        No model file (the message says where SMPL is obtained and the layout), or a malformed one.
    """
    path = find_model_file(smpl_dir, gender=gender)
    raw = _read_bytes(path)
    data = _parse_model_bytes(raw, path)
    return model_from_dict(data, source=path, sha256=hashlib.sha256(raw).hexdigest(), gender=gender)
