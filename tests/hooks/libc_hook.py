"""Build tests/hooks/libc_hook.c once per test session (gcc), for LD_PRELOAD."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libc_hook.c")


@functools.cache
def libc_hook() -> str | None:
    """Path of the built shim, or None where it cannot be built or preloaded (not Linux, no gcc)."""
    if not sys.platform.startswith("linux"):
        return None
    target = os.path.join(tempfile.mkdtemp(prefix="segstats-hook-"), "libc_hook.so")
    done = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-o", target, SOURCE, "-ldl"], capture_output=True, text=True
    )
    return target if done.returncode == 0 else None
