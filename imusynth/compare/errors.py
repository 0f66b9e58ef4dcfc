"""The error of the comparison stage."""

from __future__ import annotations

from imusynth.errors import InputError


class CompareError(InputError, ValueError):
    """Signals that cannot be compared (too short an overlap, constant signals, bad shapes)."""
