"""``imusynth gather``: merge ``imusynth/1`` files into one dataset: a batch's outputs, or any files.

:func:`gather_files` merges any files (from ``motion``, ``calibrate apply``, other datasets): clip ids that
clash with an earlier file's get the file's stem in front (and are reported), a file that cannot be read is
reported and left out. :func:`gather` merges a batch's OUTDIR through its manifest:

Only items that are ``done`` in the manifest are gathered, so a file a crashed run left behind is
never taken; *empty* items (a sensor without any valid sample) are left out unless asked for. The
label comes from the manifest (relabelling with a new ``labels.csv`` needs no reprocessing), the group
key is the video id (or the uploader), and clips are streamed one per-video file at a time into a
single atomic write.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imusynth.batch.manifest import MANIFEST_NAME, Manifest, Record, Status
from imusynth.errors import InputError
from imusynth.io.hdf5 import Clip, SchemaError, read_clips, validate_file, write_clips
from imusynth.io.inputs import ClipIds, Failure, InputItem, RunLog, each_input

GROUP_BY = ("video", "uploader")


class GatherError(InputError, ValueError):
    """Nothing to gather, mixed configurations, or a bad option."""


@dataclass
class GatherSummary:
    """What :func:`gather` wrote.

    Attributes
    ----------
    path : Path
        The dataset file.
    videos : int
        Per-video files merged.
    clips : int
        Clips written.
    labels : dict of str to int
        Clips per label ("" for unlabelled).
    groups : int
        Distinct group keys.
    missing : list of str
        Done items whose output file is gone (left out).
    empty : list of str
        Empty items (a sensor without any valid sample) left out; kept with ``include_empty``.
    """

    path: Path
    videos: int = 0
    clips: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text summary."""
        lines = [f"gathered {self.clips} clip(s) from {self.videos} video file(s), "
                 f"{self.groups} group(s) -> {self.path}"]
        for label, n in sorted(self.labels.items()):
            lines.append(f"  {label or '(unlabelled)':<24}{n:>6} clip(s)")
        if self.missing:
            lines.append(f"left out {len(self.missing)} done item(s) whose file is missing: "
                         f"{self.missing[:5]}")
        if self.empty:
            lines.append(f"left out {len(self.empty)} empty item(s) (a sensor without any valid sample; "
                         f"--include-empty keeps them): {self.empty[:5]}")
        return "\n".join(lines)


def _group_key(record: Record, group_by: str) -> str:
    if group_by == "uploader":
        uploader = record.provenance.get("source_uploader")
        if uploader:
            return uploader
    return record.video_id


def _select(records: list[Record], config_hash: str | None) -> list[Record]:
    done = [r for r in records if r.status == Status.DONE]
    if not done:
        raise GatherError("no done item in the manifest: run 'imusynth batch' first")
    if config_hash is not None:
        chosen = [r for r in done if r.config_hash == config_hash]
        if not chosen:
            raise GatherError(f"no done item was made with configuration {config_hash}")
        return chosen
    hashes = Counter(r.config_hash for r in done)
    if len(hashes) > 1:
        listing = ", ".join(f"{h}: {n}" for h, n in hashes.most_common())
        raise GatherError(
            f"done items were made with {len(hashes)} pipeline configurations ({listing}); "
            "rerun the batch with one configuration or choose one with --config-hash"
        )
    return done


