"""Shards: a deterministic 1/N of the sorted file list, for job arrays (Slurm, Kubernetes).

Rule: shard ``I`` of ``N`` holds the files at positions ``I, I + N, I + 2N, ...``
of the sorted file list (``files[I::N]``, positions from 0). So every file is in
exactly one shard, shard sizes differ by at most one, and neighbouring files (often
alike: one folder, one sensor) are spread over all shards. The rule depends only on
the sorted list, so every job of the array must see the same files: scan a dataset
that does not change while the array runs. Scan each shard with the same
``--num-classes`` and ``--ignore-index``, then add the documents with
``segstats merge``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from segstats.errors import UsageError

# "I/N" with non-negative integers (spaces around the slash allowed).
SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(shard: str | tuple[int, int]) -> tuple[int, int]:
    """``"I/N"`` (or ``(I, N)``) -> ``(I, N)``, checking ``0 <= I < N``.

    Raises:
        UsageError: not of the form I/N, or I out of range.
    """
    if isinstance(shard, str):
        match = SHARD_PATTERN.match(shard)
        if match is None:
            raise UsageError(f"--shard {shard!r}: expected I/N, e.g. --shard 0/8 for the first of 8 shards")
        index, count = int(match.group(1)), int(match.group(2))
    else:
        index, count = shard
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {index}/{count}: need 0 <= I < N (shards are numbered 0 to N-1)")
    return index, count


def select_shard(files: Sequence[str], index: int, count: int) -> list[str]:
    """Shard ``index`` of ``count``: ``files[index::count]`` of the sorted ``files``."""
    return list(sorted(files)[index::count])
