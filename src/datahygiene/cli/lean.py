"""Typer command classes that keep pydantic out of ``--help`` and commands without options.

Typer gives its ``--help`` flag no default, so on every invocation the flag's missing value (None) goes through
typer's pydantic coercion, importing pydantic (about 0.1 s of CPU) before any command runs. With the default set to
False the flag's value is already a bool and typer skips the coercion; help output is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter
    from typer.core import TyperOption


def _bool_default(option: TyperOption | None) -> TyperOption | None:
    if option is not None and option.default is None:
        option.default = False
    return option


class LeanGroup(TyperGroup):
    """The app's group: its ``--help`` flag defaults to False, and its command list is not cut short."""

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        """Typer's help option, with a bool default."""
        return _bool_default(super().get_help_option(ctx))

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """One line per command: its help's first sentence, whole (click cuts it to the terminal's width)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LeanCommand(TyperCommand):
    """A command whose ``--help`` flag defaults to False."""

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        """Typer's help option, with a bool default."""
        return _bool_default(super().get_help_option(ctx))
