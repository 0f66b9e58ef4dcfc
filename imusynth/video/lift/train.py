"""Training the temporal lifter on motion capture seen by virtual cameras (``imusynth lifter train``).

Each epoch, every training take (one motion-capture file) is mirrored at random, seen by a random static
camera (:func:`imusynth.video.lift.synth2d.random_camera`), its projected joints are made to look like
MediaPipe's (:func:`imusynth.video.lift.synth2d.corrupt`) and normalised exactly as at inference
(:func:`imusynth.video.lift.temporal.normalise_keypoints`); the target is the camera-frame 3-D of the
output joints relative to the hip midpoint. Takes are cut into chunks of ``chunk_frames`` outputs (padded
at the take's ends by repeating its first/last frame, as :func:`~imusynth.video.lift.temporal.predict`
does). Loss: MPJPE (mean joint distance, m) plus ``velocity_weight`` times the MPJPE of the frame-to-frame
differences. Held-out takes (a seeded share of the files) are evaluated every epoch with fixed cameras and
noise. A checkpoint is written after every epoch (``OUTPUT.ckpt``) so that ``resume`` continues where a
run stopped; epoch ``e`` draws from ``numpy.random.default_rng([seed, e])``, so a resumed run gives the
same weights as an uninterrupted one. See ``docs/lifter_training.md``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from imusynth.core.motion import Motion
from imusynth.core.skeletons import to_canonical
from imusynth.errors import InputError
from imusynth.io.hdf5 import atomic_path
from imusynth.io.readers import read_motion
from imusynth.io.readers.bvh import read_bvh_many
from imusynth.video.lift.synth2d import VirtualCamera, corrupt, random_camera
from imusynth.video.lift.temporal import (
    TemporalLifter,
    file_sha256,
    mirror_indices,
    normalise_keypoints,
    save_lifter_file,
)

#: Input keypoints both MediaPipe and usual mocap skeletons give (MediaPipe's own landmarks, same names).
DEFAULT_KEYPOINTS: tuple[str, ...] = tuple(
    f"{s}_{j}" for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for s in ("left", "right"))

#: Extra output joints, used when every training take has them.
OPTIONAL_OUTPUTS: tuple[str, ...] = ("neck", "head")

CHECKPOINT_FORMAT = "imusynth-lifter-checkpoint/1"


@dataclass(frozen=True)
class Take:
    """One motion-capture file's joints, resampled.

    Attributes
    ----------
    name : str
        File name (the unit of the held-out split).
    source : str
        Path.
    names : tuple of str
        Canonical joint names of ``xyz``'s columns.
    xyz : ndarray, shape (T, J, 3), float64, m
        World frame, z up, at ``fps``; no NaN.
    fps : float
        Hz.
    """

    name: str
    source: str
    names: tuple[str, ...]
    xyz: NDArray[np.float64]
    fps: float

    @property
    def height_m(self) -> float:
        """Body-size proxy: median over frames of the joints' vertical extent, m."""
        return float(np.median(np.ptp(self.xyz[:, :, 2], axis=1)))


@dataclass
class TrainConfig:
    """Settings of a training run (stored in the output's ``meta``)."""

    epochs: int = 30
    batch_size: int = 32
    chunk_frames: int = 81
    lr: float = 3e-3
    lr_decay: float = 0.95
    filter_widths: tuple[int, ...] = (3, 3, 3, 3)
    channels: int = 256
    dropout: float = 0.25
    velocity_weight: float = 0.0
    noise_level: float = 1.0
    mirror: bool = True
    views_per_epoch: int = 1
    camera_pool: int = 0            # 0: a new camera per take and epoch; k: k cameras per take, drawn once
    val_fraction: float = 0.1
    seed: int = 0
    fps: float = 30.0
    max_minutes: float = 0.0        # 0: no limit; otherwise stop after the epoch that passes it


