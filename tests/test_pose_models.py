"""Model lookup (imusynth.video.pose.models): explicit path, env folder, cache, download from 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from imusynth.errors import InputError, ModelNotFoundError
from imusynth.video.pose import models
from imusynth.video.pose.models import (
    ENV_MODEL_DIR,
    ENV_MODEL_URL,
    MODEL_SHA256,
    model_url,
    resolve_model,
)


def _fake_bundle(tag: str = "fake") -> bytes:
    """A small zip standing in for a .task bundle (a .task file is a zip archive)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pose_detector.tflite", f"{tag} detector".encode())
        z.writestr("pose_landmarks_detector.tflite", f"{tag} landmarks".encode())
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No lookup may touch the real environment, cache or network."""
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    monkeypatch.setenv(ENV_MODEL_URL, "http://127.0.0.1:9/unused")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a temporary folder; yields (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/pose_landmarker", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base-class name)
        pass


def _serve(root: Path, variant: str, data: bytes) -> None:
    p = root / "pose_landmarker" / f"pose_landmarker_{variant}" / "float16" / "latest"
    p.mkdir(parents=True)
    (p / f"pose_landmarker_{variant}.task").write_bytes(data)


def test_default_url_and_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_MODEL_URL)
    assert model_url("lite") == (
        "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
        "pose_landmarker_lite/float16/latest/pose_landmarker_lite.task"
    )
    assert models.default_cache_dir() == tmp_path / "xdg" / "imusynth" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models.default_cache_dir() == Path.home() / ".cache" / "imusynth" / "models"


def test_model_error_is_input_error() -> None:
    assert issubclass(ModelNotFoundError, InputError)


def test_explicit_path(tmp_path: Path) -> None:
    p = tmp_path / "mine.task"
    p.write_bytes(_fake_bundle())
    assert resolve_model(p) == p
    assert resolve_model(str(p)) == p
    with pytest.raises(ModelNotFoundError, match="missing"):
        resolve_model(tmp_path / "absent.task")
    junk = tmp_path / "junk.task"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelNotFoundError, match="not a MediaPipe .task bundle"):
        resolve_model(junk)


def test_unknown_variant_names_the_variants() -> None:
    with pytest.raises(ModelNotFoundError, match="lite, full, heavy"):
        resolve_model("medium")


def test_env_folder_then_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    cache = tmp_path / "xdg" / "imusynth" / "models"
    cache.mkdir(parents=True)
    (cache / "pose_landmarker_full.task").write_bytes(_fake_bundle("cache"))
    monkeypatch.setenv(ENV_MODEL_DIR, str(env_dir))
    # env folder set but without the file: the cache answers
    assert resolve_model("full", download=False) == cache / "pose_landmarker_full.task"
    (env_dir / "pose_landmarker_full.task").write_bytes(_fake_bundle("env"))
    # the env folder comes first
    assert resolve_model("full", download=False) == env_dir / "pose_landmarker_full.task"


def test_download_into_cache_with_checksum(server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    base, root = server
    data = _fake_bundle("download")
    _serve(root, "lite", data)
    monkeypatch.setenv(ENV_MODEL_URL, base)
    cache = tmp_path / "cache"
    got = resolve_model("lite", cache_dir=cache, expected_sha256=hashlib.sha256(data).hexdigest())
    assert got == cache / "pose_landmarker_lite.task"
    assert got.read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == ["pose_landmarker_lite.task"]  # no temp left
    # second call: served from the cache even with the server gone
    monkeypatch.setenv(ENV_MODEL_URL, "http://127.0.0.1:9/down")
    assert resolve_model("lite", cache_dir=cache) == got


def test_download_bad_checksum_leaves_nothing(server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    base, root = server
    _serve(root, "heavy", _fake_bundle("tampered"))
    monkeypatch.setenv(ENV_MODEL_URL, base)
    cache = tmp_path / "cache"
    with pytest.raises(ModelNotFoundError, match="sha256 mismatch") as err:
        resolve_model("heavy", cache_dir=cache)  # the recorded sha256 of the real bundle
    assert MODEL_SHA256["heavy"] in str(err.value)
    assert list(cache.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_offline_error_names_every_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url_base = f"http://127.0.0.1:{_free_port()}/pose_landmarker"  # nothing listens there
    monkeypatch.setenv(ENV_MODEL_URL, url_base)
    monkeypatch.setenv(ENV_MODEL_DIR, str(tmp_path / "no_models_here"))
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("lite", timeout_s=5.0)
    msg = str(err.value)
    assert "explicit path" in msg
    assert f"${ENV_MODEL_DIR} {tmp_path / 'no_models_here' / 'pose_landmarker_lite.task'}: missing" in msg
    assert f"cache {tmp_path / 'xdg' / 'imusynth' / 'models' / 'pose_landmarker_lite.task'}: missing" in msg
    assert f"download {url_base}/pose_landmarker_lite/float16/latest/pose_landmarker_lite.task" in msg
    assert "refused" in msg.lower()
    assert "\n" not in msg


def test_download_disabled(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="disabled"):
        resolve_model("full", download=False)


def test_recorded_checksums_match_shared_bundles(model_dir: Path) -> None:
    """The sha256 table in the code is the one of the bundles in ../shared/models."""
    for variant, sha in MODEL_SHA256.items():
        path = model_dir / f"pose_landmarker_{variant}.task"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, variant
