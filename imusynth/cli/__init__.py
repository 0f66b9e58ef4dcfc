"""The command line: every typer command, thin (parse, call one stage's function, report).

- :mod:`.main`: the ``imusynth`` app, the bare ``imusynth VIDEO`` form, ``motion``, ``video``, ``inspect``,
  ``placements``, ``info`` and the entry point :func:`main`.
- :mod:`.compare`, :mod:`.calibrate`, :mod:`.har`, :mod:`.batch`: the commands of those stages.
"""

from imusynth.cli.main import app, main

__all__ = ["app", "main"]
