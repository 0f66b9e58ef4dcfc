"""Detections per person: adaptive person detection against MediaPipe with its detector in every frame.

For each video, MediaPipe PoseLandmarker runs twice over every frame:

- ``reference``: one VIDEO-mode landmarker with ``num_poses = 4`` (the old default: with fewer than 4
  people in view its person detector runs on every frame);
- ``adaptive``: :class:`imusynth.video.pose.adaptive.AdaptivePoseEstimator` (``max_poses = 4``,
  ``--detect-every`` frames between probes, look-back on), through ``push``/``flush`` as the pipeline
  calls it.

Both outputs go through the pipeline's :class:`~imusynth.video.pose.tracking.Tracker` (people of at
least 1 s after identity linking). Reported per reference person: frames with a detection in each
run, and **lost** frames: frames where the reference person is detected but no adaptive pose of that
frame is that person (boxes overlapping by IoU >= 0.5 or holding each other's centre), and among them
those where the reference pose's box holds the centres of two adaptive poses (a reference skeleton across
two people, whom the adaptive run outputs apart), and those where the adaptive person linked to the
reference person by the tracker has a pose placed otherwise (boxes not matching); **missing**: the lost
frames that are neither (no adaptive pose of the person at all). The other way round: **extra poses**
(adaptive poses that are no reference pose of their frame) and **phantom people** (adaptive people of
whom most poses are no reference pose). Also: the number of people per run, CPU time of the pose stage
per frame (process time, ms; wall-clock too) and the adaptive estimator's counters.

Run from the repository root::

    IMUSYNTH_MODEL_DIR=../shared/models .venv/bin/python benchmarks/eval_detections.py \
        [--model lite] [--detect-every 8] [--videos PATH ...] [--reuse-reference] [--out PATH]

``--reuse-reference`` keeps each reference run (poses and times, per model and video) in
``benchmarks/results/`` and reads it back on the next run (for comparing changes of the adaptive side).

Prints a table and writes ``benchmarks/results/eval_detections.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.video.decode import iter_frames
from imusynth.video.pose.adaptive import mediapipe_adaptive
from imusynth.video.pose.detection import PoseDetection
from imusynth.video.pose.mediapipe_backend import PoseEstimator
from imusynth.video.pose.tracking import Tracker

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared" / "videos"
MULTI = SHARED / "pose2sim" / "Demo_MultiPerson" / "videos"
DEFAULT_VIDEOS = [SHARED / "sports2d" / "demo.mp4", SHARED / "sports2d" / "demo4_walking.mp4",
                  *[MULTI / f"cam0{i}.mp4" for i in range(1, 5)]]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    ih = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = iw * ih
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _found(box: np.ndarray, dets: list[PoseDetection]) -> bool:
    """A pose of ``dets`` is the person of ``box``: IoU >= 0.5, or each box holds the other's centre (one
    person's skeletons differ in width with the arms: a side-view walker's boxes overlap by IoU 0.4)."""
    c = (box[:2] + box[2:]) / 2
    for d in dets:
        e = (d.bbox[:2] + d.bbox[2:]) / 2
        inside = bool(np.all(c >= d.bbox[:2]) and np.all(c <= d.bbox[2:])
                      and np.all(e >= box[:2]) and np.all(e <= box[2:]))
        if inside or _iou(box, d.bbox) >= 0.5:
            return True
    return False


def _straddles(box: np.ndarray, dets: list[PoseDetection]) -> bool:
    """``box`` holds the centres of two or more poses of ``dets``: a skeleton across two people (the
    reference's phantom), not a person the adaptive run lost."""
    inside = [d for d in dets if np.all((d.bbox[:2] + d.bbox[2:]) / 2 >= box[:2])
              and np.all((d.bbox[:2] + d.bbox[2:]) / 2 <= box[2:])]
    return len(inside) >= 2


def run(video: Path, kind: str, model: str, detect_every: int, cache: Path | None = None) -> dict[str, Any]:
    """Per-frame poses of one run, its people (tracker) and its pose-stage times; the reference's poses and
    times are read from / written to ``cache`` when given."""
    frames: dict[int, list[PoseDetection]] = {}
    times: dict[int, float] = {}
    cpu = wall = 0.0
    est: Any
    if kind == "reference":
        if cache is not None and cache.exists():
            frames, times, cpu, wall = pickle.loads(cache.read_bytes())
            return _people(frames, times, cpu, wall, {})
        est = PoseEstimator(model, num_poses=4)
    else:
        est = mediapipe_adaptive(model, max_poses=4, detect_every=detect_every)
    with est:
        for frame in iter_frames(video):
            times[frame.index] = frame.time_s
            c0, w0 = time.process_time(), time.perf_counter()
            if kind == "reference":
                ready = [(frame.index, est.detect(frame.image, frame.time_s))]
            else:
                ready = est.push(frame.image, frame.time_s, frame.index)
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            frames.update(ready)
        if kind != "reference":
            frames.update(est.flush())
        stats = dict(getattr(est, "stats", {}))
    if kind == "reference" and cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps((frames, times, cpu, wall)))
    return _people(frames, times, cpu, wall, stats)