@dataclass
class TrainResult:
    """What a run produced: the file, its digest and the per-epoch history."""

    path: Path
    sha256: str
    history: list[dict[str, float]] = field(default_factory=list)
    train_takes: list[str] = field(default_factory=list)
    val_takes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    frames: int = 0


def take_from_motion(motion: Motion, names: Sequence[str], *, fps: float, max_gap_frames: int = 15) -> Take:
    """A :class:`Take` of ``names`` from a motion: canonical points, resampled to ``fps``, short gaps filled.

    Raises
    ------
    InputError
        A joint is missing, or is missing for more than ``max_gap_frames`` frames in a row.
    """
    m = to_canonical(motion)
    absent = [n for n in names if n not in m.names]
    if absent:
        raise InputError(f"{motion.source or 'motion'}: no {', '.join(absent)}")
    xyz = m.xyz[:, [m.names.index(n) for n in names]]
    ok = np.isfinite(xyz).all(axis=2) & (m.confidence[:, [m.names.index(n) for n in names]] > 0)
    t = m.time
    if len(t) < 2:
        raise InputError(f"{motion.source or 'motion'}: fewer than 2 frames")
    grid = np.arange(t[0], t[-1] + 0.5 / fps, 1.0 / fps)
    out = np.empty((len(grid), len(names), 3))
    step = float(np.median(np.diff(t)))
    for j in range(len(names)):
        good = ok[:, j]
        if good.sum() < 2:
            raise InputError(f"{motion.source or 'motion'}: {names[j]} is missing")
        gaps = np.diff(t[good])
        if gaps.size and gaps.max() > (max_gap_frames + 1) * step:
            raise InputError(f"{motion.source or 'motion'}: {names[j]} has a gap of {gaps.max():.2f} s")
        for c in range(3):
            out[:, j, c] = np.interp(grid, t[good], xyz[good, j, c])
    name = Path(motion.source).name if motion.source else "motion"
    return Take(name, motion.source, tuple(names), out, fps)


def load_takes(paths: Sequence[str | Path], names: Sequence[str], *, fps: float,
               log: Callable[[str], None] | None = None) -> tuple[list[Take], list[str]]:
    """Read motion files into takes of ``names``; files that lack a joint are skipped (reasons returned)."""
    takes: list[Take] = []
    skipped: list[str] = []

    def skip(p: str | Path, exc: Exception) -> None:
        skipped.append(f"{p}: {exc}")
        if log:
            log(f"skipped {exc}")

    bvh = [p for p in paths if str(p).lower().endswith(".bvh")]
    while bvh:                       # BVH files sharing a rig are parsed once (read_bvh_many)
        done = 0
        try:
            for motion in read_bvh_many(bvh, canonical=True):
                done += 1
                try:
                    takes.append(take_from_motion(motion, names, fps=fps))
                except InputError as exc:
                    skip(bvh[done - 1], exc)
            bvh = []
        except InputError as exc:    # an unreadable file ends the generator: go on after it
            skip(bvh[done], exc)
            bvh = bvh[done + 1:]
    for p in paths:
        if str(p).lower().endswith(".bvh"):
            continue
        try:
            takes.append(take_from_motion(read_motion(p), names, fps=fps))
        except InputError as exc:
            skip(p, exc)
    return takes, skipped


def common_outputs(paths: Sequence[str | Path], keypoints: Sequence[str]) -> list[str]:
    """``keypoints`` plus those of :data:`OPTIONAL_OUTPUTS` that the first file's canonical points include."""
    if not paths:
        return list(keypoints)
    names = set(to_canonical(read_motion(paths[0])).names)
    return list(keypoints) + [n for n in OPTIONAL_OUTPUTS if n in names and n not in keypoints]


