"""Cost of mounting augmentation in the physics stage: ``--augment 10`` against a plain run.

Target (issue 13): :func:`imusynth.core.sensors.simulate` with 10 random-mounting variants per sensor
costs under 2x the same call without them. The variants reuse the filtered points, the segment frames
and one spline (the point on the segment axis and the three segment axes, whose second derivatives
give every variant's acceleration by linearity); per variant only a few small matrix products remain.

The input is :func:`bench_physics.walking_motion` (a synthetic MediaPipe-33 skeleton walking, with
occlusion gaps), the ten placements of ``bench_physics``, 50 Hz output. Reports the best of ``--repeat``
runs of each (process CPU time, the fair measure on a shared machine, and wall-clock time), the ratio,
and writes ``benchmarks/results/bench_augment.json``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_augment.py [--minutes 10] [--variants 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_physics import PLACEMENTS, walking_motion  # noqa: E402

from imusynth.core.mounting import DEFAULT_SPEC, draw_mountings, mounting_seed  # noqa: E402
from imusynth.core.placements import resolve_placements  # noqa: E402
from imusynth.core.sensors import simulate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _best(fn, repeat: int) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="Length of the synthetic walk, min.")
    ap.add_argument("--variants", type=int, default=10, help="Variants per sensor (--augment N).")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    motion = walking_motion(args.minutes * 60.0)
    placements = resolve_placements(PLACEMENTS)
    mountings = {p.name: draw_mountings(p.augment or DEFAULT_SPEC, args.variants,
                                        mounting_seed("bench", p.name, 0)) for p in placements}

    def plain() -> None:
        simulate(motion, placements, rate_hz=50.0, cutoff_hz=6.0, require_valid=False)

    def augmented() -> None:
        out = simulate(motion, placements, rate_hz=50.0, cutoff_hz=6.0, require_valid=False,
                       mountings=mountings)
        assert len(out) == len(placements) * (args.variants + 1)

    plain()                                            # warm-up (imports, caches)
    cpu_p, wall_p = _best(plain, args.repeat)
    cpu_a, wall_a = _best(augmented, args.repeat)
    res = {
        "minutes": args.minutes, "placements": len(placements), "variants": args.variants,
        "plain_cpu_s": cpu_p, "plain_wall_s": wall_p, "augmented_cpu_s": cpu_a, "augmented_wall_s": wall_a,
        "ratio_cpu": cpu_a / cpu_p, "ratio_wall": wall_a / wall_p, "target_ratio": 2.0,
        "load_average": os.getloadavg()[0],
    }
    print(f"{args.minutes:g} min walk, {len(placements)} placements, 50 Hz output")
    print(f"plain       {cpu_p:7.3f} s CPU  {wall_p:7.3f} s wall")
    print(f"+{args.variants} variants {cpu_a:7.3f} s CPU  {wall_a:7.3f} s wall")
    print(f"ratio       {res['ratio_cpu']:7.2f} CPU    {res['ratio_wall']:7.2f} wall   (target < 2; load "
          f"{res['load_average']:.1f})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_augment.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