def _people(frames: dict[int, list[PoseDetection]], times: dict[int, float], cpu: float, wall: float,
            stats: dict[str, int]) -> dict[str, Any]:
    fps = len(times) / max(times[max(times)] - times[min(times)], 1e-9) * (len(times) - 1) / len(times)
    tracker = Tracker(min_duration_s=1.0, max_missed=max(1, int(round(0.5 * fps))))
    for i in sorted(frames):
        tracker.update(times[i], frames[i], frame_index=i)
    people = {tid: tracker.track(tid) for tid in tracker.track_ids()}
    return {"frames": frames, "people": people, "cpu_ms": 1000 * cpu / len(times),
            "wall_ms": 1000 * wall / len(times), "n_frames": len(times), "stats": stats,
            "detections": sum(len(v) for v in frames.values())}


def compare(video: Path, model: str, detect_every: int, reuse_reference: bool = False) -> dict[str, Any]:
    cache = RESULTS / f"eval_detections_reference_{model}_{video.parent.name}_{video.stem}.pkl"
    ref = run(video, "reference", model, detect_every, cache=cache if reuse_reference else None)
    ada = run(video, "adaptive", model, detect_every)
    # adaptive poses that are no reference pose of their frame (boxes not matching); phantom people: the
    # adaptive people (the tracker's, >= 1 s) of whom most poses are no reference pose
    extra = [(fi, d) for fi, dets in ada["frames"].items() for d in dets
             if not _found(d.bbox, ref["frames"].get(fi, []))]
    phantoms = [aid for aid, at in ada["people"].items()
                if 2 * sum(not _found(b, ref["frames"].get(int(fi), []))
                           for fi, b in zip(at.frame_index, at.bbox, strict=True)) > len(at.frame_index)]
    persons = []
    for tid, tr in ref["people"].items():
        lost = [int(fi) for fi, box in zip(tr.frame_index, tr.bbox, strict=True)
                if not _found(box, ada["frames"].get(int(fi), []))]
        # the adaptive person holding most of this person's frames
        best, best_n = None, 0
        for aid, at in ada["people"].items():
            common = np.intersect1d(tr.frame_index, at.frame_index)
            n = sum(1 for fi in common if _found(tr.bbox[np.searchsorted(tr.frame_index, fi)],
                                                 [at.detection(int(np.searchsorted(at.frame_index, fi)))]))
            if n > best_n:
                best, best_n = aid, n
        persons.append({"reference_id": tid, "span": [int(tr.frame_index[0]), int(tr.frame_index[-1])],
                        "reference_frames": len(tr.frame_index),
                        "adaptive_id": best,
                        "adaptive_frames": 0 if best is None else len(ada["people"][best].frame_index),
                        "lost_frames": len(lost), "lost": lost[:20],
                        "lost_straddling": [fi for fi in lost if _straddles(
                            tr.bbox[int(np.searchsorted(tr.frame_index, fi))], ada["frames"].get(fi, []))],
                        # frames where the adaptive person linked to this one (the tracker's identity)
                        # has a pose, placed otherwise than the reference's (boxes not matching)
                        "lost_placed_otherwise": [] if best is None else [
                            fi for fi in lost if fi in set(ada["people"][best].frame_index.tolist())]})
    return {"video": str(video.relative_to(ROOT.parent)) if video.is_relative_to(ROOT.parent) else str(video),
            "frames": ref["n_frames"], "model": model, "detect_every": detect_every,
            "people_reference": len(ref["people"]), "people_adaptive": len(ada["people"]),
            "detections_reference": ref["detections"], "detections_adaptive": ada["detections"],
            "pose_cpu_ms_reference": ref["cpu_ms"], "pose_cpu_ms_adaptive": ada["cpu_ms"],
            "pose_wall_ms_reference": ref["wall_ms"], "pose_wall_ms_adaptive": ada["wall_ms"],
            "adaptive_stats": ada["stats"], "persons": persons,
            "extra_detections": len(extra), "extra_frames": sorted({fi for fi, _ in extra})[:40],
            "phantom_people": len(phantoms),
            "lost_total": sum(p["lost_frames"] for p in persons),
            # lost frames where the adaptive run has no pose of the person at all (neither straddled by a
            # reference skeleton nor held by the linked adaptive person, placed otherwise)
            "missing_total": sum(p["lost_frames"] - len({*p["lost_straddling"], *p["lost_placed_otherwise"]})
                                 for p in persons)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite")
    ap.add_argument("--detect-every", type=int, default=8)
    ap.add_argument("--videos", nargs="+", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--reuse-reference", action="store_true",
                    help="read the reference's poses and times from benchmarks/results (written if absent)")
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_detections.json")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows = []
    for v in args.videos:
        if not v.exists():
            print(f"missing: {v}")
            continue
        r = compare(v, args.model, args.detect_every, args.reuse_reference)
        rows.append(r)
        print(f"{r['video']}: {r['frames']} frames, "
              f"people {r['people_reference']} -> {r['people_adaptive']}, "
              f"pose CPU {r['pose_cpu_ms_reference']:.1f} -> {r['pose_cpu_ms_adaptive']:.1f} ms/frame, "
              f"lost {r['lost_total']} (missing {r['missing_total']}), phantom people {r['phantom_people']}, "
              f"extra poses {r['extra_detections']} {r['extra_frames']}; "
              f"{r['adaptive_stats']}", flush=True)
        for p in r["persons"]:
            print(f"   person {p['reference_id']} frames {p['span']}: {p['reference_frames']} detected, "
                  f"adaptive person {p['adaptive_id']}: {p['adaptive_frames']}, lost {p['lost_frames']} "
                  f"{p['lost']} (a reference skeleton across two adaptive poses: {p['lost_straddling']}, "
                  f"the adaptive person's pose placed otherwise: {p['lost_placed_otherwise']})", flush=True)
    payload = {"rows": rows, "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
