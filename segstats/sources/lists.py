"""``--files-from FILE|-``, ``--root DIR``, ``--template T``: label files named by a list file.

One entry per line; blank lines and lines starting with ``#`` (after leading
blanks) are skipped, and each entry is stripped of surrounding whitespace
(so CRLF lists and a UTF-8 byte-order mark are fine). With a template, each
entry is a stem and the path is the template with every ``{}`` replaced by it
(VOC: ``--root VOC2012 --template 'SegmentationClass/{}.png'``). Relative paths
are relative to ``root`` (default: the current directory); absolute entries and
URLs are kept as they are. Local paths are normalised (``os.path.normpath``),
so ``a/./b.png`` and ``a/b.png`` are one file.

Errors name the list file (``<stdin>`` for ``-``) and the line: a listed local
file that does not exist (or is a directory), an entry listed twice (both
lines), a NUL character. Remote entries are not checked here (one request per
file); reading them names the file when it is missing.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from segstats.errors import BadInputError, UsageError
from segstats.remote import is_remote

# The list-file name meaning standard input.
STDIN = "-"
# How standard input is named in messages.
STDIN_NAME = "<stdin>"
# Placeholder of --template replaced by each entry.
PLACEHOLDER = "{}"
# Line numbers shown in one message at most.
MAX_LINES_SHOWN = 5

MissingCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class ListedFile:
    """A label file named by a list, and the (1-based) line that names it."""

    path: str
    line: int


def _read_text(list_path: str, stdin: IO[str] | IO[bytes] | None) -> tuple[str, str]:
    """``(name for messages, whole text)``; bytes are decoded as UTF-8, odd bytes kept (PEP 383)."""
    if list_path == STDIN:
        stream = sys.stdin if stdin is None else stdin
        raw: str | bytes = getattr(stream, "buffer", stream).read()
        name = STDIN_NAME
    else:
        name = list_path
        try:
            with open(list_path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            raise BadInputError(name, "no such file (--files-from)") from None
        except IsADirectoryError:
            raise BadInputError(name, "is a directory, not a list of files (--files-from)") from None
        except OSError as exc:
            raise BadInputError(name, f"cannot read ({exc.strerror or exc})") from None
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    return name, text.removeprefix("\ufeff")


def _join(root: str | None, path: str) -> str:
    if is_remote(path):
        return path
    if root is not None and not os.path.isabs(path):
        path = posixpath.join(root, path) if is_remote(root) else os.path.join(root, path)
    return path if is_remote(path) else os.path.normpath(path)


def _lines_text(lines: list[int]) -> str:
    shown = [str(n) for n in lines[:MAX_LINES_SHOWN]]
    if len(lines) > MAX_LINES_SHOWN:
        shown.append(f"... ({len(lines)} in all)")
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]


def read_list_entries(
    list_path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    template: str | None = None,
    *,
    stdin: IO[str] | IO[bytes] | None = None,
) -> list[ListedFile]:
    """The files a list names, in list order, each with its line; nothing is checked on disk.

    Raises:
        UsageError: a template without ``{}``.
        BadInputError: the list cannot be read, a line holds a NUL character, or
            one file is listed twice (naming the list file and the lines).
    """
    if template is not None and PLACEHOLDER not in template:
        raise UsageError(f"--template {template!r} must contain {PLACEHOLDER} (where each entry goes)")
    name, text = _read_text(os.fspath(list_path), stdin)
    base = None if root is None else os.fspath(root)
    entries: list[ListedFile] = []
    first_line: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if "\0" in entry:
            raise BadInputError(name, f"line {number}: contains a NUL character")
        path = _join(base, template.replace(PLACEHOLDER, entry) if template is not None else entry)
        if path in first_line:
            duplicates.setdefault(path, [first_line[path]]).append(number)
            continue
        first_line[path] = number
        entries.append(ListedFile(path, number))
    if duplicates:
        path, lines = next(iter(duplicates.items()))
        more = f" (and {len(duplicates) - 1} more entries listed twice)" if len(duplicates) > 1 else ""
        verb = "both list" if len(lines) == 2 else "all list"
        raise BadInputError(name, f"lines {_lines_text(lines)} {verb} {path}{more}")
    return entries


def _problem(path: str) -> str | None:
    if is_remote(path):
        return None
    if os.path.isdir(path):
        return "is a directory, not a label file"
    if not os.path.exists(path):
        return "no such file"
    return None


def read_file_list(
    list_path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    template: str | None = None,
    *,
    stdin: IO[str] | IO[bytes] | None = None,
    on_missing: MissingCallback | None = None,
) -> list[str]:
    """The label files a list file names, in list order (``-`` reads standard input).

    Args:
        list_path: the list file, or ``"-"`` for ``stdin``.
        root: folder that relative entries are relative to (default: the current one).
        template: with ``{}``: each entry is a stem, the path is the template with
            ``{}`` replaced by it.
        stdin: the stream read for ``"-"`` (default ``sys.stdin``).
        on_missing: with ``--skip-errors``: called as ``on_missing(path, error)`` for
            each listed local file that does not exist, which is then left out.
            Without it, such a file is an error.

    Raises:
        BadInputError: see :func:`read_list_entries`; and a missing listed file
            (without ``on_missing``), naming the list file, the line and the path.
    """
    entries = read_list_entries(list_path, root, template, stdin=stdin)
    name = STDIN_NAME if os.fspath(list_path) == STDIN else os.fspath(list_path)
    found: list[str] = []
    bad: list[tuple[ListedFile, str]] = []
    for entry in entries:
        problem = _problem(entry.path)
        if problem is None:
            found.append(entry.path)
        elif on_missing is not None:
            on_missing(entry.path, f"{problem} (listed in {name} line {entry.line})")
        else:
            bad.append((entry, problem))
    if bad:
        entry, problem = bad[0]
        more = (
            f" (and {len(bad) - 1} more: lines {_lines_text([e.line for e, _ in bad[1:]])})"
            if len(bad) > 1
            else ""
        )
        raise BadInputError(name, f"line {entry.line}: {entry.path}: {problem}{more}")
    return found
