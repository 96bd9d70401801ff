"""Paths, directories and globs -> the sorted list of label files to read."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from segstats.errors import BadInputError, NoFilesError
from segstats.remote import LABEL_SUFFIXES, is_remote

# Characters that make a path argument a glob pattern.
GLOB_CHARS = frozenset("*?[")


def _walk_directory(root: str) -> Iterable[str]:
    """Yield label files under ``root`` recursively, following no symlink loops."""
    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:  # a symlink loop: do not descend twice
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        for name in filenames:
            if name.lower().endswith(LABEL_SUFFIXES):
                yield os.path.join(dirpath, name)


def discover(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[str]:
    """Return the label files named by ``paths``, sorted and without duplicates.

    Each path is a label file (any suffix), a directory (searched recursively for
    ``*.png``, ``*.tif``, ``*.tiff``, any case of the suffix) or a glob pattern (``**`` allowed).
    A path with a protocol (``s3://``, ``gs://``, ``https://``, ``file://``,
    ``memory://``...) is listed with fsspec (:mod:`segstats.remote`).

    Raises:
        BadInputError: a path that is neither an existing file, a directory, nor
            a glob matching something.
        NoFilesError: nothing to read at all.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: set[str] = set()
    for raw in paths:
        path = os.fspath(raw)
        if is_remote(path):
            from segstats.remote import discover_remote

            found.update(discover_remote(path))
        elif os.path.isdir(path):
            found.update(_walk_directory(path))
        elif os.path.exists(path) or os.path.islink(path):
            found.add(path)
        elif GLOB_CHARS & set(path):
            import glob  # here: only patterns need it, not every scan's start-up

            matches = glob.glob(path, recursive=True)
            for match in matches:
                if os.path.isdir(match):
                    found.update(_walk_directory(match))
                else:
                    found.add(match)
            if not matches:
                raise BadInputError(path, "no files match this pattern")
        else:
            raise BadInputError(path, "no such file or directory")
    if not found:
        shown = ", ".join(os.fspath(p) for p in paths) or "(no paths given)"
        raise NoFilesError(f"{shown}: no label files found (looked for *.png, *.tif, *.tiff)")
    return sorted(found)
