"""Errors raised by radsynth.

Every user-facing error names the field, the offending value and what is accepted,
and says what to do next (in the spirit of pydicom's messages). The CLI maps
:class:`RadsynthInputError` to exit code 2.
"""

from __future__ import annotations

from typing import Any


class RadsynthError(Exception):
    """Base class for radsynth errors."""


class RadsynthInputError(RadsynthError, ValueError):
    """Bad user input: a spec field, a CLI option or an input file.

    The message is one line: ``<field>: got <value>; accepted: <accepted>. <hint>``.
    """

    def __init__(self, field: str, value: Any, accepted: str, hint: str = "") -> None:
        self.field = field
        self.value = value
        self.accepted = accepted
        self.hint = hint
        msg = f"{field}: got {value!r}; accepted: {accepted}."
        if hint:
            msg += f" {hint}"
        super().__init__(msg.replace("\n", " "))


class ResumeMismatchError(RadsynthError):
    """An output folder holds a build of another spec; refuse to mix them."""
