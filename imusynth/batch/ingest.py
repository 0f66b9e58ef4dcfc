"""Where the videos of a batch come from: sources and labels.

A SOURCE is a video or playlist URL, a text file of URLs (one per line, ``#`` comments), a local
video file, or a folder of videos. :func:`expand_sources` turns the sources into :class:`Item` s
(playlists are expanded flat: one metadata request, no video downloaded) and applies the labels
(``labels.csv``, :func:`read_labels`). A worker then fetches each URL with
:func:`imusynth.video.fetch.fetch` (yt-dlp, the download cache, provenance).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imusynth.video.fetch import (
    DownloadOptions,
    FetchError,
    SourceError,
    is_url,
    safe_name,
    short_hash,
    url_stem,
    with_retries,
    ydl_params,
)

__all__ = [
    "URL_LIST_EXTENSIONS", "VIDEO_EXTENSIONS", "Item", "LabelRow", "SourceError", "expand_sources",
    "item_key", "local_video_id", "read_labels", "read_url_list",
]

#: File extensions taken as videos in a SOURCE folder (case-insensitive).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"})

#: Extensions of a SOURCE file read as a list of URLs.
URL_LIST_EXTENSIONS = frozenset({".txt", ".list", ".urls"})


# ---------------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class LabelRow:
    """One row of ``labels.csv``.

    Attributes
    ----------
    source : str
        A video URL, a playlist URL (the label applies to all its videos), a video id, or a local
        path (as written, absolute, or its file name).
    label : str
        Activity label.
    start_s, end_s : float or None, s
        Section of the video; None for its start / its end.
    """

    source: str
    label: str
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class Item:
    """One unit of work: a video (URL or local file), maybe one section of it, and its label.

    Attributes
    ----------
    key : str
        Manifest key, see :func:`item_key`.
    url : str
        Video URL, or the resolved path of a local file.
    video_id : str
        File-name-safe id: yt-dlp's id when the playlist gives it, else the URL's file stem; local
        files use their stem plus a hash of the resolved path. The fetch replaces it by the id of
        the downloaded video.
    label : str or None
        Activity label; None when unlabelled.
    start_s, end_s : float or None, s
        Section to process; None for the whole video.
    local : bool
        True for a file on disk (nothing to download).
    source : str
        The SOURCE argument this item came from (provenance).
    """

    key: str
    url: str
    video_id: str
    label: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    local: bool = False
    source: str = ""


# ---------------------------------------------------------------------------------------------------
# keys and names


def item_key(url: str, start_s: float | None, end_s: float | None) -> str:
    """Return the manifest key: ``url`` plus ``#t=START,END`` (media-fragment style) for a section."""
    if start_s is None and end_s is None:
        return url
    return f"{url}#t={_fmt_s(start_s, 0.0)},{_fmt_s(end_s, math.inf)}"


def _fmt_s(value: float | None, default: float) -> str:
    v = default if value is None else value
    return "end" if math.isinf(v) else f"{v:g}"


def local_video_id(path: Path) -> str:
    """Return the id of a local video: its stem plus a hash of the resolved path (unique per file)."""
    return f"{safe_name(path.stem, limit=60)}-{short_hash(str(path.resolve()))}"


# ---------------------------------------------------------------------------------------------------
# reading sources and labels


def read_url_list(path: Path) -> list[str]:
    """Read a text file of sources: one URL or path per line, ``#`` starts a comment.

    A ``#`` inside a URL (a fragment) is kept; only a ``#`` at the start of the line or after white
    space starts a comment.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read the list of URLs {path}: {exc}") from exc
    out = []
    for line in text.splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if line:
            out.append(line)
    return out


def _parse_seconds(value: str | None, *, path: Path, line: int, column: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        v = float(value)
    except ValueError:
        raise SourceError(f"{path}:{line}: {column} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise SourceError(f"{path}:{line}: {column} must be a finite number of seconds >= 0, got {value!r}")
    return v


def read_labels(path: Path) -> list[LabelRow]:
    """Read ``labels.csv``: columns ``source`` (or ``url`` / ``id``), ``label``, optional ``start``, ``end``.

    ``start`` and ``end`` are in seconds from the start of the video. Several rows for one source give
    several sections (several items).

    Raises
    ------
    SourceError
        Missing file, missing column, empty label, bad number, or ``end <= start``.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = {c.strip().lower(): c for c in (reader.fieldnames or [])}
            source_col = next((columns[c] for c in ("source", "url", "id") if c in columns), None)
            if source_col is None or "label" not in columns:
                raise SourceError(
                    f"{path} needs a header with columns 'source' (or 'url' / 'id') and 'label' "
                    f"(optional: 'start', 'end' in s); found {reader.fieldnames}"
                )
            rows = []
            for i, raw in enumerate(reader, start=2):
                source = (raw.get(source_col) or "").strip()
                label = (raw.get(columns["label"]) or "").strip()
                if not source or source.startswith("#"):
                    continue
                if not label:
                    raise SourceError(f"{path}:{i}: empty label for {source!r}")
                start = _parse_seconds(raw.get(columns.get("start", "")), path=path, line=i, column="start")
                end = _parse_seconds(raw.get(columns.get("end", "")), path=path, line=i, column="end")
                if start is not None and end is not None and end <= start:
                    raise SourceError(f"{path}:{i}: end ({end} s) must be after start ({start} s)")
                rows.append(LabelRow(source, label, start, end))
    except OSError as exc:
        raise SourceError(f"cannot read labels file {path}: {exc}") from exc
    except csv.Error as exc:
        raise SourceError(f"{path} is not a valid CSV file: {exc}") from exc
    return rows


