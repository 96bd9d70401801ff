"""Remote label files (``s3://``, ``gs://``, ``https://``, ``file://``, ``memory://``...) via fsspec.

A path with a protocol is listed on the client with fsspec and read *where it is
counted* (a joblib or Dask worker opens it by its URL), so the client never
downloads label data. Plain local paths never come here and never import fsspec.

Discovery follows the same rules as local paths (``segstats.discover``):

- a glob (``*``, ``?``, ``[``) is expanded with ``fs.glob``; a matching
  directory is searched like a directory;
- a path ending in ``/``, or one that fsspec reports as a directory, is searched
  recursively for ``*.png``, ``*.tif``, ``*.tiff`` (any case of the suffix) with ``fs.find``; for
  ``https://`` this scrapes the links of the server's listing page, so it works
  only where the server serves one (end such a URL with ``/``);
- anything else is one label file.

Each file is named by its full URL (``fs.unstrip_protocol``), which is its
identity in error messages and in the ``errors`` list of the JSON document.
Credentials and options come from fsspec's usual sources (environment
variables such as ``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``, and
fsspec's ``FSSPEC_<PROTOCOL>_<OPTION>`` variables, e.g. ``FSSPEC_S3_ANON=true``);
the Dask workers need the same.

``memory://`` files live in one process only: they can be scanned serially or
with threads (segstats switches a local parallel scan to threads for them), but
not by other processes, so the Dask backend refuses them.
"""

from __future__ import annotations

import re
from typing import Any

from segstats.errors import BadInputError, UsageError

# Suffixes a directory is searched for, in any case, here and locally (contract: *.png,
# *.tif, *.tiff). Defined here, the lowest module that needs it, which imports no numpy.
LABEL_SUFFIXES = (".png", ".tif", ".tiff")

# A path starting with "protocol://" or a chained "protocol::" URL is remote
# (two or more characters, so that a Windows drive letter "C:/" is not one).
PROTOCOL_PATTERN = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)(://|::)")
# Characters that make a path a glob pattern.
GLOB_CHARS = frozenset("*?[")
# For web URLs only "*" makes a glob: "?" starts a query string (signed URLs) and "[" is rare.
HTTP_GLOB_CHARS = frozenset("*")
# Protocols whose files exist in the current process only (not visible to workers).
PROCESS_LOCAL_PROTOCOLS = frozenset({"memory"})
# Protocols whose fsspec packages the segstats[cloud] extra installs.
CLOUD_EXTRA_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "http", "https"})
# What to install for remote paths (one line, for error messages).
CLOUD_INSTALL_HINT = "install the cloud extra: pip install 'segstats[cloud]'"


def protocol_of(path: str) -> str | None:
    """The protocol of ``path`` (``"s3"`` for ``s3://b/k``), or None for a plain local path."""
    match = PROTOCOL_PATTERN.match(path)
    return match.group(1).lower() if match else None


def is_remote(path: str) -> bool:
    """True when ``path`` names a file through a protocol (read with fsspec)."""
    # called for every file of a scan: most paths hold no ":" at all, decided without the regex
    return ":" in path and PROTOCOL_PATTERN.match(path) is not None


def is_process_local(path: str) -> bool:
    """True for files that only the current process can see (``memory://``)."""
    return protocol_of(path) in PROCESS_LOCAL_PROTOCOLS


def _import_fsspec(path: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"{path}: reading {protocol_of(path)}:// paths needs fsspec; {CLOUD_INSTALL_HINT}"
        ) from None
    return fsspec


def _filesystem(path: str) -> tuple[Any, str]:
    """``(filesystem, path within it)`` for a URL, with one-line errors for missing packages."""
    _import_fsspec(path)
    from fsspec.core import url_to_fs

    protocol = protocol_of(path)
    try:
        fs, inner = url_to_fs(path)
    except ImportError as exc:
        hint = CLOUD_INSTALL_HINT if protocol in CLOUD_EXTRA_PROTOCOLS else "install the package it names"
        raise UsageError(f"{path}: the {protocol}:// protocol is not available ({exc}); {hint}") from None
    except ValueError as exc:
        raise BadInputError(path, f"cannot open this URL: {exc}") from None
    return fs, str(inner)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _labels_under(fs: Any, root: str) -> list[str]:
    """Files under ``root`` (recursive) whose name ends in ``.png``/``.tif``/``.tiff``, any case."""
    return [name for name in fs.find(root) if name.lower().endswith(LABEL_SUFFIXES)]


def discover_remote(path: str) -> list[str]:
    """The label files named by one remote ``path`` (file, directory or glob), as URLs.

    Lists only (no file is downloaded). The result is not sorted; ``discover``
    sorts the union of all paths.

    Raises:
        UsageError: fsspec, or the package for this protocol, is not installed.
        BadInputError: the path does not exist, matches nothing, or cannot be listed.
    """
    fs, root = _filesystem(path)
    is_glob = bool((HTTP_GLOB_CHARS if protocol_of(path) in ("http", "https") else GLOB_CHARS) & set(root))
    found: list[str] = []
    try:
        if is_glob:
            matches = fs.glob(root)
            if not matches:
                raise BadInputError(path, "no files match this pattern")
            for match in matches:
                if fs.isdir(match):
                    found.extend(_labels_under(fs, match))
                else:
                    found.append(match)
        elif path.endswith("/") or fs.info(root).get("type") == "directory":
            if not fs.exists(root):
                raise FileNotFoundError(root)
            found.extend(_labels_under(fs, root))
        else:
            found.append(root)
    except BadInputError:
        raise
    except Exception as exc:  # any listing failure of any backend (network, credentials...)
        raise BadInputError(path, _describe(exc)) from exc
    if len(found) == 1 and found[0] == root and not is_glob:
        return [path]  # one file named by the user: keep the user's spelling as its identity
    return [fs.unstrip_protocol(name) for name in found]


def read_remote_bytes(path: str) -> bytes:
    """The whole remote file ``path`` (a URL), read with fsspec where this runs (the worker).

    Raises:
        BadInputError: the file cannot be read (missing, permissions, network...),
            or fsspec / the protocol's package is missing on this machine.
    """
    try:
        fs, inner = _filesystem(path)
    except UsageError as exc:  # a worker without the extra: still one line naming the file
        raise BadInputError(path, str(exc).removeprefix(f"{path}: ")) from None
    try:
        data = fs.cat_file(inner)
    except Exception as exc:  # any read failure of any backend (network, credentials...)
        raise BadInputError(path, _describe(exc)) from exc
    return bytes(data)
