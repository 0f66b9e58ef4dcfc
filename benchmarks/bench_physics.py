"""Speed of the physics core (stage 5, :func:`imusynth.core.sensors.simulate`).

Target (issue 2, acceptance 5): one hour of 30 Hz motion for 10 placements in under 2 s.

The input is a synthetic MediaPipe-33 skeleton walking for an hour on a winding path (leg, arm and
trunk swing at a gait frequency that drifts, 3 mm landmark noise) with occlusion gaps: short ones
(bridged) and long ones (invalid), on groups of landmarks (an arm, a leg, the face) as in video.
:func:`simulate` runs for 10 built-in placements at 50 Hz output; the script reports the best of
``--repeat`` runs (wall-clock and process CPU time: on a shared machine the CPU time is what the
work itself costs, the wall-clock time also counts waiting for a core: the development machine's 2 cores
are shared by several sessions, so compare runs by CPU time and quote the load average with the wall
time), and the peak memory of one extra run traced by :mod:`tracemalloc` (Python and NumPy allocations;
the input motion excluded; the ten results themselves are ~144 MiB of it) and the process's max RSS.

Run from the repository root::

    .venv/bin/python benchmarks/bench_physics.py [--hours 1] [--repeat 3]

Prints a table and writes ``benchmarks/results/bench_physics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from imusynth.core.motion import Motion
from imusynth.core.placements import resolve_placements
from imusynth.core.sensors import simulate
from imusynth.core.skeletons import MEDIAPIPE_33

RESULTS = Path(__file__).resolve().parent / "results"

PLACEMENTS = ["head", "chest", "waist", "left_upper_arm", "left_forearm", "right_forearm", "wrist",
              "right_wrist", "thigh", "right_foot"]

# Standing pose in the body frame (x to the subject's right, y forward, z up), metres.
_POSE = {
    "nose": (0.0, 0.10, 1.63), "left_eye_inner": (-0.015, 0.09, 1.66), "left_eye": (-0.03, 0.08, 1.66),
    "left_eye_outer": (-0.045, 0.07, 1.66), "right_eye_inner": (0.015, 0.09, 1.66),
    "right_eye": (0.03, 0.08, 1.66), "right_eye_outer": (0.045, 0.07, 1.66),
    "left_ear": (-0.08, 0.0, 1.64), "right_ear": (0.08, 0.0, 1.64),
    "mouth_left": (-0.025, 0.09, 1.58), "mouth_right": (0.025, 0.09, 1.58),
    "left_shoulder": (-0.2, 0.0, 1.45), "right_shoulder": (0.2, 0.0, 1.45),
    "left_elbow": (-0.22, 0.0, 1.17), "right_elbow": (0.22, 0.0, 1.17),
    "left_wrist": (-0.22, 0.0, 0.92), "right_wrist": (0.22, 0.0, 0.92),
    "left_pinky": (-0.22, -0.03, 0.83), "right_pinky": (0.22, -0.03, 0.83),
    "left_index": (-0.22, 0.03, 0.82), "right_index": (0.22, 0.03, 0.82),
    "left_thumb": (-0.22, 0.05, 0.87), "right_thumb": (0.22, 0.05, 0.87),
    "left_hip": (-0.1, 0.0, 0.95), "right_hip": (0.1, 0.0, 0.95),
    "left_knee": (-0.1, 0.01, 0.52), "right_knee": (0.1, 0.01, 0.52),
    "left_ankle": (-0.1, 0.0, 0.09), "right_ankle": (0.1, 0.0, 0.09),
    "left_heel": (-0.1, -0.05, 0.04), "right_heel": (0.1, -0.05, 0.04),
    "left_foot_index": (-0.1, 0.16, 0.02), "right_foot_index": (0.1, 0.16, 0.02),
}
_ARM = ("elbow", "wrist", "pinky", "index", "thumb")
_FOREARM = ("wrist", "pinky", "index", "thumb")
_LEG = ("knee", "ankle", "heel", "foot_index")
_SHANK = ("ankle", "heel", "foot_index")
_FACE = tuple(n for n in MEDIAPIPE_33 if "eye" in n or "ear" in n or "mouth" in n or n == "nose")


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """Rotations about the body x axis (subject's right), shape (T, 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _swing(xyz: np.ndarray, names: list[str], pivot: str, angle: np.ndarray) -> None:
    """Rotate the points ``names`` about the pivot's x axis by ``angle`` (T,) rad, in place."""
    R = _rot_x(angle)
    p = xyz[:, MEDIAPIPE_33.index(pivot)][:, None, :]
    idx = [MEDIAPIPE_33.index(n) for n in names]
    xyz[:, idx] = np.einsum("tij,tpj->tpi", R, xyz[:, idx] - p) + p


def walking_motion(duration_s: float, *, rate_hz: float = 30.0, seed: int = 0) -> Motion:
    """A MediaPipe-33 skeleton walking for ``duration_s`` at ``rate_hz`` with noise and occlusion gaps.

    Returns
    -------
    Motion
        ``xyz`` (T, 33, 3) m in the z-up world frame; NaN during the gaps.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate_hz))
    t = np.arange(n) / rate_hz
    base = np.array([_POSE[k] for k in MEDIAPIPE_33])
    xyz = np.broadcast_to(base, (n, 33, 3)).copy()
    # gait phase: stride frequency drifting between ~0.8 and ~1.0 Hz
    freq = 0.9 + 0.1 * np.sin(2 * np.pi * t / 97.0)
    phase = 2 * np.pi * np.cumsum(freq) / rate_hz
    for side in ("left", "right"):
        ph = phase + (0.0 if side == "left" else np.pi)
        # leg: hip flexion +-25 deg, knee flexion 0..60 deg during swing
        _swing(xyz, [f"{side}_{j}" for j in _SHANK], f"{side}_knee", -np.radians(30) * (1 + np.sin(ph - 1.2)))
        _swing(xyz, [f"{side}_{j}" for j in _LEG], f"{side}_hip", np.radians(25) * np.sin(ph))
        # arm: shoulder swing opposite to the leg, elbow flexion 20..50 deg
        _swing(xyz, [f"{side}_{j}" for j in _FOREARM], f"{side}_elbow",
               np.radians(35) + np.radians(15) * np.sin(ph + np.pi))
        _swing(xyz, [f"{side}_{j}" for j in _ARM], f"{side}_shoulder", -np.radians(20) * np.sin(ph))
    # trunk: vertical bob and a little sway
    xyz[:, :, 2] += 0.03 * np.sin(2 * phase)[:, None]
    xyz[:, :, 0] += 0.02 * np.sin(phase)[:, None]
    # heading: a winding path; 1.3 m/s forward (body +y)
    heading = 2 * np.pi * t / 120.0 + 0.6 * np.sin(2 * np.pi * t / 41.0)
    c, s = np.cos(heading), np.sin(heading)
    Rz = np.stack([np.stack([c, -s, 0 * c], -1), np.stack([s, c, 0 * c], -1),
                   np.stack([0 * c, 0 * c, 1 + 0 * c], -1)], -2)
    speed = 1.3 * (1 + 0.05 * np.sin(phase))
    path = np.cumsum(np.stack([-s * speed, c * speed, 0 * c], -1), axis=0) / rate_hz
    xyz = np.einsum("tij,tpj->tpi", Rz, xyz) + path[:, None, :]
    xyz += rng.normal(0.0, 0.003, xyz.shape)
    # occlusion gaps on landmark groups: 120 short (0.05-0.2 s, bridged), 30 long (0.3-3 s, invalid)
    groups = [[f"{side}_{j}" for j in _FOREARM] for side in ("left", "right")]
    groups += [[f"{side}_{j}" for j in _LEG] for side in ("left", "right")]
    groups += [list(_FACE)]
    for count, lo, hi in ((120, 0.05, 0.2), (30, 0.3, 3.0)):
        for _ in range(count):
            g = groups[rng.integers(len(groups))]
            a = int(rng.integers(n))
            b = min(n, a + int(rng.uniform(lo, hi) * rate_hz))
            xyz[a:b, [MEDIAPIPE_33.index(k) for k in g]] = np.nan
    conf = np.clip(rng.normal(0.9, 0.05, (n, 33)), 0.0, 1.0)
    return Motion(t, MEDIAPIPE_33, xyz, conf, source="synthetic walking", skeleton="mediapipe")


def _run(motion: Motion, rate_hz: float) -> dict:
    return simulate(motion, resolve_placements(PLACEMENTS), rate_hz=rate_hz, cutoff_hz=6.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=1.0, help="motion duration, hours")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (the best is reported)")
    ap.add_argument("--rate", type=float, default=50.0, help="output rate, Hz")
    args = ap.parse_args()

    t0 = time.perf_counter()
    motion = walking_motion(3600.0 * args.hours)
    build_s = time.perf_counter() - t0
    _run(motion.crop(0.0, 60.0), args.rate)                      # warm-up (imports, caches)

    walls, cpus = [], []
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = _run(motion, args.rate)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    tracemalloc.start()
    _run(motion, args.rate)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    n_out = len(next(iter(out.values())).time)
    valid = {k: float(s.valid.mean()) for k, s in out.items()}
    best = min(walls)
    result = {
        "benchmark": "physics core: imusynth.core.sensors.simulate",
        "target_s": 2.0,
        "motion": {"skeleton": "mediapipe (33 landmarks)", "frames": motion.n_frames, "rate_hz": 30.0,
                   "duration_s": motion.duration_s, "nan_fraction": float(np.isnan(motion.xyz).mean()),
                   "build_s": build_s},
        "placements": PLACEMENTS,
        "output_rate_hz": args.rate,
        "output_samples_per_placement": n_out,
        "valid_fraction": valid,
        "wall_s": walls,
        "cpu_s": cpus,
        "best_wall_s": best,
        "best_cpu_s": min(cpus),
        "per_placement_ms": 1000.0 * best / len(PLACEMENTS),
        "peak_traced_mib": peak / 2**20,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "input_motion_mib": motion.xyz.nbytes / 2**20,
        "meets_target": best < 2.0,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "load_avg_1min": os.getloadavg()[0]},
    }
    print(f"physics core: {motion.n_frames} frames ({motion.duration_s / 3600:.2f} h at 30 Hz, "
          f"{100 * result['motion']['nan_fraction']:.2f} % NaN), {len(PLACEMENTS)} placements -> "
          f"{args.rate:g} Hz ({n_out} samples each)")
    print(f"{'run':>4} {'wall s':>8} {'cpu s':>8}")
    for k, (w, c) in enumerate(zip(walls, cpus, strict=True)):
        print(f"{k + 1:>4} {w:8.3f} {c:8.3f}")
    print(f"best wall {best:.3f} s (target < 2 s: {'met' if best < 2.0 else 'NOT met'}), "
          f"{result['per_placement_ms']:.0f} ms/placement; best cpu {min(cpus):.3f} s")
    print(f"peak traced memory {result['peak_traced_mib']:.0f} MiB "
          f"(input motion {result['input_motion_mib']:.0f} MiB; "
          f"process max RSS {result['max_rss_mib']:.0f} MiB); "
          f"load average {result['machine']['load_avg_1min']:.1f} on {os.cpu_count()} cores")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "bench_physics.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
