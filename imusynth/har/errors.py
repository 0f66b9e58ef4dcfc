"""The error of the HAR stage."""

from __future__ import annotations

from imusynth.errors import InputError


class HarError(InputError, ValueError):
    """HAR input that cannot be used (no windows, mismatched channels, unknown protocol)."""
