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
        super().__init__(f"{path}: {cause}")


class NoFilesError(SegstatsError):
    """No label files were found under the given paths."""
