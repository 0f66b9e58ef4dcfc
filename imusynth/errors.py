"""Exceptions for bad input: the CLI prints their message on one line and exits with status 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: unreadable file, missing columns, wrong units, unknown placement."""


class NoPersonError(InputError):
    """No person was found in a video (or none tracked long enough)."""


class ModelNotFoundError(InputError):
    """A pose model could not be found locally nor downloaded."""
