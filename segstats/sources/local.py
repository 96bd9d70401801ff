"""Reading one label file's bytes, local or remote, opened for reading only."""

from __future__ import annotations

from segstats.errors import BadInputError, describe_os_error
from segstats.remote import is_remote


def read_bytes(path: str) -> bytes:
    """The whole file ``path`` (a URL is read with fsspec, here, on the worker).

    Raises:
        BadInputError: the file cannot be read (missing, permissions, a directory...).
    """
    if is_remote(path):
        from segstats.remote import read_remote_bytes

        return read_remote_bytes(path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInputError(path, describe_os_error(exc, listed=True)) from exc
