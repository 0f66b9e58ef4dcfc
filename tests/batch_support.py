"""Helpers for the batch tests: a fake per-video processor, a local HTTP site, a loopback-only guard,
and short test videos made from ../shared at test time.

The fake processor and the guard must be importable by spawned worker processes, so they live in
this plain module (not in a test module, not in a fixture).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.core.conventions import G0

# ---------------------------------------------------------------------------------------------------
# a fake processor: decodes the video with OpenCV and writes one tiny, valid clip


def fake_process_video(
    video_path: Path,
    out_path: Path,
    *,
    config: Any,
    label: str | None = None,
    group: str | None = None,
    extra_attrs: dict[str, str] | None = None,
    progress: bool = False,
) -> Path:
    """Stand-in for ``imusynth.video.job.process_video`` with its signature.

    The clip is a sensor at rest with its z axis up over the decoded span: acc = (0, 0, +G0) m/s^2,
    gyro = 0 rad/s, so every output is checkable in closed form. ``IMUSYNTH_FAKE_DELAY_S`` adds a
    sleep (to test parallel speed and kills); a file named ``*crash*`` kills the worker process.
    """
    import cv2

    from imusynth.config import to_toml
    from imusynth.core.sensors import SensorSignals
    from imusynth.io.hdf5 import Clip, write_clips

    if "crash" in Path(video_path).name:
        os._exit(3)  # like a segmentation fault in native code
    cap = cv2.VideoCapture(str(video_path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = 0
    while cap.grab():
        frames += 1
    cap.release()
    if frames == 0 or not fps:
        raise ValueError(f"{video_path} holds no decodable frame")
    duration = frames / fps
    start = config.video.start_s
    end = duration if config.video.end_s < 0 else min(config.video.end_s, duration)
    delay = float(os.environ.get("IMUSYNTH_FAKE_DELAY_S", "0"))
    if delay:
        time.sleep(delay)
    rate = config.output.rate_hz
    t = np.arange(start, end, 1.0 / rate)
    n = t.size
    sensors = {
        name: SensorSignals(
            placement=name, time=t, acc=np.tile([0.0, 0.0, G0], (n, 1)), gyro=np.zeros((n, 3)),
            orientation=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), valid=np.ones(n, bool), rate_hz=rate,
            cutoff_hz=6.0, frame="test frame", placement_toml="",
        )
        for name in config.output.placements
    }
    clip = Clip(
        clip_id="person0", source=str(video_path), source_sha256="", source_kind="video",
        source_rate_hz=float(fps), duration_s=float(end - start), config=to_toml(config), sensors=sensors,
        label=label, group=group, attrs={**(extra_attrs or {}), "worker_pid": os.getpid()},
    )
    return write_clips(out_path, [clip])


def task_pid(x: int) -> tuple[int, int]:
    """A task for executor tests: returns its argument and the worker's process id."""
    time.sleep(0.2)
    return x, os.getpid()


def task_raise(x: int) -> int:
    """A task that raises."""
    raise ValueError(f"bad input {x}")


def task_die(x: int) -> int:
    """A task that kills its worker process (as a segmentation fault would)."""
    os._exit(7)


