"""Find (or download) a MediaPipe PoseLandmarker ``.task`` bundle.

A model is asked for by variant (``"lite"``, ``"full"``, ``"heavy"``) or by path. A variant is
looked up in this order, and the first hit wins:

1. the folder in the environment variable ``IMUSYNTH_MODEL_DIR`` (a file
   ``pose_landmarker_{variant}.task`` in it);
2. the user's cache folder, ``$XDG_CACHE_HOME/imusynth/models`` or ``~/.cache/imusynth/models``;
3. a download from MediaPipe's model storage (:data:`DEFAULT_BASE_URL`, or the base URL in
   ``IMUSYNTH_MODEL_URL`` for mirrors and tests) into the cache folder. The download goes to a
   temporary file in that folder, is checked against the expected sha256 and only then renamed
   to its final name; a mismatch deletes the temporary file.

An explicit path (anything that is not a variant name) is used as is and never replaced by
another model. When nothing works, :class:`imusynth.errors.ModelNotFoundError` names every
place that was tried and why it failed.

Files found locally are checked to be model bundles (a ``.task`` is a zip archive) but not
hashed: a user may hold another release of the same model. Only downloads are hashed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from imusynth.errors import ModelNotFoundError

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_MODEL_DIR",
    "ENV_MODEL_URL",
    "MODEL_SHA256",
    "VARIANTS",
    "default_cache_dir",
    "download_model",
    "model_filename",
    "model_url",
    "resolve_model",
]

log = logging.getLogger(__name__)

#: Model variants, fastest first.
VARIANTS: tuple[str, ...] = ("lite", "full", "heavy")

#: Environment variable naming a folder that holds ``pose_landmarker_{variant}.task`` files.
ENV_MODEL_DIR = "IMUSYNTH_MODEL_DIR"

#: Environment variable replacing :data:`DEFAULT_BASE_URL` (a mirror, or a local server in tests).
ENV_MODEL_URL = "IMUSYNTH_MODEL_URL"

#: MediaPipe's model storage; the variant's path is appended (see :func:`model_url`).
DEFAULT_BASE_URL = "https://storage.googleapis.com/mediapipe-models/pose_landmarker"

#: Expected sha256 of each variant's bundle. These are the bundles kept for offline work in
#: this project's shared data (``shared/models/README.md``); a download whose hash differs is
#: refused. If MediaPipe republishes the models, update these (or pass ``expected_sha256``).
MODEL_SHA256: dict[str, str] = {
    "lite": "6867a5d5e55fda353a9de0453af6f1a3639ea1bdc49d366e1ee1cf62dbfcd702",
    "full": "78d860f3c4be18449fb9e98eab306397bb42ecd2a410062df6a75b6bb2a9db02",
    "heavy": "95b82fab2efb2db51b7200643f4a4e50353beaba269ff2501a67b4361d81b94c",
}

_CHUNK = 1 << 20


def model_filename(variant: str) -> str:
    """File name of a variant's bundle, ``pose_landmarker_{variant}.task``."""
    _check_variant(variant)
    return f"pose_landmarker_{variant}.task"


def model_url(variant: str, *, base_url: str | None = None) -> str:
    """Download URL of a variant's bundle.

    Parameters
    ----------
    variant : {"lite", "full", "heavy"}
        The model variant.
    base_url : str, optional
        Replaces ``$IMUSYNTH_MODEL_URL`` / :data:`DEFAULT_BASE_URL`.

    Returns
    -------
    str
        ``{base}/pose_landmarker_{variant}/float16/latest/pose_landmarker_{variant}.task``.
    """
    base = base_url or os.environ.get(ENV_MODEL_URL) or DEFAULT_BASE_URL
    name = f"pose_landmarker_{variant}"
    return f"{base.rstrip('/')}/{name}/float16/latest/{model_filename(variant)}"


def default_cache_dir() -> Path:
    """The user's model cache, ``$XDG_CACHE_HOME/imusynth/models`` or ``~/.cache/imusynth/models``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "imusynth" / "models"


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ModelNotFoundError(f"unknown pose model variant {variant!r}; expected one of {VARIANTS}")


def _bundle_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable model bundle, or None when it is."""
    if not path.exists():
        return "missing"
    if not path.is_file():
        return "not a file"
    if path.stat().st_size == 0:
        return "empty file"
    if not zipfile.is_zipfile(path):
        return "not a MediaPipe .task bundle (not a zip archive)"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def download_model(url: str, dest: Path, *, expected_sha256: str, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking its sha256.

    Parameters
    ----------
    url : str
        Where to fetch the bundle (http, https or file URL).
    dest : Path
        Final path; its folder is created. Nothing appears there unless the hash matches.
    expected_sha256 : str
        Hex digest the downloaded bytes must have.
    timeout_s : float, default 60, s
        Socket timeout for the connection and each read.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    OSError
        The server cannot be reached, answers with an error, or the file cannot be written.
    ValueError
        The downloaded bytes do not have ``expected_sha256`` (the temporary file is deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        if digest != expected_sha256.lower():
            raise ValueError(f"sha256 mismatch: got {digest}, expected {expected_sha256.lower()}")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def resolve_model(
    model: str | os.PathLike[str] = "lite",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    expected_sha256: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Return the path of a PoseLandmarker bundle, downloading it into the cache if needed.

    Parameters
    ----------
    model : str or path-like, default "lite"
        A variant name (``"lite"``, ``"full"``, ``"heavy"``) or the path of a ``.task`` file.
    cache_dir : str or path-like, optional
        Replaces :func:`default_cache_dir`.
    download : bool, default True
        Allow the download step.
    expected_sha256 : str, optional
        Hash a download must have; :data:`MODEL_SHA256` of the variant when omitted.
    timeout_s : float, default 60, s
        Network timeout of the download.

    Returns
    -------
    Path
        An existing ``.task`` file.

    Raises
    ------
    imusynth.errors.ModelNotFoundError
        The explicit path is not a bundle, or every lookup step failed (the message lists each
        place tried and why).
    """
    name = os.fspath(model)
    if name not in VARIANTS:
        path = Path(name).expanduser()
        problem = _bundle_problem(path)
        if problem is not None:
            hint = "" if path.suffix == ".task" or os.sep in name else f" (variants: {', '.join(VARIANTS)})"
            raise ModelNotFoundError(f"pose model {path}: {problem}{hint}")
        return path

    variant = name
    filename = model_filename(variant)
    tried: list[str] = ["explicit path: none given"]

    env_dir = os.environ.get(ENV_MODEL_DIR)
    if env_dir:
        candidate = Path(env_dir).expanduser() / filename
        problem = _bundle_problem(candidate)
        if problem is None:
            return candidate
        tried.append(f"${ENV_MODEL_DIR} {candidate}: {problem}")
    else:
        tried.append(f"${ENV_MODEL_DIR}: not set")

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cached = cache / filename
    problem = _bundle_problem(cached)
    if problem is None:
        return cached
    tried.append(f"cache {cached}: {problem}")

    url = model_url(variant)
    if not download:
        tried.append(f"download {url}: disabled")
    else:
        sha = expected_sha256 or MODEL_SHA256[variant]
        log.info("downloading pose model %s -> %s", url, cached)
        try:
            download_model(url, cached, expected_sha256=sha, timeout_s=timeout_s)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None) or exc
            tried.append(f"download {url}: {reason}")
        else:
            problem = _bundle_problem(cached)
            if problem is None:
                return cached
            tried.append(f"download {url}: {problem}")

    raise ModelNotFoundError(f"pose model {variant!r} not found; tried: " + "; ".join(tried))
