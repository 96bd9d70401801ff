"""Type stubs of segstats._native, the compiled label-PNG reader (segstats/_native/*.c)."""

from collections.abc import Sequence
from typing import Any

from typing_extensions import Buffer

__version__: str
ABI: int

# One tuple per item, told apart by its first element (so typed loosely):
# (0, width, height, bit_depth, color_type, interlace, values, counts): counted; values and
#     counts are little-endian int64 bytes (b"" with check_only=True)
# (1, width, height, bit_depth, color_type, interlace, reason): a valid RGB/RGBA PNG, not counted
# (2, reason): not a PNG
# (3, message): bad input (the message names no path)
# (4, errno, strerror): the OS could not read the path
# (5, width, height, bit_depth, color_type, interlace): counted into row i of ``dense``
#     (only when ``dense`` is given: a zeroed C-contiguous native int64 array of
#     len(items) x 256; files holding a value >= 256 come back as (0, ...) instead)
def count_chunk(
    items: Sequence[str | Buffer],
    max_pixels: int | None,
    check_only: bool = False,
    plain: bool = False,
    dense: Buffer | None = None,
) -> list[tuple[Any, ...]]: ...
def inflate_backend() -> str: ...
def set_inflate(name: str) -> str: ...
