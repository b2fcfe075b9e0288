"""The CLI's one error convention: a radsynth error becomes one stderr line and exit code 2.

A module of its own so every command module (main and the sub-apps it registers) uses the same decorator
without importing :mod:`radsynth.cli.main` (which imports them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from radsynth.core.errors import RadsynthError

EXIT_USAGE = 2


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map radsynth errors (RadsynthInputError included) to one stderr line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RadsynthError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper
