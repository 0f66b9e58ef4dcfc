"""Where the videos of a batch come from: sources, labels, and yt-dlp used as a library.

A SOURCE is a video or playlist URL, a text file of URLs (one per line, ``#`` comments), a local
video file, or a folder of videos. :func:`expand_sources` turns the sources into :class:`Item` s
(playlists are expanded flat: one metadata request, no video downloaded) and applies the labels.
:func:`fetch` runs in a worker: it downloads one video into the cache and keeps yt-dlp's info JSON
for provenance.

The download cache (``OUTDIR/cache`` unless told otherwise) is keyed by video id:
``<extractor>-<id>.<ext>`` plus ``<extractor>-<id>.info.json``, written last, which marks the entry
as complete; ``by-url/`` maps each URL already seen to its entry, so a rerun or a second output
folder sharing the cache fetches nothing. Sections are not cut here: the pipeline processes the
span ``[video] start_s .. end_s`` of the cached file, so several sections of one video share one
download and nothing is re-encoded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from imusynth.errors import InputError

#: File extensions taken as videos in a SOURCE folder (case-insensitive).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"})

#: Extensions of a SOURCE file read as a list of URLs.
URL_LIST_EXTENSIONS = frozenset({".txt", ".list", ".urls"})

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SourceError(InputError, ValueError):
    """A SOURCE or labels file that cannot be used (missing, unreadable, bad column or value)."""


class FetchError(RuntimeError):
    """A video that could not be fetched (network, extractor, format, decoding); the item fails."""


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


@dataclass(frozen=True)
class DownloadOptions:
    """How yt-dlp fetches videos.

    Attributes
    ----------
    cache_dir : Path
        Download cache, keyed by video id (shared between output folders if you wish).
    max_height : int, px
        Highest video resolution fetched (default 720).
    format : str or None
        A yt-dlp format selector replacing the default one (mp4, H.264 first, ``max_height``).
    cookies_file : Path or None
        Netscape cookies file passed to yt-dlp (``cookiefile``).
    retries : int
        Attempts after the first one for transient errors (HTTP 5xx/429, timeouts, resets).
    backoff_s : float, s
        First back-off delay; it doubles at each retry.
    socket_timeout_s : float, s
        Network timeout of one request.
    proxy : str or None
        Proxy URL; ``""`` forces a direct connection (ignores ``*_proxy`` variables); None lets
        yt-dlp follow the environment.
    require_license : str or None
        Case-insensitive regular expression the video's licence must match (e.g.
        ``"creative commons"``); videos without a matching licence are skipped.
    """

    cache_dir: Path
    max_height: int = 720
    format: str | None = None
    cookies_file: Path | None = None
    retries: int = 3
    backoff_s: float = 2.0
    socket_timeout_s: float = 30.0
    proxy: str | None = None
    require_license: str | None = None

    def __post_init__(self) -> None:
        if self.max_height <= 0:
            raise SourceError(f"max height must be a positive number of pixels, got {self.max_height}")
        if self.retries < 0 or self.backoff_s < 0 or self.socket_timeout_s <= 0:
            raise SourceError("retries and back-off must be >= 0 and the socket timeout > 0")
        if self.cookies_file is not None and not Path(self.cookies_file).is_file():
            raise SourceError(f"cookies file {self.cookies_file} does not exist")
        if self.require_license is not None:
            try:
                re.compile(self.require_license)
            except re.error as exc:
                raise SourceError(
                    f"--require-license {self.require_license!r} is not a valid regular expression: {exc}"
                ) from exc

    @property
    def format_selector(self) -> str:
        """The yt-dlp format selector: a single file OpenCV decodes (no merge, so no ffmpeg)."""
        if self.format:
            return self.format
        h = self.max_height
        return f"bv*[ext=mp4][vcodec^=avc1][height<=?{h}]/bv*[ext=mp4][height<=?{h}]/b[height<=?{h}]"


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` returns to the driver.

    Attributes
    ----------
    skipped_reason : str or None
        Set when the video was left out on purpose (licence); the other fields are then partial.
    video_id : str
        File-name-safe id of the video.
    video_path : str
        Video file to process (the cached download, or the cut section).
    provenance : dict of str to str
        Subset of the info JSON written into the clip attributes (see :func:`provenance_attrs`).
    download_s : float, s
        Wall time of the fetch.
    downloaded : bool
        True when video bytes were transferred (False on a cache hit).
    """

    video_id: str
    video_path: str = ""
    provenance: dict[str, str] = field(default_factory=dict)
    download_s: float = 0.0
    downloaded: bool = False
    skipped_reason: str | None = None


# ---------------------------------------------------------------------------------------------------
# keys and names


def safe_name(text: str, *, limit: int = 80) -> str:
    """Return ``text`` reduced to ``[A-Za-z0-9._-]`` (for ids and file names), never empty."""
    name = _UNSAFE.sub("_", text).strip("._")[:limit]
    return name or "video"


