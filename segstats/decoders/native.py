"""``--decoder fast``: the compiled reader only (every grey and palette PNG kind)."""

from __future__ import annotations

from collections.abc import Sequence

from segstats._types import DenseRow
from segstats.decoders.base import DenseMatrix, FileResult, Item, ReadOptions
from segstats.errors import BadInputError
from segstats.png import Counted, NotCounted, walk_rows


def decode_chunk(
    items: Sequence[Item], paths: Sequence[str], options: ReadOptions, dense: DenseMatrix = None
) -> list[FileResult]:
    """Count every item natively; a kind the reader does not count is refused, saying so."""
    results: list[FileResult] = []
    for path, outcome in zip(paths, walk_rows(items, paths, options.max_pixels, dense), strict=True):
        if isinstance(outcome, DenseRow):
            results.append(outcome)
        elif isinstance(outcome, Counted):
            results.append(outcome.histogram)
        elif isinstance(outcome, NotCounted):
            kind = outcome.info.describe() if outcome.info is not None else outcome.reason
            results.append(
                BadInputError(
                    path, f"not readable by the fast decoder ({kind}); use --decoder auto or pillow"
                )
            )
        else:
            results.append(outcome)
    return results
