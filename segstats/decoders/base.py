"""What every decoder shares: the options of a scan and the result of one file."""

from __future__ import annotations

from dataclasses import dataclass

from segstats._types import DenseRow, IntArray, ValueHistogram
from segstats.choices import DECODER_HELP as DECODER_HELP  # re-exported with the decoders
from segstats.choices import Decoder, choices_of
from segstats.errors import BadInputError, UsageError
from segstats.labels import ColorTable
from segstats.png import PngInfo

# Default pixel limit per image: Pillow's decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS),
# written out so that a scan of PNGs, which Pillow never decodes, does not import Pillow.
DEFAULT_MAX_PIXELS = 89_478_485


# One file's result: its stored-value histogram (or, when the caller passed a dense matrix,
# the note that it was counted into its row), or why it is refused.
FileResult = ValueHistogram | DenseRow | BadInputError
# A decoder's ``dense`` argument: a zeroed (files, 256) int64 matrix it may count into, or None.
DenseMatrix = IntArray | None
# One item of a chunk: a local path the decoder reads itself, or the bytes of a (remote) file.
Item = str | bytes


@dataclass(frozen=True)
class ReadOptions:
    """How label files are read (the same for every file of a scan).

    Attributes:
        decoder: see :class:`Decoder`.
        max_pixels: refuse images with more pixels than this (None: no limit).
        colors: sorted ``(packed_rgb, class)`` pairs (``segstats.labels.colour_table``);
            when given, RGB/RGBA masks are read through it, else they are refused.
        grey_rgb: read RGB/RGBA masks whose three bands are equal as grey (the
            value of a pixel is its R = G = B); a pixel whose bands differ is an error.
    """

    decoder: Decoder = "auto"
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    colors: ColorTable | None = None
    grey_rgb: bool = False

    def __post_init__(self) -> None:
        if self.grey_rgb and self.colors is not None:
            raise UsageError("--grey-rgb and --colors exclude each other: a colour mask is read one way")
        if self.decoder not in choices_of(Decoder):
            choices = ", ".join(choices_of(Decoder))
            raise UsageError(f"unknown decoder {self.decoder!r}; choose one of {choices}")


def colour_refusal(info: PngInfo, path: str, options: ReadOptions) -> BadInputError | None:
    """Why a colour PNG cannot be counted with these options, or None when it can."""
    if options.colors is None and not options.grey_rgb:
        return BadInputError(
            path,
            f"{info.mode} colour image: colour masks need a colour map (--colors FILE), "
            "or --grey-rgb for grey masks saved as RGB",
        )
    if info.bit_depth == 16:
        return BadInputError(
            path,
            "16-bit colour image: colour maps are 8-bit RGB, and a 16-bit image is never reduced to 8 bits",
        )
    return None
