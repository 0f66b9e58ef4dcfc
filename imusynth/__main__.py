"""``python -m imusynth`` is the ``imusynth`` command."""

from imusynth.cli import main

main()