def short_hash(text: str, n: int = 8) -> str:
    """Return the first ``n`` hex digits of the SHA-1 of ``text``."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def item_key(url: str, start_s: float | None, end_s: float | None) -> str:
    """Return the manifest key: ``url`` plus ``#t=START,END`` (media-fragment style) for a section."""
    if start_s is None and end_s is None:
        return url
    return f"{url}#t={_fmt_s(start_s, 0.0)},{_fmt_s(end_s, math.inf)}"


def _fmt_s(value: float | None, default: float) -> str:
    v = default if value is None else value
    return "end" if math.isinf(v) else f"{v:g}"


def is_url(text: str) -> bool:
    """Whether ``text`` looks like a URL (``scheme://...``)."""
    return bool(_URL.match(text))


def local_video_id(path: Path) -> str:
    """Return the id of a local video: its stem plus a hash of the resolved path (unique per file)."""
    return f"{safe_name(path.stem, limit=60)}-{short_hash(str(path.resolve()))}"


def url_stem(url: str) -> str:
    """Return a readable id guess for a URL with no id: the stem of its last path component."""
    stem = Path(unquote(urlparse(url).path)).stem
    return safe_name(stem or urlparse(url).netloc)


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
        info = _with_retries(
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


# ---------------------------------------------------------------------------------------------------
# yt-dlp


class _Logger:
    """yt-dlp logger that keeps warnings and errors and prints nothing (the batch has its own bar)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.messages.append(_clean(msg))

    def error(self, msg: str) -> None:
        self.messages.append(_clean(msg))


def _clean(msg: str) -> str:
    msg = _ANSI.sub("", str(msg)).strip()
    msg = re.sub(r"^(ERROR|WARNING):\s*", "", msg)
    return " ".join(msg.split())


def ydl_params(options: DownloadOptions, *, cache_key: str | None) -> dict[str, Any]:
    """Return the YoutubeDL parameters for ``options`` (``cache_key``: output name in the cache)."""
    backoff = options.backoff_s
    params: dict[str, Any] = {
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "noplaylist": False,
        "logger": _Logger(),
        "format": options.format_selector,
        "socket_timeout": options.socket_timeout_s,
        "retries": options.retries,
        "fragment_retries": options.retries,
        "extractor_retries": 0,  # extraction errors are retried by _with_retries with back-off
        "retry_sleep_functions": {"http": lambda n: backoff * 2**n, "fragment": lambda n: backoff * 2**n},
        "overwrites": False,
        "continuedl": True,
        "writeinfojson": False,
        "cachedir": False,
    }
    if cache_key is not None:
        params["outtmpl"] = {"default": str(Path(options.cache_dir) / f"{cache_key}.%(ext)s")}
    if options.cookies_file is not None:
        params["cookiefile"] = str(options.cookies_file)
    if options.proxy is not None:
        params["proxy"] = options.proxy
    return params


def _is_transient(exc: BaseException) -> bool:
    """Whether a yt-dlp error is worth retrying (server busy, rate limit, connection trouble)."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    cause = getattr(exc, "exc_info", None)
    cause = cause[1] if cause else exc
    if isinstance(cause, HTTPError):
        return cause.status >= 500 or cause.status in (408, 429)
    if isinstance(cause, TransportError):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("timed out", "connection reset", "temporarily", "remote end closed"))


