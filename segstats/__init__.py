"""segstats: exact class statistics, class weights and weighted losses for segmentation labels."""

from segstats._version import __version__

__all__ = ["__version__"]