def gather(
    outdir: Path,
    out_path: Path,
    *,
    group_by: str = "video",
    config_hash: str | None = None,
    include_empty: bool = False,
) -> GatherSummary:
    """Merge the per-video files of a batch into one ``imusynth/1`` file.

    Parameters
    ----------
    outdir : Path
        The batch's OUTDIR (with ``manifest.sqlite``).
    out_path : Path
        Dataset file to write (atomically; replaced if it exists).
    group_by : {"video", "uploader"}
        Group key written into each clip: the video id, or the uploader (the video id when the
        uploader is unknown, e.g. local files).
    config_hash : str or None
        Gather only items made with this configuration; needed when the manifest holds several.
    include_empty : bool
        Also gather *empty* items (done, but a sensor of the output has no valid sample).

    Returns
    -------
    GatherSummary

    Raises
    ------
    GatherError
        Unknown ``group_by``, no done item, several configurations, or an invalid result.
    """
    if group_by not in GROUP_BY:
        raise GatherError(f"--group-by must be one of {GROUP_BY}, got {group_by!r}")
    outdir = Path(outdir)
    out_path = Path(out_path)
    with Manifest(outdir / MANIFEST_NAME, readonly=True) as manifest:
        records = _select(manifest.records(), config_hash)
    summary = GatherSummary(path=out_path)
    present = []
    for r in records:
        assert r.output is not None
        if r.empty and not include_empty:
            summary.empty.append(r.video_id)
        elif (outdir / r.output).is_file():
            present.append(r)
        else:
            summary.missing.append(r.video_id)
    if not present and summary.empty:
        raise GatherError(f"every done item with its file is empty ({len(summary.empty)}: a sensor without "
                          "any valid sample); --include-empty gathers them all the same")
    if not present:
        raise GatherError(f"none of the {len(records)} done item(s) has its output file in {outdir}")
    labels: Counter[str] = Counter()
    groups: set[str] = set()

    def clips() -> Iterator[Clip]:
        for r in present:
            assert r.output is not None
            path = outdir / r.output
            group = _group_key(r, group_by)
            found = read_clips(path, with_motion=True, with_pose=True)
            summary.videos += 1
            for clip in found:
                # output names are unique in the manifest, so these clip ids are unique in the dataset
                clip_id = path.stem if len(found) == 1 else f"{path.stem}.{clip.clip_id}"
                attrs = {**clip.attrs, "batch_output": r.output, "batch_video_id": r.video_id}
                labels[r.label or ""] += 1
                groups.add(group)
                summary.clips += 1
                yield dataclasses.replace(clip, clip_id=clip_id, label=r.label, group=group, attrs=attrs)

    write_clips(out_path, clips())
    problems = validate_file(out_path)
    if problems:  # pragma: no cover - write_clips writes the schema
        raise GatherError(f"{out_path} failed the schema check: {problems[0]}")
    summary.labels = dict(labels)
    summary.groups = len(groups)
    return summary


@dataclass
class FilesSummary:
    """What :func:`gather_files` wrote.

    Attributes
    ----------
    path : Path or None
        The dataset file (None when no input could be read).
    clips : int
        Clips written.
    labels : dict of str to int
        Clips per label ("" for unlabelled).
    groups : int
        Distinct group keys (a clip without one counts as its own).
    renamed : list of (str, str, str)
        ``(file, old id, new id)`` of every clip whose id an earlier file had taken.
    log : RunLog
        Inputs done and failed.
    """

    path: Path | None
    clips: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    renamed: list[tuple[str, str, str]] = field(default_factory=list)
    log: RunLog = field(default_factory=RunLog)

    def table(self) -> str:
        """A plain-text summary."""
        lines = [f"gathered {self.clips} clip(s) from {self.log.done} file(s), {self.groups} group(s)"
                 + (f" -> {self.path}" if self.path else "")]
        for label, n in sorted(self.labels.items()):
            lines.append(f"  {label or '(unlabelled)':<24}{n:>6} clip(s)")
        if self.renamed:
            pairs = ", ".join(f"{f}: {a} -> {b}" for f, a, b in self.renamed[:3])
            more = f" and {len(self.renamed) - 3} more" if len(self.renamed) > 3 else ""
            lines.append(f"{len(self.renamed)} clip id(s) taken by an earlier file got their file's stem in "
                         f"front: {pairs}{more}")
        if self.log.failures:
            lines.append(f"left out {len(self.log.failures)} file(s) that could not be read (listed above)")
        return "\n".join(lines)


def gather_files(items: Sequence[InputItem], out_path: Path, *, progress: bool | None = None,
                 on_failure: Callable[[Failure], Any] | None = None) -> FilesSummary:
    """Merge the clips of any ``imusynth/1`` files into one file, streamed one input at a time.

    Parameters
    ----------
    items : sequence of InputItem
        The files; an item's label and group (from a manifest) replace its clips'.
    out_path : Path
        Dataset file to write (atomically).
    progress, on_failure
        See :func:`imusynth.io.inputs.each_input`.

    Returns
    -------
    FilesSummary
        ``path`` is None when no input could be read (nothing written).
    """
    summary = FilesSummary(path=Path(out_path))
    ids = ClipIds()
    labels: Counter[str] = Counter()
    groups: set[str] = set()

    def work(it: InputItem) -> list[Clip]:
        clips = read_clips(it.path, with_motion=True, with_pose=True)
        return [dataclasses.replace(c, label=it.label if it.label is not None else c.label,
                                    group=it.group if it.group is not None else c.group) for c in clips]

    def clips() -> Iterator[Clip]:
        for it, found in each_input(items, work, log=summary.log, progress=progress, desc="gather",
                                    on_failure=on_failure):
            for clip in found:
                new = dataclasses.replace(clip, clip_id=ids.claim(clip.clip_id, it.path))
                labels[new.label or ""] += 1
                groups.add(new.group or f"\0{it.path}/{new.clip_id}")
                summary.clips += 1
                yield new

    try:
        write_clips(out_path, clips())
    except SchemaError:
        if summary.log.done:
            raise
        summary.path = None
    summary.labels = dict(labels)
    summary.groups = len(groups)
    summary.renamed = ids.renamed
    return summary