def _with_retries(call: Callable[[Any], Any], *, params: dict[str, Any], options: DownloadOptions) -> Any:
    """Run ``call(ydl)`` with a fresh YoutubeDL, retrying transient errors with exponential back-off."""
    import yt_dlp

    for attempt in range(options.retries + 1):
        logger = _Logger()
        try:
            with yt_dlp.YoutubeDL({**params, "logger": logger}) as ydl:
                return call(ydl)
        except yt_dlp.utils.DownloadError as exc:
            if attempt < options.retries and _is_transient(exc):
                time.sleep(options.backoff_s * 2**attempt)
                continue
            reason = _clean(str(exc))
            raise FetchError(f"download failed: {reason}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------
# the cache


def _cache_key(info: dict[str, Any]) -> str:
    extractor = str(info.get("extractor_key") or info.get("extractor") or "url").lower()
    key = f"{safe_name(extractor, limit=20)}-{safe_name(str(info.get('id') or 'video'))}"
    if extractor == "generic":  # ids are file stems: two sites may both have "video.mp4"
        key += f"-{short_hash(str(info.get('webpage_url') or info.get('url')))}"
    return key


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _url_index(cache_dir: Path, url: str) -> Path:
    return cache_dir / "by-url" / f"{short_hash(url, 16)}.json"


def _cached(cache_dir: Path, cache_key: str) -> tuple[dict[str, Any], Path | None] | None:
    """Return (info, video file or None) of a complete cache entry, or None."""
    info_path = cache_dir / f"{cache_key}.info.json"
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    name = info.get("_imusynth_video_file")
    video = cache_dir / name if name else None
    return info, (video if video is not None and video.is_file() else None)


def provenance_attrs(info: dict[str, Any]) -> dict[str, str]:
    """Return the provenance written into the clip attributes, from yt-dlp's info JSON.

    Keys: ``source_url``, ``source_id``, ``source_extractor``, ``source_title``,
    ``source_uploader``, ``source_upload_date`` (ISO ``YYYY-MM-DD``), ``source_license``; keys
    whose value yt-dlp does not know are left out.
    """
    upload = str(info.get("upload_date") or "")
    if re.fullmatch(r"\d{8}", upload):
        upload = f"{upload[:4]}-{upload[4:6]}-{upload[6:]}"
    values = {
        "source_url": info.get("webpage_url") or info.get("original_url") or info.get("url"),
        "source_id": info.get("id"),
        "source_extractor": info.get("extractor_key") or info.get("extractor"),
        "source_title": info.get("title"),
        "source_uploader": info.get("uploader") or info.get("channel"),
        "source_upload_date": upload or None,
        "source_license": info.get("license"),
    }
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


# ---------------------------------------------------------------------------------------------------
# fetch (runs in a worker)


def fetch(url: str, *, options: DownloadOptions) -> FetchResult:
    """Make one video available locally: find it in the cache, or download it with yt-dlp.

    Parameters
    ----------
    url : str
        Video URL (any site yt-dlp knows, or a direct link to a video file).
    options : DownloadOptions
        Cache, format, network and licence options.

    Returns
    -------
    FetchResult
        With ``skipped_reason`` set when the licence does not match ``options.require_license``.

    Raises
    ------
    FetchError
        Download, extraction, format or decoding failure (one line, with yt-dlp's reason).
    """
    t0 = time.perf_counter()
    cache_dir = Path(options.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    info, video, downloaded = _download(url, options=options, cache_dir=cache_dir)
    video_id = safe_name(str(info.get("id") or url_stem(url)))
    provenance = provenance_attrs(info)
    if video is None:  # the licence filter said no
        return FetchResult(
            video_id=video_id, provenance=provenance, download_s=time.perf_counter() - t0,
            skipped_reason=f"licence {info.get('license')!r} does not match --require-license "
            f"{options.require_license!r}",
        )
    check_decodable(video)
    return FetchResult(
        video_id=video_id, video_path=str(video), provenance=provenance,
        download_s=time.perf_counter() - t0, downloaded=downloaded,
    )


def _license_ok(info: dict[str, Any], pattern: str | None) -> bool:
    return pattern is None or re.search(pattern, str(info.get("license") or ""), re.IGNORECASE) is not None


def _download(
    url: str, *, options: DownloadOptions, cache_dir: Path
) -> tuple[dict[str, Any], Path | None, bool]:
    """Return (info, video file or None when the licence filter refused it, whether bytes were fetched)."""
    index = _url_index(cache_dir, url)
    if index.is_file():
        try:
            cache_key = json.loads(index.read_text(encoding="utf-8"))["cache_key"]
        except (OSError, json.JSONDecodeError, KeyError):
            cache_key = None
        hit = _cached(cache_dir, cache_key) if cache_key else None
        if hit is not None and (hit[1] is not None or not _license_ok(hit[0], options.require_license)):
            info, video = hit
            return info, (video if _license_ok(info, options.require_license) else None), False

    params = ydl_params(options, cache_key=None)
    info = _with_retries(lambda ydl: ydl.sanitize_info(ydl.extract_info(url, download=False)),
                         params=params, options=options)
    if info.get("_type") in ("playlist", "multi_video"):
        raise FetchError(f"{url} is a playlist, not a video: give it as a SOURCE of its own to expand it")
    cache_key = _cache_key(info)
    hit = _cached(cache_dir, cache_key)
    if hit is not None and hit[1] is not None:
        _write_json(index, {"cache_key": cache_key, "url": url})
        return hit[0], (hit[1] if _license_ok(hit[0], options.require_license) else None), False
    if not _license_ok(info, options.require_license):
        _write_json(cache_dir / f"{cache_key}.info.json", info)  # metadata only: no video fetched
        _write_json(index, {"cache_key": cache_key, "url": url})
        return info, None, False

    params = ydl_params(options, cache_key=cache_key)

    def download(ydl: Any) -> dict[str, Any]:
        result = ydl.process_ie_result(dict(info), download=True)
        return dict(ydl.sanitize_info(result))

    result = _with_retries(download, params=params, options=options)
    files = [d.get("filepath") for d in result.get("requested_downloads") or [] if d.get("filepath")]
    if not files or not Path(files[0]).is_file():
        raise FetchError(f"download failed: yt-dlp reported no file for {url}")
    video = Path(files[0])
    result["_imusynth_video_file"] = video.name
    _write_json(cache_dir / f"{cache_key}.info.json", result)  # written last: marks the entry complete
    _write_json(index, {"cache_key": cache_key, "url": url})
    return result, video, True


# ---------------------------------------------------------------------------------------------------
# video files


def check_decodable(path: Path) -> None:
    """Raise :class:`FetchError` when OpenCV cannot open ``path`` or decode its first frame."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        ok = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    if not ok:
        raise FetchError(f"{Path(path).name}: OpenCV cannot decode this video (try another --format)")
