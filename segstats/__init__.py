"""segstats: exact class statistics, class weights and weighted losses for segmentation labels.

The public API (no torch import here; ``segstats.losses`` is separate)::

    import segstats
    stats = segstats.scan("labels/", num_classes=19, ignore_index=255)
    weights = segstats.compute_weights(stats, method="median-frequency")
"""

from segstats._version import __version__
from segstats.api import scan
from segstats.discover import discover
from segstats.errors import BadInputError, NoFilesError, SegstatsError, UsageError
from segstats.stats import DatasetStats, merge_stats
from segstats.weights import METHODS, compute_weights

__all__ = [
    "METHODS",
    "BadInputError",
    "DatasetStats",
    "NoFilesError",
    "SegstatsError",
    "UsageError",
    "__version__",
    "compute_weights",
    "discover",
    "merge_stats",
    "scan",
]
