"""segstats: exact class statistics, class weights and weighted losses for segmentation labels.

The public API (no torch import here; ``segstats.losses`` is separate)::

    import segstats
    stats = segstats.scan("labels/", num_classes=19, ignore_index=255)
    weights = segstats.compute_weights(stats, method="median-frequency")

Names are imported on first use (PEP 562), so that ``segstats --help`` does not pay
for numpy and Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from segstats._version import __version__
from segstats.discover import discover  # eager: the function shadows its (cheap) module
from segstats.errors import BadInputError, NoFilesError, SegstatsError, UsageError

if TYPE_CHECKING:
    from segstats.api import FilePlan, plan_files, scan
    from segstats.sampling import sampling_weights
    from segstats.stats import DatasetStats, merge_stats
    from segstats.weights import METHODS, compute_weights

# Public name -> module that defines it (imported lazily by __getattr__).
_LAZY = {
    "scan": "segstats.api",
    "plan_files": "segstats.api",
    "FilePlan": "segstats.api",
    "DatasetStats": "segstats.stats",
    "merge_stats": "segstats.stats",
    "METHODS": "segstats.weights",
    "compute_weights": "segstats.weights",
    "sampling_weights": "segstats.sampling",
}

__all__ = [
    "METHODS",
    "BadInputError",
    "DatasetStats",
    "FilePlan",
    "NoFilesError",
    "SegstatsError",
    "UsageError",
    "__version__",
    "compute_weights",
    "discover",
    "merge_stats",
    "plan_files",
    "sampling_weights",
    "scan",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segstats' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