def _local_videos(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    return [path]


@dataclass(frozen=True)
class _Found:
    """A video found in a SOURCE before labels are applied."""

    url: str
    video_id: str
    names: tuple[str, ...]  # every name labels.csv may use for it, most specific first
    local: bool
    source: str


def expand_sources(
    sources: Sequence[str],
    *,
    options: DownloadOptions,
    labels: Sequence[LabelRow] = (),
    default_label: str | None = None,
    known: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Item]:
    """Turn SOURCE arguments into items, in order, without duplicates.

    Parameters
    ----------
    sources : sequence of str
        URLs, URL-list files, local video files or folders.
    options : DownloadOptions
        Network options for the flat playlist expansion (proxy, cookies, retries, timeout).
    labels : sequence of LabelRow
        Rows of ``labels.csv``; a row matches a video by URL, id, local path or file name, or the
        playlist URL the video came from. A video with several rows gives one item per row.
    default_label : str or None
        Label of a video no row matches (``--label``).
    known : mapping of str to str, optional
        URL -> video id of single videos already in the manifest: taken as they are, with no
        network request.
    warn : callable or None
        Called with a one-line message for label rows that match nothing.

    Raises
    ------
    SourceError
        A SOURCE that is neither a URL nor an existing file or folder.
    """
    found: list[_Found] = []
    for source in sources:
        found.extend(_expand_one(source, options=options, known=known or {}, depth=0))

    by_name: dict[str, list[LabelRow]] = {}
    for row in labels:
        by_name.setdefault(row.source, []).append(row)
    used: set[str] = set()
    items: dict[str, Item] = {}
    for f in found:
        rows: list[LabelRow] = []
        for name in f.names:
            if name in by_name:
                rows = by_name[name]
                used.add(name)
                break
        sections = rows or [LabelRow(f.url, default_label or "", None, None)]
        for row in sections:
            key = item_key(f.url, row.start_s, row.end_s)
            if key not in items:
                items[key] = Item(
                    key=key, url=f.url, video_id=f.video_id, label=row.label or None, start_s=row.start_s,
                    end_s=row.end_s, local=f.local, source=f.source,
                )
    unused = [name for name in by_name if name not in used]
    if unused and warn is not None:
        warn(f"{len(unused)} row(s) of the labels file match no video of the sources: {unused[:5]}")
    return list(items.values())


def _expand_one(
    source: str, *, options: DownloadOptions, known: Mapping[str, str], depth: int
) -> list[_Found]:
    if is_url(source):
        if source in known:
            return [_Found(source, known[source], (source, known[source]), False, source)]
        return list(_expand_url(source, options=options))
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(f"SOURCE {source!r} is neither a URL nor an existing file or folder")
    if path.is_file() and path.suffix.lower() in URL_LIST_EXTENSIONS:
        if depth > 0:
            raise SourceError(f"{path}: a list of URLs may not name another list")
        out = []
        for entry in read_url_list(path):
            out.extend(_expand_one(entry, options=options, known=known, depth=depth + 1))
        return out
    videos = _local_videos(path)
    if path.is_dir() and not videos:
        raise SourceError(f"folder {path} holds no video file ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    out = []
    for video in videos:
        resolved = video.resolve()
        names = (str(resolved), str(video), video.name, video.stem, source)
        out.append(_Found(str(resolved), local_video_id(video), names, True, source))
    return out


def _expand_url(url: str, *, options: DownloadOptions) -> Iterator[_Found]:
    """Flat-expand ``url``: one item per playlist entry, or the URL itself for a single video.

    A URL that cannot be expanded (broken link, network down) is kept as one item: its fetch then
    fails with yt-dlp's reason, recorded in the manifest, instead of stopping the batch here.
    """
    params = ydl_params(options, cache_key=None)
    params["extract_flat"] = "in_playlist"
    try:
        info = with_retries(
            lambda ydl: ydl.extract_info(url, download=False), params=params, options=options
        )
    except FetchError:
        yield _Found(url, url_stem(url), (url,), False, url)
        return
    if info.get("_type") not in ("playlist", "multi_video"):  # a single video: keep the URL given
        yield _found_url(url, info, playlist_url=url, single=True)
        return
    yield from _entries(info, playlist_url=url)


def _entries(info: dict[str, Any], *, playlist_url: str) -> Iterator[_Found]:
    for entry in info.get("entries") or []:
        if not entry:
            continue
        if entry.get("_type") in ("playlist", "multi_video"):
            yield from _entries(entry, playlist_url=playlist_url)
        elif entry.get("_type") in ("url", "url_transparent"):
            yield _found_url(str(entry["url"]), entry, playlist_url=playlist_url)
        else:  # a resolved entry: its own page if it has one, else its media URL (generic pages)
            page = entry.get("webpage_url")
            url = page if page and page != playlist_url else entry.get("url") or page
            if url:
                yield _found_url(str(url), entry, playlist_url=playlist_url)


def _found_url(url: str, entry: dict[str, Any], *, playlist_url: str, single: bool = False) -> _Found:
    # A site extractor's link (or a single video it resolved) carries the video's own id; entries of a
    # generic page are numbered ("page-1", "page-2"), which is not an id: use the URL's file stem
    # until the fetch knows better.
    extractor = str(entry.get("ie_key") or entry.get("extractor_key") or "").lower()
    linked = entry.get("_type") in ("url", "url_transparent") or single
    trusted = bool(entry.get("id")) and linked and extractor not in ("", "generic")
    video_id = safe_name(str(entry["id"])) if trusted else url_stem(url)
    candidates = (url, entry.get("webpage_url"), entry.get("id"), playlist_url)
    names = tuple(dict.fromkeys(str(n) for n in candidates if n))
    return _Found(url, video_id, names, False, playlist_url)
