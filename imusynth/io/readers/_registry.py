"""The registry of motion file formats: each reader registers itself with how to recognise its files.

A format is recognised first by content (each registered ``sniff`` looks at the first bytes of the
file, decompressed if gzip), in priority order so that specific formats win over the generic CSV,
then by extension. Adding a format is one decorated function in one module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from imusynth.core.motion import Motion
from imusynth.io.readers._table import ReadError, base_suffix, read_head

Reader = Callable[..., Motion]
R = TypeVar("R", bound=Reader)


@dataclass(frozen=True)
class MotionFormat:
    """A registered motion file format.

    Attributes
    ----------
    name : str
        Key used by ``read_motion(format=...)``.
    reader : callable
        ``reader(path, **options) -> Motion``; its keyword parameters are the options it accepts.
    extensions : tuple of str
        Lower-case extensions (a ``.gz`` after them is allowed).
    sniff : callable
        ``sniff(head: bytes) -> bool``: whether the first bytes of a file look like this format.
    description : str
        One line for messages and documentation.
    priority : int
        Lower is sniffed first.
    """

    name: str
    reader: Reader
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    description: str
    priority: int


MOTION_FORMATS: dict[str, MotionFormat] = {}


def register_motion_format(
    name: str,
    *,
    extensions: tuple[str, ...],
    sniff: Callable[[bytes], bool],
    description: str,
    priority: int = 50,
) -> Callable[[R], R]:
    """Decorator registering a motion reader under ``name``."""

    def decorate(reader: R) -> R:
        if name in MOTION_FORMATS:
            raise ValueError(f"motion format {name!r} is registered twice")
        MOTION_FORMATS[name] = MotionFormat(name, reader, extensions, sniff, description, priority)
        return reader

    return decorate


def supported_formats() -> str:
    """``"name (description)"`` for every registered format, comma separated."""
    return "; ".join(f"{k} ({MOTION_FORMATS[k].description})" for k in sorted(MOTION_FORMATS))


def infer_format(path: Path) -> str:
    """Name of the registered format of ``path``: by content first, then by extension.

    Raises
    ------
    ReadError
        When no format recognises the file, naming the supported formats.
    """
    head = read_head(path)
    ordered = sorted(MOTION_FORMATS.values(), key=lambda f: f.priority)
    for fmt in ordered:
        if fmt.sniff(head):
            return fmt.name
    suffix = base_suffix(path)
    for fmt in ordered:
        if suffix in fmt.extensions:
            return fmt.name
    raise ReadError(f"{path.name}: not a motion file this tool can read; supported: {supported_formats()}")


def looks_like_text(head: bytes) -> bool:
    """Whether ``head`` decodes as text (UTF-8 or Latin-1 without NUL bytes)."""
    return bool(head) and b"\x00" not in head


def first_line(head: bytes) -> str:
    """First line of ``head`` as text (empty for binary data)."""
    if not looks_like_text(head):
        return ""
    return head.decode("utf-8-sig", errors="replace").splitlines()[0] if head.strip() else ""