def split_takes(takes: Sequence[Take], *, val_fraction: float, seed: int) -> tuple[list[Take], list[Take]]:
    """Held-out split by take: the ``val_fraction`` of takes whose seeded name hash is lowest (at least one
    when there are two takes or more and the fraction is positive)."""
    if val_fraction <= 0 or len(takes) < 2:
        return list(takes), []
    order = sorted(takes, key=lambda tk: hashlib.sha256(f"{seed}:{tk.name}".encode()).hexdigest())
    n_val = max(1, int(round(val_fraction * len(takes))))
    return order[n_val:], order[:n_val]


_LICENCE_PATTERNS = (
    r"[Ll]icen[cs]e:\s*\**([^*\n(]+)",
    r"(CC BY(?:-[A-Z]{2})*(?:-[A-Z]{2})? \d\.\d)",
    r"(CMU)'s terms",
    r"(MIT|BSD-3-Clause|Apache-2\.0)",
)


def data_licence(path: str | Path) -> str:
    """The licence a README next to (or up to two folders above) a data file states, or ``"unknown"``."""
    p = Path(path).resolve().parent
    for folder in (p, p.parent, p.parent.parent):
        readme = folder / "README.md"
        if readme.is_file():
            text = readme.read_text(encoding="utf-8", errors="replace")
            for pat in _LICENCE_PATTERNS:
                m = re.search(pat, text)
                if m:
                    lic = m.group(1).strip().rstrip(".,;")
                    return "CMU Graphics Lab terms (research use; no resale)" if lic == "CMU" else lic
    return "unknown"


def camera_for(take: Take, rng: np.random.Generator) -> VirtualCamera:
    """A random camera for a take (its hip midpoint path and body size)."""
    pelvis = take.xyz[:, [take.names.index("left_hip"), take.names.index("right_hip")]].mean(axis=1)
    return random_camera(rng, pelvis, height_m=max(take.height_m, 1.0))


