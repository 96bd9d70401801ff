"""The thread executor lets go of each chunk's result once it has been yielded, so that a scan
with per-image rows keeps only the chunks in flight (peak RSS flat in the number of files)."""

from __future__ import annotations

import gc
import weakref

from segstats.executors import ThreadExecutor


class Result:
    """A stand-in for a ChunkResult (weak-referenceable)."""

    def __init__(self, index: int) -> None:
        self.index = index


def make(index: int) -> Result:
    return Result(index)


def test_a_yielded_result_is_not_kept_by_the_executor():
    refs: list[weakref.ref[Result]] = []
    results = ThreadExecutor(2).run(make, [(i,) for i in range(50)])
    for _, result in results:
        refs.append(weakref.ref(result))
        del result
        if len(refs) == 40:
            break
    gc.collect()
    # All but the last one yielded (still the suspended generator's current future) are gone.
    alive = [index for index, ref in enumerate(refs) if ref() is not None]
    results.close()
    assert alive in ([], [39])
