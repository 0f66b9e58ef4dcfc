"""Stage 1's input: a video URL fetched once with yt-dlp (used as a library) into a download cache.

:func:`fetch` makes one video available locally (from the cache, or downloaded) and keeps yt-dlp's info
JSON for provenance (:func:`provenance_attrs`). ``imusynth VIDEO`` calls it for a URL; a batch
(:mod:`imusynth.batch`) calls it in its workers, for every video its sources expand to.

The download cache (``OUTDIR/cache`` in a batch unless told otherwise) is keyed by video id:
``<extractor>-<id>.<ext>`` plus ``<extractor>-<id>.info.json``, written last, which marks the entry
as complete; ``by-url/`` maps each URL already seen to its entry, so a rerun or a second output
folder sharing the cache fetches nothing. Sections are not cut here: the pipeline processes the
span ``[video] start_s .. end_s`` of the cached file, so several sections of one video share one
download and nothing is re-encoded.

Importing this module loads no numeric library (yt-dlp and OpenCV are imported when used).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from imusynth.errors import InputError

__all__ = [
    "DownloadOptions", "FetchError", "FetchResult", "SourceError", "check_decodable", "fetch", "is_url",
    "provenance_attrs", "safe_name", "short_hash", "url_stem", "with_retries", "ydl_params",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SourceError(InputError, ValueError):
    """A video source or download option that cannot be used (in a batch also a labels file, a SOURCE)."""


class FetchError(RuntimeError):
    """A video that could not be fetched (network, extractor, format, decoding); the item fails."""


# ---------------------------------------------------------------------------------------------------
# records


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


def is_url(text: str) -> bool:
    """Whether ``text`` looks like a URL (``scheme://...``)."""
    return bool(_URL.match(text))


def url_stem(url: str) -> str:
    """Return a readable id guess for a URL with no id: the stem of its last path component."""
    stem = Path(unquote(urlparse(url).path)).stem
    return safe_name(stem or urlparse(url).netloc)


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
        "extractor_retries": 0,  # extraction errors are retried by with_retries with back-off
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


def with_retries(call: Callable[[Any], Any], *, params: dict[str, Any], options: DownloadOptions) -> Any:
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
    info = with_retries(lambda ydl: ydl.sanitize_info(ydl.extract_info(url, download=False)),
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

    result = with_retries(download, params=params, options=options)
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
