"""One exception family for everything segstats reports to users.

Library code raises these; the CLI maps them to a one-line message and an exit
code in one place (``segstats.cli``). Nothing here prints.
"""

from __future__ import annotations

# Exit code for bad usage or bad input (contract: "2: bad usage or bad input").
EXIT_BAD_INPUT = 2


class SegstatsError(Exception):
    """Base class: a problem the user can fix, reported as one line."""

    exit_code: int = EXIT_BAD_INPUT


class UsageError(SegstatsError):
    """Invalid options or option combinations."""


class BadInputError(SegstatsError):
    """A label file (or an input document) that cannot be used.

    ``path`` names the file; ``cause`` says what is wrong with it. The message
    is always ``"<path>: <cause>"`` so it fits on one line.
    """

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"{display_path(path)}: {cause}")


class NoFilesError(SegstatsError):
    """No label files were found under the given paths."""


def display_path(path: str) -> str:
    """``path`` as printable text: undecodable bytes in a file name appear as ``\\xNN``.

    On POSIX, a name that is not valid UTF-8 reaches Python with "surrogate
    escapes" (PEP 383); those cannot be printed or stored in JSON, so they are
    shown as backslash escapes instead. Other names are returned unchanged.
    """
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return path.encode("utf-8", "backslashreplace").decode("utf-8")
