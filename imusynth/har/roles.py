"""Sensors stacked by role (``export --as wrist=right_wrist,left_wrist``): one windows set from clips whose
sensors have different names (right-handed and left-handed subjects, datasets that name their wrists apart).

A role's channels (``wrist.acc_x`` ...) come from each clip's first listed sensor that it has; its
augmentation variants (``left_wrist~aug2``) follow it (``wrist~aug2``). Listing the names in order of
preference keeps the choice explicit when a clip has several of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from imusynth.core.imu_series import ImuSeries
from imusynth.core.mounting import split_variant, variant_name
from imusynth.har.errors import HarError


def parse_roles(values: Sequence[str]) -> dict[str, list[str]]:
    """``["wrist=right_wrist,left_wrist", ...]`` (``--as`` values) -> ``{"wrist": ["right_wrist", ...]}``."""
    roles: dict[str, list[str]] = {}
    for v in values:
        role, eq, names = v.partition("=")
        listed = [n.strip() for n in names.split(",") if n.strip()]
        if not eq or not role.strip() or not listed:
            raise HarError(f"--as {v!r}: write ROLE=SENSOR[,SENSOR...], e.g. "
                           "--as wrist=right_wrist,left_wrist")
        if role.strip() in roles:
            raise HarError(f"--as names role {role.strip()!r} twice")
        roles[role.strip()] = listed
    return roles


def role_series(series: Mapping[str, ImuSeries], roles: Mapping[str, Sequence[str]], *, where: str = ""
                ) -> dict[str, ImuSeries]:
    """A recording's sensors under their roles: each role takes the first of its sensors that the recording
    has (augmentation variants ``NAME~augK`` become ``ROLE~augK``); sensors of no role are dropped.

    Raises
    ------
    HarError
        The recording has none of a role's sensors.
    """
    out: dict[str, ImuSeries] = {}
    for role, names in roles.items():
        found = next((n for n in names if n in series), None)
        if found is None:
            raise HarError(f"{where} has none of {', '.join(names)} for --as {role}; it has "
                           f"{', '.join(sorted(series))}")
        for name, s in series.items():
            base, k = split_variant(name)
            if base == found:
                out[variant_name(role, k) if k else role] = s
    return out
