"""How every ``millrace`` command ends on a Millrace error: one plain line on stderr.

Plain ``typer.echo``, not Rich: Rich wraps a long reason over several lines when stderr is
not a terminal, and scripts read the first line.

Exit codes: 0 done, 1 an error (the server said no, or could not be reached), 2 bad
settings, 3 a followed journey waits in ``needs_input`` (``--wait`` stopped there).
"""

from __future__ import annotations

from typing import NoReturn

import typer

from millrace.exceptions import ConfigError, MillraceError

__all__ = ["NEEDS_INPUT_EXIT", "exit_code", "fail", "one_line"]

NEEDS_INPUT_EXIT = 3


def one_line(exc: MillraceError) -> str:
    return f"{typer.style('error:', fg='red', bold=True)} {' '.join(exc.detail.split())}"


def exit_code(exc: MillraceError) -> int:
    """2 for bad settings (the caller's configuration), 1 for everything else."""
    return 2 if isinstance(exc, ConfigError) else 1


def fail(exc: MillraceError) -> NoReturn:
    typer.echo(one_line(exc), err=True)
    raise typer.Exit(exit_code(exc))
