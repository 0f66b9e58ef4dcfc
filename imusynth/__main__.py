"""``python -m imusynth`` is the ``imusynth`` command."""

from imusynth.cli.main import main

main()
