"""One exception family for everything segstats reports to users.

Library code raises these; the CLI maps them to a one-line message and an exit
code in one place (``segstats.cli``). Nothing here prints.
"""

from __future__ import annotations

import errno
import os

# A label file that was listed by the scan and is gone when it is read.
_NOT_FOUND_LISTED = "file not found (was it deleted during the scan?)"
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


# Escapes of the control characters people know by name; others become \xNN or \uNNNN.
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    r"""``text`` safe for a terminal: every non-printable character as a backslash escape.

    A file name or a file's bytes can hold ESC sequences (clear the screen, recolour,
    retitle the terminal), newlines that forge a second message, or bidirectional
    overrides; those appear as ``\x1b``, ``\n``, ``\u202e``. Printable Unicode (accents,
    CJK, emoji) is kept, and undecodable file-name bytes appear as ``\xNN``
    (:func:`display_path`).

    >>> printable("a\x1b[2Jb.png: caf\u00e9\n")
    'a\\x1b[2Jb.png: café\\n'
    """
    text = display_path(text)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


def describe_os_error(exc: OSError, *, listed: bool = False) -> str:
    """A short lower-case cause for an OS-level failure to read a file.

    ``listed``: the file was found when the scan listed its files, so a missing
    file was deleted since (said so); an input the user named is just not found.
    """
    if isinstance(exc, FileNotFoundError):
        return _NOT_FOUND_LISTED if listed else "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if exc.errno is not None:
        return describe_errno(exc.errno, exc.strerror or "", listed=listed)
    return str(exc)


def describe_errno(code: int, strerror: str = "", *, listed: bool = False) -> str:
    """:func:`describe_os_error` for an ``errno`` value (what the compiled reader reports)."""
    if code == errno.ENOENT:
        return _NOT_FOUND_LISTED if listed else "file not found"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.EISDIR:
        return "is a directory, not a file"
    if code == errno.ELOOP:
        return "too many levels of symbolic links"
    return (strerror or os.strerror(code)).lower()
