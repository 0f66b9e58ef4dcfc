"""Batch conversion of many videos (YouTube playlists, URL lists, folders): resumable and parallel.

* :mod:`~imusynth.batch.ingest` — sources (playlists, URL lists, folders) and ``labels.csv``;
  the fetch of one video (yt-dlp, the download cache, provenance) is :mod:`imusynth.video.fetch`;
* :mod:`~imusynth.batch.manifest` — the SQLite manifest in OUTDIR (one record per item);
* :mod:`~imusynth.batch.executors` — local spawned workers, or a Dask cluster;
* :mod:`~imusynth.batch.tasks` — what a worker runs (fetch, process);
* :mod:`~imusynth.batch.runner` — the driver: plan, run, recover, summarise;
* :mod:`~imusynth.batch.gather` — merge the per-video files into one dataset.

Importing this package loads no numeric library (spawned workers set their thread limits first);
``from imusynth.batch.gather import gather`` loads h5py.
"""

from __future__ import annotations

from imusynth.batch.executors import DaskExecutor, LocalExecutor, Outcome
from imusynth.batch.ingest import Item, LabelRow, expand_sources, read_labels, read_url_list
from imusynth.batch.manifest import Manifest, Record, Status
from imusynth.batch.runner import BatchError, BatchSummary, run_batch
from imusynth.video.fetch import DownloadOptions, fetch

__all__ = [
    "BatchError",
    "BatchSummary",
    "DaskExecutor",
    "DownloadOptions",
    "Item",
    "LabelRow",
    "LocalExecutor",
    "Manifest",
    "Outcome",
    "Record",
    "Status",
    "expand_sources",
    "fetch",
    "read_labels",
    "read_url_list",
    "run_batch",
]

