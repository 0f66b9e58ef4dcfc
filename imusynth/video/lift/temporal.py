"""A learned temporal lifter: 2-D keypoint tracks → root-relative metric 3-D, by dilated 1-D convolutions.

The network is the fully convolutional model of VideoPose3D (Pavllo et al., "3D human pose estimation in
video with temporal convolutions and semi-supervised training", CVPR 2019): a first convolution over
``filter_widths[0]`` frames, then residual blocks of a dilated convolution (dilation = product of the
earlier widths) and a 1x1 convolution, each with batch norm, ReLU and dropout, then a 1x1 ``shrink`` to
``3 * n_joints_out`` values per frame. Widths (3, 3, 3, 3) see 81 frames. Parameter names are those of
VideoPose3D's ``TemporalModel`` (``expand_conv``, ``expand_bn``, ``layers_conv.k``, ``layers_bn.k``,
``shrink``), so its published checkpoints load unchanged.

Two file kinds load through :func:`load_lifter_file`:

- imusynth's own (``"format": "imusynth-lifter/1"``, written by :func:`save_lifter_file`; trained by
  :mod:`imusynth.video.lift.train`): input ``(x, y, confidence)`` per keypoint, keypoints centred on the
  2-D hip midpoint and divided by the track's 2-D body size (``normalisation = "pelvis_scale"``);
- a VideoPose3D checkpoint (a dict with ``"model_pos"``): COCO-17 2-D input normalised by the image width
  (``normalisation = "screen"``), Human3.6M-17 3-D output.

Both predict metres, root-relative, in camera axes (x right, y down, z forward). See
``docs/lifter_training.md``.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from imusynth.core.skeletons import MEDIAPIPE_33, SKELETONS
from imusynth.errors import InputError
from imusynth.io.hdf5 import atomic_path

#: Format tag of imusynth's lifter files.
FORMAT = "imusynth-lifter/1"

#: Keypoints below this confidence are treated as missing (zeroed, confidence 0).
DEFAULT_CONF_THRESHOLD = 0.3

#: COCO-17 keypoints (VideoPose3D's Detectron input order), in imusynth's canonical names.
COCO_17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

#: Index in :data:`imusynth.core.skeletons.MEDIAPIPE_33` of each COCO-17 keypoint (same joint, same side).
COCO_17_FROM_MEDIAPIPE: tuple[int, ...] = tuple(MEDIAPIPE_33.index(n) for n in COCO_17)

#: Human3.6M's 17 joints in VideoPose3D's output order, with their Human3.6M names.
H36M_17: tuple[str, ...] = (
    "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck/Nose", "Head",
    "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)

#: Human3.6M joint → imusynth canonical name. Approximate ones: ``Spine`` (mid-back) → ``chest``,
#: ``Thorax`` (top of the sternum) → ``neck``, ``Neck/Nose`` → ``nose``, ``Head`` (top of the head)
#: → ``head``;
#: ``Hip`` is the pelvis centre (the root, zero after :func:`predict`).
H36M_TO_CANONICAL: dict[str, str] = {
    "Hip": "pelvis", "RHip": "right_hip", "RKnee": "right_knee", "RFoot": "right_ankle", "LHip": "left_hip",
    "LKnee": "left_knee", "LFoot": "left_ankle", "Spine": "chest", "Thorax": "neck", "Neck/Nose": "nose",
    "Head": "head", "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
    "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
}

#: :data:`H36M_17` in canonical names.
H36M_17_CANONICAL: tuple[str, ...] = tuple(H36M_TO_CANONICAL[n] for n in H36M_17)

#: Left/right pairs by canonical suffix (mirroring swaps them).
_SIDE_PREFIXES = ("left_", "right_")


class LifterFileError(InputError, ValueError):
    """A lifter file that cannot be read: not a checkpoint, unknown layout, inconsistent shapes."""


class TemporalLifter(nn.Module):
    """VideoPose3D's temporal convolutional model (same parameter names and shapes).

    Parameters
    ----------
    n_joints_in : int
        Input keypoints per frame.
    in_features : int
        Values per keypoint: 2 (x, y; VideoPose3D) or 3 (x, y, confidence; imusynth).
    n_joints_out : int
        Output joints per frame (3 values each).
    filter_widths : sequence of int
        Odd temporal widths of the first convolution and of each dilated block; the receptive field is
        their product.
    channels : int
        Width of every hidden layer.
    dropout : float
        Dropout probability (training only).
    causal : bool
        If True, output frame t sees only frames up to t (for online use).

    Notes
    -----
    :meth:`forward` takes ``(N, T, n_joints_in, in_features)`` and returns
    ``(N, T - receptive_field + 1, n_joints_out, 3)``: the output frame ``i`` belongs to the input frame
    ``i + (receptive_field - 1) // 2`` (the last frame of its window if causal).
    """

    def __init__(
        self,
        n_joints_in: int,
        in_features: int,
        n_joints_out: int,
        filter_widths: Sequence[int] = (3, 3, 3, 3),
        channels: int = 1024,
        dropout: float = 0.25,
        causal: bool = False,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in filter_widths]
        if not widths or any(w < 1 or w % 2 == 0 for w in widths):
            raise ValueError(f"filter widths must be odd and positive, got {widths}")
        self.n_joints_in = int(n_joints_in)
        self.in_features = int(in_features)
        self.n_joints_out = int(n_joints_out)
        self.filter_widths = tuple(widths)
        self.channels = int(channels)
        self.dropout_p = float(dropout)
        self.causal = bool(causal)
        self.drop = nn.Dropout(dropout)
        self.relu = nn.ReLU(inplace=True)
        self.expand_conv = nn.Conv1d(self.n_joints_in * self.in_features, channels, widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        convs: list[nn.Module] = []
        bns: list[nn.Module] = []
        # per block: (trim each side of the residual, causal shift)
        self._blocks: list[tuple[int, int]] = []
        dilation = widths[0]
        for w in widths[1:]:
            half = (w - 1) * dilation // 2
            self._blocks.append((half, half if causal else 0))
            convs.append(nn.Conv1d(channels, channels, w, dilation=dilation, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            convs.append(nn.Conv1d(channels, channels, 1, dilation=1, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, self.n_joints_out * 3, 1)

    @property
    def receptive_field(self) -> int:
        """Input frames that one output frame depends on (product of the filter widths)."""
        return int(np.prod(self.filter_widths))

    def arch(self) -> dict[str, Any]:
        """Constructor arguments, as stored in a lifter file's ``"arch"``."""
        return {"n_joints_in": self.n_joints_in, "in_features": self.in_features,
                "n_joints_out": self.n_joints_out, "filter_widths": list(self.filter_widths),
                "channels": self.channels, "dropout": self.dropout_p, "causal": self.causal}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, T, J_in, F)`` → ``(N, T - receptive_field + 1, J_out, 3)``."""
        if x.ndim != 4 or x.shape[2] != self.n_joints_in or x.shape[3] != self.in_features:
            want = f"(N, T, {self.n_joints_in}, {self.in_features})"
            raise ValueError(f"expected input {want}, got {tuple(x.shape)}")
        n, t = x.shape[:2]
        h = x.reshape(n, t, -1).permute(0, 2, 1)
        h = self.drop(self.relu(self.expand_bn(self.expand_conv(h))))
        for i, (trim, shift) in enumerate(self._blocks):
            res = h[:, :, trim + shift: h.shape[2] - trim + shift]
            h = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](h))))
            h = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](h))))
        out = self.shrink(h).permute(0, 2, 1)
        return out.reshape(n, out.shape[1], self.n_joints_out, 3)


@dataclass
class LifterFile:
    """A loaded lifter and what its input and output mean.

    Attributes
    ----------
    model : TemporalLifter
        The network, in eval mode, on the CPU.
    keypoints_in : list of str
        Input keypoints in order, in imusynth's canonical names (see :mod:`imusynth.core.skeletons`);
        :func:`keypoints_from_mediapipe` builds them from MediaPipe's 33 landmarks.
    joints_out : list of str
        Output joints in order, canonical names.
    fps : float
        Frame rate the lifter was trained for, Hz (resample tracks to it).
    meta : dict
        Provenance: training files and their licences, seed, epochs, losses, imusynth version.
    sha256 : str
        Hex digest of the file.
    normalisation : str
        How 2-D input is normalised: ``"screen"`` (VideoPose3D) or ``"pelvis_scale"`` (imusynth).
    """

    model: TemporalLifter
    keypoints_in: list[str]
    joints_out: list[str]
    fps: float
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    normalisation: str = "pelvis_scale"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_lifter_file(
    path: str | Path,
    model: TemporalLifter,
    *,
    keypoints_in: Sequence[str],
    joints_out: Sequence[str],
    fps: float,
    meta: dict[str, Any] | None = None,
    normalisation: str = "pelvis_scale",
) -> str:
    """Write an ``imusynth-lifter/1`` file atomically; return its sha256.

    ``meta`` must hold only str, int, float, bool, None, lists and dicts (the file is read with
    ``weights_only=True``).
    """
    if len(keypoints_in) != model.n_joints_in or len(joints_out) != model.n_joints_out:
        raise ValueError("keypoint/joint name counts do not match the model")
    payload = {
        "format": FORMAT,
        "arch": {**model.arch(), "normalisation": normalisation},
        "keypoints_in": list(keypoints_in),
        "joints_out": list(joints_out),
        "fps": float(fps),
        "meta": dict(meta or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return file_sha256(path)


def _numpy_safe_globals() -> list[Any]:
    """NumPy types VideoPose3D checkpoints pickle (their ``random_state``), allowed in weights-only loads."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    allowed: list[Any] = [_reconstruct, np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in (np.uint32, np.int64, np.float64, np.float32, np.int32, np.uint8)]
    return allowed


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        why = f"{type(exc).__name__}: {first}"
        raise LifterFileError(f"{path}: not a readable lifter checkpoint ({why})") from None


