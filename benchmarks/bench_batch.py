"""Batch throughput: 1 local worker vs 2 local workers vs a 2-worker Dask LocalCluster, real pipeline.

Six short real videos of people (made from ../shared/videos at run time, as in the tests) are processed
from local files (no download) into a fresh output folder per configuration; the wall time includes
starting the workers, as a user would see it. Targets (issue 5): 2 workers on 2 cores reach >= 1.7x the
throughput of 1; Dask is within 15 % of the local executor with the same number of workers.

Usage: .venv/bin/python benchmarks/bench_batch.py [--repeat N]
Writes benchmarks/results/bench_batch.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imusynth.batch.runner import run_batch  # noqa: E402
from imusynth.config import load_pipeline_config  # noqa: E402
from tests.batch_support import make_test_videos, trimmed_copy  # noqa: E402

SHARED = REPO.parent / "shared"


def six_clips(dst: Path) -> list[Path]:
    """The three test videos plus three more 1.5 s views of the Pose2Sim take (all with a person)."""
    videos = list(make_test_videos(SHARED, dst).values())
    cams = SHARED / "videos" / "pose2sim" / "Demo_SinglePerson" / "videos"
    for cam in ("cam02", "cam03", "cam04"):
        videos.append(trimmed_copy(cams / f"{cam}.mp4", dst / f"balance_{cam}.mp4", frames=90, max_side=640))
    return videos


def run_once(videos: list[Path], work: Path, *, executor: str, workers: int,
             scheduler: str | None = None) -> tuple[float, float]:
    """Wall time of one batch (s) and the mean CPU time per clip in the workers (s).

    ``scheduler``: address of a Dask cluster that is already running (its start-up is then not timed,
    as on a real cluster, which outlives the batches sent to it).
    """
    out = work / f"out_{executor}_{workers}_{'warm' if scheduler else 'cold'}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run_batch([str(v) for v in videos], out, config=load_pipeline_config(None), executor=executor,
                        workers=workers, scheduler=scheduler, progress=False, echo=lambda _m: None)
    wall = time.perf_counter() - t0
    if summary.status != {"done": len(videos)}:
        raise SystemExit(f"{executor}/{workers}: not every clip was done: {summary.table()}")
    return wall, sum(summary.cpu_s) / len(summary.cpu_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (the best is kept)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"shared data missing: {SHARED}")
    os.environ.setdefault("IMUSYNTH_MODEL_DIR", str(SHARED / "models"))
    configs = [("local", 1), ("local", 2), ("dask", 2), ("dask-running", 2)]
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        work = Path(tmp)
        videos = six_clips(work / "videos")
        walls: dict[str, list[float]] = {f"{e}-{w}": [] for e, w in configs}
        cpus: dict[str, list[float]] = {f"{e}-{w}": [] for e, w in configs}
        from distributed import LocalCluster

        # a cluster started before the timing, as a real one is (workers: processes with one thread each)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            for _ in range(args.repeat):
                for executor, workers in configs:
                    running = executor == "dask-running"
                    wall, cpu = run_once(videos, work, executor="dask" if running else executor,
                                         workers=workers,
                                         scheduler=cluster.scheduler_address if running else None)
                    walls[f"{executor}-{workers}"].append(wall)
                    cpus[f"{executor}-{workers}"].append(cpu)
    best = {k: min(v) for k, v in walls.items()}
    n = 6
    speedup = best["local-1"] / best["local-2"]
    dask_ratio = best["dask-2"] / best["local-2"]
    dask_running_ratio = best["dask-running-2"] / best["local-2"]
    load = os.getloadavg()
    print(f"{'executor':<16}{'wall s':>9}{'clips/min':>11}{'CPU s/clip':>12}")
    for k in best:
        print(f"{k:<16}{best[k]:>9.1f}{n / best[k] * 60:>11.1f}{min(cpus[k]):>12.2f}")
    print(f"speed-up 2 workers / 1: {speedup:.2f}x (target >= 1.7)")
    print(f"dask-2 (cluster started by the batch) / local-2 wall: {dask_ratio:.2f} "
          "(target within 15 %: <= 1.15)")
    print(f"dask on a running 2-worker cluster / local-2 wall: {dask_running_ratio:.2f} (target <= 1.15)")
    print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} cores")
    result = {
        "clips": n,
        "wall_s": walls,
        "best_wall_s": best,
        "cpu_s_per_clip": cpus,
        "speedup_2_vs_1": speedup,
        "dask_over_local": dask_ratio,
        "dask_running_over_local": dask_running_ratio,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_batch.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'bench_batch.json'}")


if __name__ == "__main__":
    main()
