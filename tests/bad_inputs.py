"""A corpus of hostile and broken label folders, made in a temporary folder (no committed binaries).

Each builder writes one folder holding a few good masks and one bad item, and
returns a :class:`Case` saying what the CLI must do with it: which file it must
name, which cause it must give, and which masks it must count with
``--skip-errors``. A few cases are legitimately valid (unicode and non-UTF-8
names, a directory named like a PNG, a directory symlink loop): those must
succeed and count every mask.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from labelmasks import random_mask, write_mask
from PIL import Image

from segstats.errors import display_path

# Classes of the good masks; 255 is their void value.
NUM_CLASSES = 3
IGNORE_INDEX = 255
# Environment variable read by tests/hooks/sitecustomize.py: a file it deletes right after discovery.
DELETE_HOOK_ENV = "SEGSTATS_TEST_DELETE_AFTER_DISCOVERY"
HOOKS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks")
# Environment variable read by tests/hooks/sitecustomize.py: a file whose opening it denies (EACCES).
DENY_HOOK_ENV = "SEGSTATS_TEST_DENY_OPEN"


@dataclass
class Case:
    """One corpus folder and what the CLI must make of it."""

    name: str
    folder: str  # the PATH argument given to the CLI
    good: list[np.ndarray]  # the masks that must be counted (with --skip-errors, or when valid)
    bad: list[str] = field(default_factory=list)  # displayed paths the errors must name
    cause: str = ""  # regex the cause must match
    valid: bool = False  # legitimately valid: exit 0 and nothing skipped
    no_files: bool = False  # nothing to read at all: exit 2 even with --skip-errors
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the subprocess
    restore: Callable[[], None] | None = None  # re-create what a run deletes
    out_dir: str = ""  # where outputs go (outside the scanned folder); set by build_case


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC-32 of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def chunk_offsets(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, data length)`` of every chunk of a well-formed PNG."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        chunks.append((kind, position, length))
        position += 12 + length
    return chunks


def good_png_bytes(rng: np.random.Generator, size: int = 64) -> tuple[bytes, np.ndarray]:
    """A noisy 8-bit mask as PNG bytes (noisy so that IDAT is long enough to cut in the middle)."""
    array = rng.integers(0, NUM_CLASSES, size=(size, size)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue(), array


def write_good(folder: Path, rng: np.random.Generator, count: int = 3) -> list[np.ndarray]:
    """``count`` good masks (L, P and I;16 in turn) with void pixels."""
    arrays = []
    for index in range(count):
        array = random_mask(rng, 12 + index, 16, NUM_CLASSES, ignore_index=IGNORE_INDEX)
        write_mask(folder / f"good_{index}.png", array, ("L", "P", "I;16")[index % 3])
        arrays.append(array)
    return arrays


def _with_bad(folder: Path, rng, name: str, content: bytes, cause: str, case: str) -> Case:
    good = write_good(folder, rng)
    (folder / name).write_bytes(content)
    return Case(case, str(folder), good, [display_path(str(folder / name))], cause)


def _corrupt(position_of: Callable[[bytes], int], cause: str, case: str, *, cut: bool):
    def build(folder: Path, rng: np.random.Generator) -> Case:
        data, _ = good_png_bytes(rng)
        position = position_of(data)
        content = (
            data[:position]
            if cut
            else data[:position] + bytes([data[position] ^ 0x10]) + data[position + 1 :]
        )
        return _with_bad(folder, rng, "broken.png", content, cause, case)

    return build


def _idat(data: bytes) -> tuple[int, int]:
    ((start, length),) = [(s, n) for kind, s, n in chunk_offsets(data) if kind == b"IDAT"]
    return start, length


def _iend(data: bytes) -> int:
    return next(s for kind, s, _ in chunk_offsets(data) if kind == b"IEND")


def empty_folder(folder: Path, rng) -> Case:
    return Case(
        "empty_folder", str(folder), [], [display_path(str(folder))], "no label files found", no_files=True
    )


def zero_byte(folder: Path, rng) -> Case:
    return _with_bad(folder, rng, "empty.png", b"", r"empty file \(0 bytes\)", "zero_byte")


def text_as_png(folder: Path, rng) -> Case:
    return _with_bad(
        folder,
        rng,
        "notes.png",
        b"these are not the pixels you are looking for\n",
        "not an image file",
        "text_as_png",
    )


def jpeg_as_png(folder: Path, rng) -> Case:
    buffer = io.BytesIO()
    Image.new("L", (16, 16), 1).save(buffer, format="JPEG")
    return _with_bad(
        folder, rng, "photo.png", buffer.getvalue(), "JPEG file, not a PNG or TIFF", "jpeg_as_png"
    )


def _colour(mode: str):
    def build(folder: Path, rng) -> Case:
        buffer = io.BytesIO()
        Image.new(mode, (8, 8), (1, 2, 3, 4)[: len(mode)]).save(buffer, format="PNG")
        return _with_bad(
            folder,
            rng,
            f"preview_{mode}.png",
            buffer.getvalue(),
            f"{mode} colour image.*--colors",
            f"{mode.lower()}_without_colour_map",
        )

    return build


def palette_out_of_range(folder: Path, rng) -> Case:
    good = write_good(folder, rng)
    write_mask(folder / "palette.png", np.array([[0, 1, 5, 2]]), "P")
    return Case(
        "palette_out_of_range",
        str(folder),
        good,
        [str(folder / "palette.png")],
        "unknown label values 5 in 1 pixels",
    )


def uint16_out_of_range(folder: Path, rng) -> Case:
    good = write_good(folder, rng)
    write_mask(folder / "wide.png", np.array([[0, 40000, 40000, 2]]), "I;16")
    return Case(
        "uint16_out_of_range",
        str(folder),
        good,
        [str(folder / "wide.png")],
        "unknown label values 40000 in 2 pixels",
    )


def over_pixel_limit(folder: Path, rng) -> Case:
    """A crafted header claiming 50000 x 50000 pixels, with valid CRCs (no giant image written)."""
    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    content = (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    )
    content += png_chunk(b"IEND", b"")
    return _with_bad(folder, rng, "bomb.png", content, "over the limit of .* pixels", "over_pixel_limit")


def unreadable(folder: Path, rng) -> Case:
    """A file without read permission (mode 000).

    Root reads any file whatever its mode, so under root the denial is simulated
    instead: tests/hooks/sitecustomize.py makes ``open`` of that one file raise
    ``PermissionError`` (EACCES), which is what the kernel does for other users.
    """
    case = _with_bad(folder, rng, "locked.png", good_png_bytes(rng)[0], "permission denied", "unreadable")
    os.chmod(folder / "locked.png", 0)
    if os.geteuid() == 0:
        case.env[DENY_HOOK_ENV] = str(folder / "locked.png")
        sys.path.insert(0, HOOKS_DIR)
        from libc_hook import libc_hook  # the compiled reader opens files from C: steer libc

        hook = libc_hook()
        if hook is None:
            raise RuntimeError(
                "running as root, the permission case needs gcc to build tests/hooks/libc_hook.c"
            )
        case.env["LD_PRELOAD"] = hook
    return case


def symlink_loop(folder: Path, rng) -> Case:
    good = write_good(folder, rng)
    os.symlink("loop.png", folder / "loop.png")  # points at itself
    return Case(
        "symlink_loop", str(folder), good, [str(folder / "loop.png")], "too many levels of symbolic links"
    )


def deleted_during_scan(folder: Path, rng) -> Case:
    """A file removed after discovery, before reading (tests/hooks/sitecustomize.py does it)."""
    good = write_good(folder, rng)
    victim = folder / "vanishing.png"
    content = good_png_bytes(rng)[0]
    victim.write_bytes(content)
    return Case(
        "deleted_during_scan",
        str(folder),
        good,
        [str(victim)],
        r"file not found \(was it deleted during the scan\?\)",
        env={DELETE_HOOK_ENV: str(victim)},
        restore=lambda: victim.write_bytes(content),
    )


def _name_case(raw_name: bytes, *, bad: bool, case: str):
    def build(folder: Path, rng) -> Case:
        good = write_good(folder, rng)
        path = os.path.join(os.fsencode(folder), raw_name)
        if bad:
            with open(path, "wb") as handle:
                handle.write(b"GIF89a? no.")
            return Case(case, str(folder), good, [display_path(os.fsdecode(path))], "not an image file")
        array = random_mask(rng, 9, 7, NUM_CLASSES, ignore_index=IGNORE_INDEX)
        write_mask(os.fsdecode(path), array, "L")
        return Case(case, str(folder), [*good, array], valid=True)

    return build


def dir_named_png(folder: Path, rng) -> Case:
    """A directory ``x.png/``: a directory is searched, never read as a file, so this is valid."""
    good = write_good(folder, rng)
    inner = folder / "x.png"
    inner.mkdir()
    array = random_mask(rng, 5, 6, NUM_CLASSES, ignore_index=IGNORE_INDEX)
    write_mask(inner / "inner.png", array, "L")
    (folder / "empty.png").mkdir()  # an empty one holds nothing to count
    return Case("dir_named_png", str(folder), [*good, array], valid=True)


def dir_symlink_loop(folder: Path, rng) -> Case:
    """``sub/up -> ..``: followed once, so every mask is counted exactly once."""
    good = write_good(folder, rng)
    (folder / "sub").mkdir()
    array = random_mask(rng, 5, 6, NUM_CLASSES, ignore_index=IGNORE_INDEX)
    write_mask(folder / "sub" / "s.png", array, "L")
    os.symlink("..", folder / "sub" / "up")
    return Case("dir_symlink_loop", str(folder), [*good, array], valid=True)


# name -> builder(folder, rng) -> Case; the folder exists and is empty.
BUILDERS: dict[str, Callable[[Path, np.random.Generator], Case]] = {
    "empty_folder": empty_folder,
    "zero_byte": zero_byte,
    "truncated_in_signature": _corrupt(
        lambda d: 5,
        r"truncated file \(ends at byte 5, in the PNG signature\)",
        "truncated_in_signature",
        cut=True,
    ),
    "truncated_in_header": _corrupt(
        lambda d: 20, r"truncated file \(IHDR chunk at byte 8 needs", "truncated_in_header", cut=True
    ),
    "truncated_mid_idat": _corrupt(
        lambda d: _idat(d)[0] + 8 + _idat(d)[1] // 2,
        r"truncated file \(IDAT chunk at byte 33 needs",
        "truncated_mid_idat",
        cut=True,
    ),
    "truncated_before_iend": _corrupt(
        _iend,
        r"truncated file \(ends at byte \d+, before the IEND chunk\)",
        "truncated_before_iend",
        cut=True,
    ),
    "bad_crc_idat_data": _corrupt(
        lambda d: _idat(d)[0] + 8 + _idat(d)[1] // 2,
        "corrupt image data: bad CRC checksum in the IDAT chunk at byte 33",
        "bad_crc_idat_data",
        cut=False,
    ),
    "bad_crc_value": _corrupt(
        lambda d: _iend(d) - 1,
        "corrupt image data: bad CRC checksum in the IDAT chunk at byte 33",
        "bad_crc_value",
        cut=False,
    ),
    "text_as_png": text_as_png,
    "jpeg_as_png": jpeg_as_png,
    "rgb_without_colour_map": _colour("RGB"),
    "rgba_without_colour_map": _colour("RGBA"),
    "palette_out_of_range": palette_out_of_range,
    "uint16_out_of_range": uint16_out_of_range,
    "over_pixel_limit": over_pixel_limit,
    "unreadable": unreadable,
    "symlink_loop": symlink_loop,
    "deleted_during_scan": deleted_during_scan,
    "non_utf8_name_bad": _name_case(b"bad_\xff\xfe.png", bad=True, case="non_utf8_name_bad"),
    "non_utf8_name_good": _name_case(b"good_\xe9t\xe9.png", bad=False, case="non_utf8_name_good"),
    "unicode_name_bad": _name_case("ошибка_日本_é.png".encode(), bad=True, case="unicode_name_bad"),
    "unicode_name_good": _name_case("маска_日本_é.png".encode(), bad=False, case="unicode_name_good"),
    "dir_named_png": dir_named_png,
    "dir_symlink_loop": dir_symlink_loop,
}


def build_case(name: str, root: Path, rng: np.random.Generator) -> Case:
    folder = root / "labels"
    folder.mkdir(parents=True)
    case = BUILDERS[name](folder, rng)
    assert stat.S_ISDIR(os.stat(case.folder).st_mode)
    if not case.out_dir:
        case.out_dir = str(root / "out")
        os.mkdir(case.out_dir)
    return case
