"""Commands loaded on first use, so that ``imusynth --help`` and a small job start fast.

The modules of ``compare``, ``calibrate``, ``export``, ``har-eval``, ``batch``, ``gather``, ``report`` and
``lifter`` import NumPy, SciPy, h5py or more at their top; importing them all took about 2 s of every call.
:class:`LazyGroup` lists them in the help from a table (:data:`imusynth.cli.main.LAZY_COMMANDS`: name ->
module, attribute, first paragraph of the help) and imports a module only when its command is resolved, i.e.
when it runs or shows its own help. ``tests/test_startup.py`` checks that the table says what the commands
say.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


class _Placeholder(TyperCommand):
    """A command as the group's help lists it (name and summary), before its module is imported."""


def load_command(name: str, module: str, attribute: str, *, rich_markup_mode: Any,
                 pretty_exceptions_short: bool = True) -> Any:
    """The click command of ``module.attribute``: a typer command function or a :class:`typer.Typer` group."""
    obj = getattr(importlib.import_module(module), attribute)
    cmd: Any
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_group(obj)
    else:
        sub = typer.Typer()
        sub.command(name)(obj)
        cmd = typer.main.get_command_from_info(sub.registered_commands[0],
                                               pretty_exceptions_short=pretty_exceptions_short,
                                               rich_markup_mode=rich_markup_mode)
    cmd.name = name
    return cmd


class LazyGroup(TyperGroup):
    """A typer group whose commands in :attr:`lazy` are imported when resolved (run, or asked for help).

    Until then the group holds a :class:`_Placeholder` per lazy command, so that listing the commands in the
    help, and suggesting one for a typo, import nothing.
    """

    #: name -> (module, attribute, help summary); set by the application that uses the class
    lazy: Mapping[str, tuple[str, str, str]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, (_, _, summary) in self.lazy.items():
            if name not in self.commands:
                self.commands[name] = _Placeholder(name, help=summary, rich_markup_mode=self.rich_markup_mode)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name in self.lazy and isinstance(self.commands.get(name), _Placeholder):
            module, attribute, _ = self.lazy[name]
            self.commands[name] = load_command(name, module, attribute,
                                               rich_markup_mode=self.rich_markup_mode)
        return super().resolve_command(ctx, args)