def synthetic_video(
    path: Path, *, frames: int = 10, fps: float = 10.0, size: tuple[int, int] = (64, 48)
) -> Path:
    """A tiny MPEG-4 video of moving grey bars (no person: for the machinery tests only)."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for i in range(frames):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, (4 * i) % w:(4 * i) % w + 8] = 200
        writer.write(frame)
    writer.release()
    return path


# ---------------------------------------------------------------------------------------------------
# a local web site on 127.0.0.1


class LocalSite:
    """A threaded HTTP server on 127.0.0.1 serving ``root``, with a request log and injected errors.

    Attributes
    ----------
    requests : list of str
        Paths requested (GET and HEAD), in order.
    cookies : dict of str to str
        Path -> last ``Cookie`` header received for it.
    fail : dict of str to int
        Path -> number of ``503 Service Unavailable`` answers to give before serving it.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[str] = []
        self.cookies: dict[str, str] = {}
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def _gate(self) -> bool:
                path = self.path.split("?", 1)[0]
                with site._lock:
                    site.requests.append(path)
                    if self.headers.get("Cookie"):
                        site.cookies[path] = self.headers["Cookie"]
                    left = site.fail.get(path, 0)
                    if left:
                        site.fail[path] = left - 1
                if left:
                    self.send_error(503, "Service Unavailable")
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self._gate():
                    super().do_GET()

            def do_HEAD(self) -> None:  # noqa: N802 - http.server API
                if self._gate():
                    super().do_HEAD()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(self.root)))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def video_requests(self) -> list[str]:
        """Requests of video files (.mp4), not of pages or feeds."""
        with self._lock:
            return [p for p in self.requests if p.endswith(".mp4")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __enter__(self) -> LocalSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def playlist_page(title: str, sources: list[str]) -> str:
    """An HTML page with one ``<video>`` element per source: yt-dlp's generic extractor sees a playlist."""
    videos = "\n".join(f'<video controls src="{s}"></video>' for s in sources)
    return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{videos}\n</body></html>\n"


def rss_feed(title: str, items: list[tuple[str, str]]) -> str:
    """An RSS 2.0 feed with one enclosure per (title, URL)."""
    entries = "\n".join(
        f'<item><title>{t}</title><link>{u}</link><enclosure url="{u}" type="video/mp4" length="1"/></item>'
        for t, u in items
    )
    return (f'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>{title}</title>'
            f"<link>http://127.0.0.1/</link><description>test</description>\n{entries}\n</channel></rss>\n")


# ---------------------------------------------------------------------------------------------------
# loopback-only guard

GUARD_LOG_VARIABLE = "IMUSYNTH_TEST_SOCKET_LOG"

#: Source of a sitecustomize.py that installs the guard in every Python process started with it on
#: PYTHONPATH (spawned workers, Dask nannies and workers, subprocesses).
SITECUSTOMIZE = '''
import os, socket, ipaddress

def _imusynth_guard():
    log = os.environ.get("IMUSYNTH_TEST_SOCKET_LOG")

    def loopback(address):
        if not isinstance(address, tuple):  # AF_UNIX path or abstract name
            return True
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def refuse(what):
        if log:
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()} {what}\\n")
        raise OSError(f"test guard: connection to a non-loopback address refused: {what}")

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if not loopback(address):
            refuse(f"connect {address!r}")
        return original_connect(self, address)

    def connect_ex(self, address):
        if not loopback(address):
            refuse(f"connect_ex {address!r}")
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not loopback((name, 0)):
            refuse(f"getaddrinfo {name!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo

if os.environ.get("IMUSYNTH_TEST_SOCKET_LOG"):
    _imusynth_guard()
'''


@contextmanager
def loopback_only(tmp: Path) -> Iterator[Path]:
    """Refuse (and log) every connection to an address other than loopback, here and in children.

    Yields the log file: empty at the end when nothing tried to reach another address.
    """
    guard_dir = tmp / "socket_guard"
    guard_dir.mkdir(parents=True, exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = guard_dir / "violations.log"
    log.touch()
    saved = {k: os.environ.get(k) for k in (GUARD_LOG_VARIABLE, "PYTHONPATH")}
    saved_socket = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    os.environ[GUARD_LOG_VARIABLE] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(guard_dir), saved["PYTHONPATH"]) if p)
    namespace: dict[str, Any] = {}
    exec(compile(SITECUSTOMIZE, "sitecustomize.py", "exec"), namespace)  # the same guard in this process
    try:
        yield log
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved_socket  # type: ignore[method-assign]
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


# ---------------------------------------------------------------------------------------------------
# short real videos


FIRST_WALKING_FRAME = 150  # the walker is in view (and detected) from about frame 140 to 230


def trimmed_copy(src: Path, dst: Path, *, first: int = 0, frames: int, max_side: int) -> Path:
    """Copy ``frames`` frames of ``src`` from frame ``first`` into ``dst`` (MPEG-4, same fps, scaled down)."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    for _ in range(first):
        cap.grab()
    writer = None
    n = 0
    try:
        while n < frames:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            scale = min(1.0, max_side / max(h, w))
            if scale < 1.0:
                frame = cv2.resize(frame, (int(round(w * scale)) // 2 * 2, int(round(h * scale)) // 2 * 2),
                                   interpolation=cv2.INTER_AREA)
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
            writer.write(frame)
            n += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if n == 0:
        raise RuntimeError(f"could not read {src}")
    return dst


def make_test_videos(shared: Path, dst_dir: Path) -> dict[str, Path]:
    """Three short real videos of people: demo3_running (1.6 s), 2 s of demo4_walking, 1.5 s of Pose2Sim."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    videos = shared / "videos"
    out = {"running": dst_dir / "running.mp4"}
    shutil.copyfile(videos / "sports2d" / "demo3_running.mp4", out["running"])
    out["walking"] = trimmed_copy(videos / "sports2d" / "demo4_walking.mp4", dst_dir / "walking.mp4",
                                  first=FIRST_WALKING_FRAME, frames=60, max_side=640)
    out["balance"] = trimmed_copy(videos / "pose2sim" / "Demo_SinglePerson" / "videos" / "cam01.mp4",
                                  dst_dir / "balance.mp4", frames=90, max_side=640)
    return out
