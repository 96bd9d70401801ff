"""Test hook, imported at start-up by subprocesses whose PYTHONPATH includes tests/hooks.

When SEGSTATS_TEST_DELETE_AFTER_DISCOVERY names a file, that file is deleted
right after ``segstats.discover.discover`` returns: a file that vanishes
between discovery and reading, deterministically. Without the variable this
module does nothing.
"""

from __future__ import annotations

import os

_VICTIM = os.environ.get("SEGSTATS_TEST_DELETE_AFTER_DISCOVERY")

if _VICTIM:
    import importlib

    # the package re-exports the function under the same name: take the module itself
    _discover_module = importlib.import_module("segstats.discover")

    _original = _discover_module.discover

    def _discover_then_delete(paths):  # type: ignore[no-untyped-def]
        files = _original(paths)
        if os.path.exists(_VICTIM):
            os.remove(_VICTIM)
        return files

    _discover_module.discover = _discover_then_delete

_DENIED = os.environ.get("SEGSTATS_TEST_DENY_OPEN")

if _DENIED:
    import builtins
    import errno

    _original_open = builtins.open

    def _open_or_deny(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(file, str | bytes | os.PathLike) and os.fsdecode(file) == _DENIED:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(file))
        return _original_open(file, *args, **kwargs)

    builtins.open = _open_or_deny