def _infer_videopose3d_arch(sd: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Filter widths, channels and joint counts from a VideoPose3D state dict's tensor shapes."""
    try:
        w0 = sd["expand_conv.weight"]
        shrink = sd["shrink.weight"]
    except KeyError as exc:
        raise LifterFileError(f"{path}: VideoPose3D checkpoint without {exc.args[0]!r}") from None
    channels, n_in, fw0 = (int(s) for s in w0.shape)
    widths = [fw0]
    k = 0
    while f"layers_conv.{k}.weight" in sd:
        widths.append(int(sd[f"layers_conv.{k}.weight"].shape[2]))
        k += 2
    if n_in % 2 or shrink.shape[0] % 3:
        raise LifterFileError(f"{path}: input width {n_in} or output width {shrink.shape[0]} is not joints")
    n_out = int(shrink.shape[0]) // 3
    if n_in // 2 != len(COCO_17) or n_out != len(H36M_17):
        raise LifterFileError(f"{path}: {n_in // 2} input, {n_out} output joints; expected COCO-17 → H36M-17")
    return {"n_joints_in": n_in // 2, "in_features": 2, "n_joints_out": n_out, "filter_widths": widths,
            "channels": channels, "dropout": 0.0, "causal": False}


def _build(arch: dict[str, Any], sd: dict[str, torch.Tensor], path: Path) -> TemporalLifter:
    try:
        model = TemporalLifter(int(arch["n_joints_in"]), int(arch["in_features"]), int(arch["n_joints_out"]),
                               filter_widths=tuple(int(w) for w in arch["filter_widths"]),
                               channels=int(arch["channels"]), dropout=float(arch.get("dropout", 0.0)),
                               causal=bool(arch.get("causal", False)))
        model.load_state_dict(sd, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        msg = " ".join(str(exc).split())
        raise LifterFileError(f"{path}: weights do not fit the architecture ({msg[:200]})") from None
    return model.eval()


def load_lifter_file(path: str | Path) -> LifterFile:
    """Load an imusynth lifter file or a VideoPose3D checkpoint (``weights_only=True``: no code runs).

    Parameters
    ----------
    path : str or Path
        ``imusynth-lifter/1`` file, or a VideoPose3D ``.bin`` checkpoint (dict with ``"model_pos"``;
        filter widths and channels are read from the tensor shapes; COCO-17 in, H36M-17 out, 50 fps is
        assumed as Human3.6M's rate).

    Returns
    -------
    LifterFile

    Raises
    ------
    LifterFileError
        Missing or unreadable file, unknown layout or weights that do not fit (one-line message).
    """
    p = Path(path)
    if not p.is_file():
        raise LifterFileError(f"{p}: no such lifter file")
    obj = _torch_load(p)
    if not isinstance(obj, dict):
        raise LifterFileError(f"{p}: not a lifter checkpoint (top level is {type(obj).__name__})")
    digest = file_sha256(p)
    if obj.get("format") == FORMAT:
        try:
            arch, sd = dict(obj["arch"]), dict(obj["state_dict"])
            kin, jout = [str(n) for n in obj["keypoints_in"]], [str(n) for n in obj["joints_out"]]
            fps = float(obj["fps"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LifterFileError(f"{p}: incomplete {FORMAT} file ({exc})") from None
        model = _build(arch, sd, p)
        if len(kin) != model.n_joints_in or len(jout) != model.n_joints_out:
            raise LifterFileError(f"{p}: keypoint names do not match the model's joint counts")
        return LifterFile(model, kin, jout, fps, dict(obj.get("meta") or {}), digest,
                          str(arch.get("normalisation", "pelvis_scale")))
    if "model_pos" in obj:
        sd = {k.removeprefix("module."): v for k, v in dict(obj["model_pos"]).items()}
        model = _build(_infer_videopose3d_arch(sd, p), sd, p)
        meta = {"source": "VideoPose3D checkpoint", "epoch": int(obj["epoch"]) if "epoch" in obj else None}
        return LifterFile(model, list(COCO_17), list(H36M_17_CANONICAL), 50.0, meta, digest, "screen")
    raise LifterFileError(f"{p}: neither an {FORMAT} file nor a VideoPose3D checkpoint ('model_pos')")


def keypoints_from_mediapipe(
    names: Sequence[str],
    landmarks_xy: NDArray[np.floating],
    visibility: NDArray[np.floating],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A lifter's input keypoints from MediaPipe's 33 landmarks.

    Parameters
    ----------
    names : sequence of str
        Canonical keypoint names (``LifterFile.keypoints_in``); each is MediaPipe's landmark of that name
        or the mean of the landmarks :mod:`imusynth.core.skeletons` maps it to (``head`` = mean of the ears).
    landmarks_xy : ndarray, shape (T, 33, 2), px
        Image coordinates; NaN where missing.
    visibility : ndarray, shape (T, 33), in [0, 1]

    Returns
    -------
    xy : ndarray, shape (T, J, 2), float64, px
    confidence : ndarray, shape (T, J), float64
        The smallest visibility of the landmarks averaged (0 where any is NaN).
    """
    xy33 = np.asarray(landmarks_xy, dtype=np.float64)
    vis = np.nan_to_num(np.asarray(visibility, dtype=np.float64), nan=0.0)
    if xy33.ndim != 3 or xy33.shape[1:] != (len(MEDIAPIPE_33), 2) or vis.shape != xy33.shape[:2]:
        raise InputError(f"expected landmarks (T, 33, 2), visibility (T, 33); got {xy33.shape}, {vis.shape}")
    mp_map = SKELETONS["mediapipe"][1]
    t = xy33.shape[0]
    xy = np.empty((t, len(names), 2))
    conf = np.empty((t, len(names)))
    for j, name in enumerate(names):
        src = [name] if name in MEDIAPIPE_33 else mp_map.get(name)
        if not src:
            raise InputError(f"keypoint {name!r} cannot be built from MediaPipe's landmarks")
        idx = [MEDIAPIPE_33.index(s) for s in src]
        xy[:, j] = xy33[:, idx].mean(axis=1)
        conf[:, j] = vis[:, idx].min(axis=1)
    conf[np.isnan(xy).any(axis=2)] = 0.0
    return xy, conf


def mirror_indices(names: Sequence[str]) -> list[int]:
    """For each name, the index of its left/right counterpart (itself if it has none or it is absent)."""
    idx = {n: i for i, n in enumerate(names)}
    out = []
    for i, n in enumerate(names):
        for a, b in (_SIDE_PREFIXES, _SIDE_PREFIXES[::-1]):
            if n.startswith(a):
                out.append(idx.get(b + n[len(a):], i))
                break
        else:
            out.append(i)
    return out


def _fill_missing(xy: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Each keypoint's missing frames interpolated linearly over time (edges held); 0 if never seen."""
    out = xy.copy()
    frames = np.arange(xy.shape[0])
    for j in range(xy.shape[1]):
        good = ok[:, j]
        if good.all():
            continue
        for c in range(2):
            out[:, j, c] = np.interp(frames, frames[good], xy[good, j, c]) if good.any() else 0.0
    return out


def normalise_keypoints(
    keypoints: NDArray[np.floating],
    confidence: NDArray[np.floating],
    *,
    names: Sequence[str],
    mode: str,
    image_size: tuple[float, float],
    threshold: float = DEFAULT_CONF_THRESHOLD,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Normalise one track's 2-D keypoints as lifters are trained (training and :func:`predict` share it).

    Parameters
    ----------
    keypoints : ndarray, shape (T, J, 2), px
        Image coordinates (x right, y down); NaN where missing.
    confidence : ndarray, shape (T, J), in [0, 1]
    names : sequence of str
        Canonical keypoint names (``pelvis_scale`` needs ``left_hip`` and ``right_hip``).
    mode : {"screen", "pelvis_scale"}
        ``screen``: VideoPose3D's ``x / w * 2 - (1, h / w)`` (x in [-1, 1], aspect kept).
        ``pelvis_scale``: per frame minus the 2-D hip midpoint, divided by the track's size (median over
        frames with at least 75 % of the keypoints of the RMS distance of the visible keypoints from the
        centre). The centre is the mean of the visible hips (one hip if the other is missing), else of the
        visible keypoints; frames with none take it interpolated over time.
    image_size : (w, h), px
    threshold : float
        Keypoints with a lower confidence count as missing.

    Returns
    -------
    xy_norm : ndarray, shape (T, J, 2), float64
        Missing keypoints are 0 (``pelvis_scale``) or interpolated over time (``screen``: VideoPose3D has no
        confidence input, and 0 would be a real image position).
    confidence : ndarray, shape (T, J), float64
        0 where missing.
    """
    xy = np.asarray(keypoints, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0).clip(0.0, 1.0)
    ok = (conf >= threshold) & np.isfinite(xy).all(axis=2)
    conf = np.where(ok, conf, 0.0)
    if mode == "screen":
        w, h = float(image_size[0]), float(image_size[1])
        out = _fill_missing(xy, ok) / w * 2.0 - np.array([1.0, h / w])
        never = ~np.asarray(ok.any(axis=0), dtype=bool)
        out[:, never] = 0.0
        return out, conf
    if mode != "pelvis_scale":
        raise InputError(f"unknown keypoint normalisation {mode!r}")
    names = list(names)
    hips = [names.index("left_hip"), names.index("right_hip")]
    safe = np.where(ok[..., None], xy, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN slices are handled below
        centre = np.nanmean(safe[:, hips], axis=1)                            # (T, 2)
        fallback = np.nanmean(safe, axis=1)
        centre = np.asarray(np.where(np.isfinite(centre), centre, fallback), dtype=np.float64)
        seen = np.asarray(np.isfinite(centre).all(axis=1))
        if seen.any() and not seen.all():
            frames = np.arange(xy.shape[0])
            centre = np.stack([np.interp(frames, frames[seen], centre[seen, c]) for c in range(2)], axis=1)
        rel = safe - centre[:, None, :]
        radius = np.sqrt(np.nanmean((rel ** 2).sum(axis=2), axis=1))        # (T,)
        full = ok.mean(axis=1) >= 0.75
        pick = radius[full] if full.any() else radius
        scale = float(np.nanmedian(pick)) if np.isfinite(pick).any() else float("nan")
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros_like(xy), np.zeros_like(conf)
    out = np.where(ok[..., None], rel / scale, 0.0)
    return np.nan_to_num(out, nan=0.0), conf


def _pad_edges(x: NDArray[np.float64], rf: int, causal: bool) -> NDArray[np.float64]:
    """Repeat the first/last frame so every input frame gets an output (VideoPose3D's ``mode='edge'``)."""
    before, after = (rf - 1, 0) if causal else ((rf - 1) // 2, (rf - 1) // 2)
    return np.pad(x, ((before, after),) + ((0, 0),) * (x.ndim - 1), mode="edge")


def predict(
    lf: LifterFile,
    keypoints_2d: NDArray[np.floating],
    confidence: NDArray[np.floating],
    *,
    image_size: tuple[float, float],
    threshold: float = DEFAULT_CONF_THRESHOLD,
    chunk: int = 2048,
) -> NDArray[np.float64]:
    """Lift one track of 2-D keypoints to root-relative metric 3-D in camera axes.

    Parameters
    ----------
    lf : LifterFile
    keypoints_2d : ndarray, shape (T, J_in, 2), px
        Image coordinates (x right, y down) of ``lf.keypoints_in``, sampled at ``lf.fps``; NaN where missing.
    confidence : ndarray, shape (T, J_in), in [0, 1]
        Keypoints below ``threshold`` count as missing (zero input with confidence 0).
    image_size : (w, h), px
    threshold : float
    chunk : int
        Output frames per forward pass (memory bound; results do not depend on it).

    Returns
    -------
    ndarray, shape (T, J_out, 3), float64, m
        ``lf.joints_out`` relative to the pelvis (hip midpoint), x right, y down, z forward (away from the
        camera). Any T >= 1 works: the track is padded at both ends by repeating its first and last frame
        ``(receptive_field - 1) / 2`` times (all ``receptive_field - 1`` at the start if causal), as
        VideoPose3D does, so short tracks are lifted from a mostly constant window.
    """
    xy = np.asarray(keypoints_2d, dtype=np.float64)
    model = lf.model
    if xy.ndim != 3 or xy.shape[1:] != (model.n_joints_in, 2):
        raise InputError(f"keypoints must have shape (T, {model.n_joints_in}, 2), got {xy.shape}")
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.shape != xy.shape[:2]:
        raise InputError(f"confidence must have shape {xy.shape[:2]}, got {conf.shape}")
    t = xy.shape[0]
    if t == 0:
        return np.zeros((0, model.n_joints_out, 3))
    norm, c = normalise_keypoints(xy, conf, names=lf.keypoints_in, mode=lf.normalisation,
                                  image_size=image_size, threshold=threshold)
    feats = norm if model.in_features == 2 else np.concatenate([norm, c[..., None]], axis=2)
    rf = model.receptive_field
    padded = _pad_edges(feats, rf, model.causal).astype(np.float32)
    out = np.empty((t, model.n_joints_out, 3))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, t, chunk):
                stop = min(start + chunk, t)
                window = torch.from_numpy(np.ascontiguousarray(padded[start: stop + rf - 1]))[None]
                out[start:stop] = model(window)[0].numpy()
    finally:
        model.train(was_training)
    if "pelvis" in lf.joints_out:
        out -= out[:, lf.joints_out.index("pelvis")][:, None, :]
    return out
