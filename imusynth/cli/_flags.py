"""Error messages in the words of the command line: Python parameter names become the flags that set them.

The numeric and reading functions name their keyword arguments in errors (``max_lag_s``, ``sensor=``,
``time_column``); a person at the command line typed ``--max-lag``, ``--real-sensor``, ``--time-column``.
Each command wraps the calls it makes in :func:`flag_names` with the map of its own flags, so the same
function can be reworded differently by two commands (``rate_hz`` is ``--rate`` in one, ``--source-rate``
in another) and the library keeps no knowledge of the command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from imusynth.errors import InputError


def rephrase(message: str, names: Mapping[str, str]) -> str:
    """``message`` with every whole-word occurrence of a key of ``names`` replaced by its value.

    Keys are matched as whole words (``rate_hz`` does not match inside ``source_rate_hz``), the longest key
    first, and each place is replaced once (a flag is never reworded again).
    """
    if not names:
        return message
    parts = []
    for key in sorted(names, key=len, reverse=True):
        end = "" if not key[-1:].isalnum() and key[-1:] != "_" else r"(?!\w)"  # "sensor=" ends by itself
        parts.append(r"(?<![\w-])" + re.escape(key) + end)
    return re.sub("|".join(parts), lambda m: names[m.group(0)], message)


@contextmanager
def flag_names(names: Mapping[str, str]) -> Iterator[None]:
    """Reword the :class:`~imusynth.errors.InputError` raised inside the block with :func:`rephrase`.

    The exception keeps its type and traceback; only its message changes. Other exceptions pass as they are.
    """
    try:
        yield
    except InputError as exc:
        message = str(exc)
        new = rephrase(message, names)
        if new == message:
            raise
        exc.args = (new,)
        if str(exc) != new:  # a class that builds its message itself: keep the wording all the same
            raise InputError(new) from exc
        raise