def render_view(take: Take, cam: VirtualCamera, rng: np.random.Generator, *, keypoints: Sequence[str],
                joints_out: Sequence[str], mirrored: bool, noise_level: float
                ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """One take through one camera: network input and target.

    Returns
    -------
    inputs : ndarray, shape (T, J_in, 3), float32
        Normalised x, y and confidence (as :func:`~imusynth.video.lift.temporal.predict` builds them).
    targets : ndarray, shape (T, J_out, 3), float32, m
        Output joints in the camera frame minus the hip midpoint.
    """
    xyz = take.xyz
    if mirrored:
        xyz = xyz[:, mirror_indices(take.names)] * np.array([1.0, -1.0, 1.0])
    idx = {n: i for i, n in enumerate(take.names)}
    hips = [idx["left_hip"], idx["right_hip"]]
    pc = cam.to_camera(xyz)
    pelvis_c = pc[:, hips].mean(axis=1)
    xy = cam.project(xyz[:, [idx[n] for n in keypoints]])
    body_px = cam.focal_px * take.height_m / np.maximum(pelvis_c[:, 2], 0.1)
    noisy, conf = corrupt(rng, xy, body_px, keypoints, fps=take.fps, level=noise_level)
    norm, c = normalise_keypoints(noisy, conf, names=keypoints, mode="pelvis_scale",
                                  image_size=cam.image_size)
    inputs = np.concatenate([norm, c[..., None]], axis=2).astype(np.float32)
    targets = (pc[:, [idx[n] for n in joints_out]] - pelvis_c[:, None, :]).astype(np.float32)
    return inputs, targets


def cut_chunks(inputs: NDArray[np.float32], targets: NDArray[np.float32], *, rf: int, length: int,
               offset: int = 0) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Chunks of ``length`` output frames with their ``length + rf - 1`` input frames (edges repeated)."""
    half = (rf - 1) // 2
    padded = np.pad(inputs, ((half, half), (0, 0), (0, 0)), mode="edge")
    t = len(targets)
    starts = list(range(-(offset % length), t, length)) if t > length else [0]
    out = []
    for s in starts:
        s0 = min(max(s, 0), max(t - length, 0))
        n = min(length, t)
        out.append((padded[s0: s0 + n + rf - 1], targets[s0: s0 + n]))
    return out


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error: mean Euclidean distance over frames and joints (same unit as input)."""
    return torch.linalg.norm(pred - target, dim=-1).mean()


def _batches(chunks: list[tuple[NDArray[np.float32], NDArray[np.float32]]], batch_size: int,
             rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Chunks grouped by length (short takes give short chunks), shuffled, stacked."""
    by_len: dict[int, list[int]] = {}
    for i, (_, tgt) in enumerate(chunks):
        by_len.setdefault(len(tgt), []).append(i)
    batches = []
    for ids in by_len.values():
        ids = [ids[k] for k in rng.permutation(len(ids))]
        for b in range(0, len(ids), batch_size):
            sel = ids[b: b + batch_size]
            batches.append((torch.from_numpy(np.stack([chunks[i][0] for i in sel])),
                            torch.from_numpy(np.stack([chunks[i][1] for i in sel]))))
    return [batches[k] for k in rng.permutation(len(batches))]


Chunk = tuple[NDArray[np.float32], NDArray[np.float32]]


def _epoch_chunks(takes: Sequence[Take], cfg: TrainConfig, rng: np.random.Generator, *, rf: int,
                  keypoints: Sequence[str], joints_out: Sequence[str],
                  pools: dict[str, list[VirtualCamera]]) -> list[Chunk]:
    chunks = []
    for take in takes:
        for _ in range(cfg.views_per_epoch):
            pool = pools.get(take.name)
            cam = pool[int(rng.integers(len(pool)))] if pool else camera_for(take, rng)
            mirrored = bool(cfg.mirror and rng.random() < 0.5)
            inp, tgt = render_view(take, cam, rng, keypoints=keypoints, joints_out=joints_out,
                                   mirrored=mirrored, noise_level=cfg.noise_level)
            chunks += cut_chunks(inp, tgt, rf=rf, length=cfg.chunk_frames,
                                 offset=int(rng.integers(cfg.chunk_frames)))
    return chunks


def camera_pools(takes: Sequence[Take], *, k: int, seed: int) -> dict[str, list[VirtualCamera]]:
    """``k`` fixed cameras per take (empty when ``k`` is 0), drawn from ``default_rng([seed, -1])``."""
    if k <= 0:
        return {}
    rng = np.random.default_rng([seed, 2**31 - 1])
    return {tk.name: [camera_for(tk, rng) for _ in range(k)] for tk in takes}


def evaluate(model: TemporalLifter, takes: Sequence[Take], cfg: TrainConfig, *, keypoints: Sequence[str],
             joints_out: Sequence[str], noise_level: float) -> float:
    """MPJPE (mm) over ``takes``, each seen by 2 fixed random cameras (seeded), in eval mode."""
    if not takes:
        return float("nan")
    rng = np.random.default_rng([cfg.seed, 2**31 - 2])
    rf = model.receptive_field
    total, count = 0.0, 0
    was = model.training
    model.eval()
    with torch.no_grad():
        for take in takes:
            for v in range(2):
                cam = camera_for(take, rng)
                inp, tgt = render_view(take, cam, rng, keypoints=keypoints, joints_out=joints_out,
                                       mirrored=bool(v), noise_level=noise_level)
                for ci, ct in cut_chunks(inp, tgt, rf=rf, length=1024):
                    pred = model(torch.from_numpy(ci)[None])[0]
                    err = torch.linalg.norm(pred - torch.from_numpy(ct), dim=-1)
                    total += float(err.sum())
                    count += int(err.numel())
    model.train(was)
    return 1000.0 * total / max(count, 1)


def recalibrate_batch_norm(model: TemporalLifter,
                           batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Replace the batch-norm running statistics by their plain average over ``batches`` (weights fixed).

    The running averages of training lag behind the weights; averaged afresh over one pass of the
    final weights, eval-mode output matches train-mode output.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    saved = [(m.momentum, m.training) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                  # cumulative average
    was = model.training
    model.eval()
    for m in bns:
        m.train()
    with torch.no_grad():
        for x, _ in batches:
            model(x)
    for m, (mom, _) in zip(bns, saved, strict=True):
        m.momentum = mom
    model.train(was)


def _checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def _save_checkpoint(path: Path, model: TemporalLifter, opt: torch.optim.Optimizer, epoch: int,
                     history: list[dict[str, float]], signature: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, "epoch": epoch, "state_dict": model.state_dict(),
                    "optimizer": opt.state_dict(), "history": history, "signature": signature}, tmp)


def train_lifter(
    takes: Sequence[Take],
    out: str | Path,
    *,
    cfg: TrainConfig,
    keypoints: Sequence[str] = DEFAULT_KEYPOINTS,
    joints_out: Sequence[str] | None = None,
    licences: dict[str, str] | None = None,
    sources: list[dict[str, Any]] | None = None,
    resume: bool = False,
    progress: bool = False,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a :class:`TemporalLifter` on takes and write an ``imusynth-lifter/1`` file atomically.

    Parameters
    ----------
    takes : sequence of Take
        Training and held-out data (split by take with ``cfg.val_fraction`` and ``cfg.seed``).
    out : path
        Output lifter file; ``out + ".ckpt"`` holds the per-epoch checkpoint.
    cfg : TrainConfig
    keypoints, joints_out : sequence of str
        Input keypoints and output joints (canonical names; outputs default to the inputs).
    licences : dict, optional
        Data folder → licence text, stored in the file's ``meta``.
    sources : list of dict, optional
        Per-file provenance (path, frames, sha256...) stored in ``meta``.
    resume : bool
        Continue from ``out + ".ckpt"`` (same data, split and settings required).
    progress : bool
        Show a tqdm bar per epoch.
    threads : int, optional
        ``torch.set_num_threads`` during the run (restored after). On a busy machine 1 thread is many
        times faster than several (measured 25x on 2 shared cores).

    Returns
    -------
    TrainResult
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _train(takes, Path(out), cfg=cfg, keypoints=keypoints, joints_out=joints_out,
                      licences=licences, sources=sources, resume=resume, progress=progress, log=log)
    finally:
        torch.set_num_threads(before)


def _train(takes: Sequence[Take], out: Path, *, cfg: TrainConfig, keypoints: Sequence[str],
           joints_out: Sequence[str] | None, licences: dict[str, str] | None,
           sources: list[dict[str, Any]] | None, resume: bool, progress: bool,
           log: Callable[[str], None] | None) -> TrainResult:
    from tqdm import tqdm

    import imusynth

    keypoints = list(keypoints)
    joints_out = list(joints_out) if joints_out is not None else list(keypoints)
    if not takes:
        raise InputError("no training takes")
    if "left_hip" not in keypoints or "right_hip" not in keypoints:
        raise InputError("the input keypoints must include left_hip and right_hip (the root)")
    say = log or (lambda _m: None)
    train, val = split_takes(takes, val_fraction=cfg.val_fraction, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    model = TemporalLifter(len(keypoints), 3, len(joints_out), cfg.filter_widths, cfg.channels, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, amsgrad=True)
    signature = {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
                            if k not in ("epochs", "max_minutes")},
                 "keypoints": keypoints, "joints_out": joints_out, "train": sorted(t.name for t in train)}
    history: list[dict[str, float]] = []
    start_epoch = 0
    ckpt = _checkpoint_path(out)
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("signature") != signature:
            raise InputError(f"{ckpt}: checkpoint of another run (data, split or settings differ)")
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
        say(f"resuming after epoch {start_epoch}")
    elif resume:
        say(f"no checkpoint {ckpt}: starting afresh")
    pools = camera_pools(train, k=cfg.camera_pool, seed=cfg.seed)
    rf = model.receptive_field
    t0 = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * cfg.lr_decay ** epoch
        model.train()
        batches = _batches(_epoch_chunks(train, cfg, rng, rf=rf, keypoints=keypoints, joints_out=joints_out,
                                         pools=pools), cfg.batch_size, rng)
        total, n = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for x, y in bar:
            pred = model(x)
            loss = mpjpe(pred, y)
            if cfg.velocity_weight > 0 and y.shape[1] > 1:
                loss = loss + cfg.velocity_weight * mpjpe(pred.diff(dim=1), y.diff(dim=1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            err = float(mpjpe(pred.detach(), y))
            total += err * len(x)
            n += len(x)
            bar.set_postfix(mpjpe_mm=f"{1000 * err:.0f}")
        row = {"epoch": epoch + 1, "train_mpjpe_mm": 1000.0 * total / max(n, 1),
               "val_mpjpe_mm": evaluate(model, val, cfg, keypoints=keypoints, joints_out=joints_out,
                                        noise_level=cfg.noise_level),
               "seconds": time.perf_counter() - t0}
        history.append(row)
        say(f"epoch {epoch + 1}: train MPJPE {row['train_mpjpe_mm']:.1f} mm, "
            f"held-out {row['val_mpjpe_mm']:.1f} mm")
        _save_checkpoint(ckpt, model, opt, epoch + 1, history, signature)
        if cfg.max_minutes > 0 and time.perf_counter() - t0 > 60.0 * cfg.max_minutes:
            say(f"time limit of {cfg.max_minutes} min reached after epoch {epoch + 1}")
            break
    if history:
        recalibrate_batch_norm(model, _batches(_epoch_chunks(
            train, cfg, np.random.default_rng([cfg.seed, len(history)]), rf=rf, keypoints=keypoints,
            joints_out=joints_out, pools=pools), cfg.batch_size, np.random.default_rng(cfg.seed)))
        history[-1]["val_mpjpe_mm"] = evaluate(model, val, cfg, keypoints=keypoints, joints_out=joints_out,
                                               noise_level=cfg.noise_level)
    model.eval()
    frames = int(sum(len(t.xyz) for t in train))
    meta = {
        "imusynth_version": imusynth.__version__,
        "config": signature["config"],
        "epochs_done": len(history),
        "history": history,
        "train_takes": [t.name for t in train],
        "val_takes": [t.name for t in val],
        "train_frames": frames,
        "train_hours": frames / cfg.fps / 3600.0,
        "data": list(sources or [{"path": t.source, "frames": len(t.xyz)} for t in takes]),
        "licences": dict(licences or {}),
        "non_commercial": any("NC" in v for v in (licences or {}).values()),
        "loss": "MPJPE (root-relative, m)" + (f" + {cfg.velocity_weight} x velocity MPJPE"
                                              if cfg.velocity_weight > 0 else ""),
    }
    digest = save_lifter_file(out, model, keypoints_in=keypoints, joints_out=joints_out, fps=cfg.fps,
                              meta=meta)
    return TrainResult(out, digest, history, [t.name for t in train], [t.name for t in val],
                       time.perf_counter() - t0, frames)


def describe_sources(paths: Sequence[str | Path], takes: Sequence[Take], *, hash_files: bool,
                     licence: str | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Per-file provenance and per-folder licences (``licence`` overrides the README's)."""
    frames = {t.source: len(t.xyz) for t in takes}
    sources, licences = [], {}
    for p in paths:
        entry: dict[str, Any] = {"path": str(p), "frames": frames.get(str(p), 0)}
        if hash_files:
            entry["sha256"] = file_sha256(p)
        sources.append(entry)
        folder = str(Path(p).resolve().parent)
        if folder not in licences:
            licences[folder] = licence or data_licence(p)
    return sources, licences
