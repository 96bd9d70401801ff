"""A generated corpus of valid and hostile PNG files, each with the verdict a reader must give.

Every file is written by the encoder of tests/pngforge.py (from scratch:
struct + zlib + numpy, PNG specification 3rd edition); Pillow is not used to
write anything, so a reader is never checked against the library that made its
input. The verdict record and checks are in tests/pngverdict.py, the reference
reader in tests/pngreference.py; this module re-exports both.

Every valid case carries its expected answer computed from the SOURCE array
(``np.unique`` of the stored sample band), never from a decoder. Every hostile
case carries its expected verdict, "refused", and the kind of cause its message
must give (a key of :data:`CAUSES`), following the refusal list of the
compiled reader's API (``/work/native_api.md``, "One verdict").

Entry points:

- :func:`corpus` -> list of :class:`Case` (deterministic: fixed seeds);
- :func:`check_outcome` compares what a decoder made of a case with the case;
  a decoder is any callable ``decode(data: bytes) -> outcome`` where outcome is
  ``("ok", values, counts)``, ``("colour", reason)``, ``("refused", message)``
  or ``("notpng", reason)``; :func:`outcome_of` turns a ``count_chunk`` result
  tuple into one;
- :func:`reference_count` is a plain, slow, pure-Python reader of the same
  rules that returns ``count_chunk``-shaped tuples: the fuzzer's second opinion.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

# The corpus's parts, re-exported: the tests and the fuzzer use ``pngcorpus.X`` for all of them.
from pngforge import *  # noqa: F403
from pngforge import (
    DEPTHS,
    KINDS,
    MAX_CHUNK_LENGTH,
    SIGNATURE,
    Png,
    chunk,
    compress,
    ihdr_data,
    implied_size,
    palette_chunk,
    row_starts,
    scanlines,
    source,
    split,
)
from pngreference import INFLATE_RATIO, INFLATE_SLACK, reference_count  # noqa: F401
from pngverdict import *  # noqa: F403
from pngverdict import Case, counted_case, refused

# --------------------------------------------------------------------------- valid cases

SHAPES = ((1, 1), (3, 5), (13, 9), (8, 8), (17, 33), (70, 2), (5, 1), (1, 11), (9, 16))
FILTERS: tuple[int | str, ...] = (0, 1, 2, 3, 4, "mix")


def valid_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    index = 0
    for kind, (ctype, depth) in KINDS.items():
        for ftype in FILTERS:
            for interlace in (0, 1):
                height, width = SHAPES[index % len(SHAPES)]
                style = ("noise", "blocky", "sparse")[index % 3]
                index += 1
                png = Png(source(kind, height, width, rng, style), depth, ctype, interlace, ftype)
                cases.append(counted_case(f"{kind}-f{ftype}-i{interlace}-{height}x{width}-{style}", png))
    # Bigger images for the word-skipping kernels (non-interlaced 8-bit and 16-bit), odd widths.
    for kind in ("grey8", "pal8", "grey16", "grey1", "ga8"):
        ctype, depth = KINDS[kind]
        for ftype in FILTERS:
            for style, (height, width) in (("blocky", (64, 257)), ("noise", (31, 67)), ("sparse", (40, 200))):
                png = Png(source(kind, height, width, rng, style), depth, ctype, 0, ftype)
                cases.append(counted_case(f"big-{kind}-f{ftype}-{style}-{height}x{width}", png))
        png = Png(source(kind, 50, 123, rng, "blocky"), depth, ctype, 1, "mix")
        cases.append(counted_case(f"big-{kind}-adam7-mix", png))
    # Every value of a depth present, rows identical (Up filter gives all-zero rows).
    for kind in ("grey8", "pal8", "grey4", "grey16"):
        ctype, depth = KINDS[kind]
        top = min(1 << depth, 4096)
        row = np.arange(top, dtype=np.uint16 if depth == 16 else np.uint8)
        samples = np.tile(row, (7, 1))[..., None]
        if depth == 16:
            samples = samples * 16 + 15  # high byte and low byte both vary
        for ftype in (2, 4):
            cases.append(counted_case(f"allvalues-{kind}-f{ftype}", Png(samples, depth, ctype, 0, ftype)))
    # Compression variety: stored blocks, fixed and dynamic Huffman, RLE and Huffman-only.
    strategies = {
        "default": zlib.Z_DEFAULT_STRATEGY,
        "rle": zlib.Z_RLE,
        "huffman": zlib.Z_HUFFMAN_ONLY,
        "fixed": zlib.Z_FIXED,
    }
    for level in (0, 1, 9):
        for sname, strategy in strategies.items():
            png = Png(source("grey8", 40, 90, rng, "blocky"), 8, 0, 0, "mix", level=level, strategy=strategy)
            cases.append(counted_case(f"zlib-level{level}-{sname}", png))
    # IDAT split into many chunks, down to one byte each, and zero-length IDATs mixed in.
    base = source("pal4", 21, 37, rng, "noise")
    for pieces in (1, 2, 3, 7, 50):
        cases.append(counted_case(f"idat-split-{pieces}", Png(base, 4, 3, 0, "mix", idat_split=pieces)))
    cases.append(counted_case("idat-1-byte-chunks", Png(base, 4, 3, 1, "mix", idat_split=[1])))
    cases.append(counted_case("idat-1-and-3-byte-chunks", Png(base, 4, 3, 0, 4, idat_split=[1, 3])))
    png = Png(base, 4, 3, 0, 1)
    stream = png.stream()
    with_empty = [chunk(b"IHDR", png.ihdr()), palette_chunk(), chunk(b"IDAT", b"")]
    for piece in split(stream, 4):
        with_empty += [chunk(b"IDAT", piece), chunk(b"IDAT", b"")]
    with_empty.append(chunk(b"IEND", b""))
    cases.append(counted_case("idat-zero-length-between", png, SIGNATURE + b"".join(with_empty)))
    # Ancillary chunks are never interpreted; data after IEND is ignored.
    text = chunk(b"tEXt", b"Comment\x00made by pngcorpus")
    ztxt = chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"hello"))
    actl = chunk(b"acTL", struct.pack(">II", 2, 0))
    g = source("grey8", 12, 10, rng, "noise")
    fctl = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 10, 12, 0, 0, 1, 10, 0, 0))
    fctl2 = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 1, 10, 12, 0, 0, 1, 10, 0, 0))
    frame2 = compress(scanlines(source("grey8", 12, 10, rng), 8, 0, 0, 0))
    fdat = chunk(b"fdAT", struct.pack(">I", 2) + frame2)
    unknown = chunk(b"prVt", bytes(range(256)) * 3)
    idat_lookalike = chunk(b"iDAT", b"\xff" * 40)  # ancillary (lower-case first letter): ignored
    gamma = chunk(b"gAMA", struct.pack(">I", 45455))
    ancillary = {
        "text": Png(g, 8, 0, before=[text, ztxt], after=[text]),
        "apng": Png(g, 8, 0, before=[actl, fctl], after=[fctl2, fdat]),
        "unknown-ancillary": Png(g, 8, 0, before=[unknown, idat_lookalike], after=[unknown]),
        # Pillow refuses these two ("APNG contains truncated acTL/fDAT chunk"); the rule is that
        # ancillary chunks are not interpreted, so they are counted.
        "apng-empty-actl": Png(g, 8, 0, before=[chunk(b"acTL", b"")]),
        "apng-stray-empty-fdat": Png(g, 8, 0, after=[chunk(b"fdAT", b"")]),
        "gama-unknown-after-idat": Png(g, 8, 0, 1, "mix", before=[gamma], after=[idat_lookalike]),
        "palette-text": Png(source("pal8", 9, 9, rng), 8, 3, before=[text]),
        "rgb-with-suggested-plte": Png(source("rgb8", 6, 7, rng), 8, 2, palette=True),
        "rgba-with-suggested-plte": Png(source("rgba8", 5, 3, rng), 8, 6, palette=True),
    }
    for aname, png in ancillary.items():
        cases.append(counted_case(f"ancillary-{aname}", png))
    another = Png(source("grey8", 3, 3, rng), 8, 0).build()
    trailers = {
        "garbage": b"\x00\xffgarbage\x1b[2J",
        "another-png": another,
        "bad-crc-chunk": chunk(b"IDAT", b"xx", crc=1),
        "unknown-critical": chunk(b"ABCD", b""),
        "one-byte": b"\x00",
    }
    for tname, trailer in trailers.items():
        png = Png(g, 8, 0, trailer=trailer)
        cases.append(counted_case(f"after-iend-{tname}", png))
    # A palette smaller than the indices used: the index is counted, the palette never read.
    small = Png(source("pal8", 8, 8, rng), 8, 3, palette=False, before=[palette_chunk(2)])
    cases.append(counted_case("palette-2-entries-index-255", small))
    one = Png(source("pal2", 6, 5, rng), 2, 3, palette=False, before=[palette_chunk(1)])
    cases.append(counted_case("palette-1-entry-indices-0-to-3", one))
    # All zeros, deflate's best ratio: still within the memory rule.
    zeros = Png(np.zeros((2000, 2000, 1), np.uint8), 8, 0, level=9)
    cases.append(counted_case("all-zero-2000x2000", zeros))
    # The pixel limit: exactly at it is fine.
    png = Png(source("grey8", 10, 10, rng), 8, 0)
    cases.append(counted_case("max-pixels-equal", png, max_pixels=100))
    return cases


# --------------------------------------------------------------------------- hostile cases


def _replace(parts: list[bytes], index: int, new: bytes | list[bytes]) -> list[bytes]:
    return parts[:index] + ([new] if isinstance(new, bytes) else new) + parts[index + 1 :]


def _bad_crc(part: bytes) -> bytes:
    return part[:-4] + struct.pack(">I", struct.unpack(">I", part[-4:])[0] ^ 0x00010000)


def hostile_cases(rng: np.random.Generator) -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    g = source("grey8", 16, 16, rng, "noise")
    png = Png(g, 8, 0, idat_split=3)
    good = png.build()
    parts = png.chunks()  # IHDR, IDAT x3, IEND

    # Truncation: in the signature, and at every offset of a small file.
    add(refused("empty-file", b"", "empty"))
    for size in range(1, 8):
        add(refused(f"truncated-signature-{size}", SIGNATURE[:size], "truncated"))
    tiny = Png(source("pal2", 3, 4, rng), 2, 3, before=[chunk(b"tEXt", b"a\x00b")], idat_split=2).build()
    for size in range(8, len(tiny)):
        add(refused(f"truncated-small-at-{size}", tiny[:size], "truncated"))
    offsets = [33, 34, 37, 41, 45, 60, len(good) - 12, len(good) - 11, len(good) - 1]
    for size in offsets:
        add(refused(f"truncated-at-{size}", good[:size], "truncated"))
    for size in (3, 13, 29, 71, 131, 200, 250):
        add(refused(f"truncated-inside-idat-{size}", good[: 8 + 25 + size], "truncated"))

    # A bad CRC in every kind of chunk, ancillary ones included.
    text = chunk(b"tEXt", b"k\x00v")
    actl = chunk(b"acTL", struct.pack(">II", 1, 0))
    unknown = chunk(b"prVt", b"private")
    full = Png(source("pal8", 9, 11, rng), 8, 3, before=[text, actl, unknown], after=[text], idat_split=3)
    fparts = full.chunks()
    names = [p[4:8].decode() for p in fparts]
    seen: dict[str, int] = {}
    for i, part in enumerate(fparts):
        label = f"{names[i]}{seen.get(names[i], 0)}"
        seen[names[i]] = seen.get(names[i], 0) + 1
        add(refused(f"bad-crc-{label}", full.build(_replace(fparts, i, _bad_crc(part))), "crc"))
    add(
        refused(
            "bad-crc-zero-length-idat", png.build([*parts[:2], chunk(b"IDAT", b"", crc=0), *parts[2:]]), "crc"
        )
    )
    add(
        refused(
            "bad-crc-crc-of-data-only",
            png.build(_replace(parts, 1, chunk(b"IDAT", _data(parts[1]), zlib.crc32(_data(parts[1]))))),
            "crc",
        )
    )

    # Bad IHDR fields, each rule (CRC fixed up).
    def with_ihdr(name: str, ihdr: bytes, base: Png = png, cause: str = "ihdr") -> None:
        add(refused(name, base.build(base.chunks(ihdr=ihdr)), cause))

    for w, h in ((0, 16), (16, 0), (0, 0), (1 << 31, 16), (16, 1 << 31), (0xFFFFFFFF, 1), (1, 0xFFFFFFFF)):
        with_ihdr(f"ihdr-size-{w}x{h}", ihdr_data(w, h, 8, 0))
    for ctype in (0, 2, 3, 4, 6):
        for depth in (0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 32, 255):
            if depth not in DEPTHS[ctype]:
                with_ihdr(f"ihdr-depth-{depth}-ctype-{ctype}", ihdr_data(16, 16, depth, ctype))
    for ctype in (1, 5, 7, 8, 255):
        with_ihdr(f"ihdr-ctype-{ctype}", ihdr_data(16, 16, 8, ctype))
    for comp in (1, 8, 255):
        with_ihdr(f"ihdr-compression-{comp}", ihdr_data(16, 16, 8, 0, comp=comp))
    for filt in (1, 255):
        with_ihdr(f"ihdr-filter-method-{filt}", ihdr_data(16, 16, 8, 0, filt=filt))
    for interlace in (2, 255):
        with_ihdr(f"ihdr-interlace-{interlace}", ihdr_data(16, 16, 8, 0, interlace))
    with_ihdr("ihdr-12-bytes", png.ihdr()[:12])
    with_ihdr("ihdr-14-bytes", png.ihdr() + b"\x00")
    with_ihdr("ihdr-0-bytes", b"")
    add(refused("first-chunk-text", png.build([text, *parts]), "ihdr"))
    add(refused("first-chunk-idat", png.build(parts[1:]), "ihdr"))
    add(refused("first-chunk-iend", png.build([chunk(b"IEND", b"")]), "ihdr"))
    add(refused("only-signature-and-iend-after-ihdr", png.build([parts[0], parts[-1]]), "no_idat"))
    add(refused("second-ihdr-before-idat", png.build([parts[0], parts[0], *parts[1:]]), "ihdr"))
    add(refused("second-ihdr-after-idat", png.build([*parts[:-1], parts[0], parts[-1]]), "ihdr"))
    other = chunk(b"IHDR", ihdr_data(8, 8, 8, 0))
    add(refused("second-ihdr-different", png.build([parts[0], other, *parts[1:]]), "ihdr"))

    # Unknown critical chunks and chunk types that are not letters.
    for kind in (b"ABCD", b"IDAt", b"PLTe", b"Iend", b"IHDr"):
        add(
            refused(
                f"unknown-critical-{kind.decode()}",
                png.build([parts[0], chunk(kind, b"x"), *parts[1:]]),
                "critical",
            )
        )
    add(
        refused(
            "unknown-critical-after-idat",
            png.build([*parts[:-1], chunk(b"ZZZZ", b""), parts[-1]]),
            "critical",
        )
    )
    for label, kind in (
        ("esc-clear", b"\x1b[2J"),
        ("nul", b"\x00\x00\x00\x00"),
        ("digit", b"tEX1"),
        ("high", b"t\xffXt"),
        ("space", b"tE t"),
        ("del", b"\x7fDAT"),
    ):
        add(
            refused(
                f"chunk-type-{label}", png.build([parts[0], chunk(kind, b"abc"), *parts[1:]]), "chunk_type"
            )
        )
    add(
        refused(
            "chunk-type-esc-after-idat",
            png.build([*parts[:-1], chunk(b"\x1b[2J", b""), parts[-1]]),
            "chunk_type",
        )
    )
    add(
        refused(
            "chunk-length-over-2^31",
            png.build([parts[0], struct.pack(">I", 1 << 31) + b"tEXt" + b"\x00" * 8, *parts[1:]]),
            "chunk_length",
        )
    )

    # Palettes.
    pal = Png(source("pal4", 7, 9, rng), 4, 3, palette=False)
    add(refused("palette-without-plte", pal.build(), "palette"))
    pal_after = pal.chunks()
    add(
        refused(
            "palette-plte-after-idat", pal.build([*pal_after[:-1], palette_chunk(), pal_after[-1]]), "palette"
        )
    )
    for kind, (ctype, depth) in (("grey8", (0, 8)), ("ga8", (4, 8)), ("grey2", (0, 2))):
        grey = Png(source(kind, 5, 6, rng), depth, ctype, palette=True)
        add(refused(f"plte-in-{kind}", grey.build(), "palette"))
    # PNG specification 11.2.3, for palette and colour images alike: one PLTE, before the first
    # IDAT, of 1 to 256 entries of 3 bytes.
    rgb = Png(source("rgb8", 4, 5, rng), 8, 2, palette=False)
    for label, base in (("pal4", pal), ("rgb8", rgb)):
        ihdr, idat, iend = base.chunks()
        plte = palette_chunk(16)
        add(refused(f"plte-second-{label}", base.build([ihdr, plte, plte, idat, iend]), "palette"))
        add(refused(f"plte-second-after-idat-{label}", base.build([ihdr, plte, idat, plte, iend]), "palette"))
        for size in (0, 1, 4, 767, 771, 1536):
            bad = chunk(b"PLTE", (bytes(range(256)) * 6)[:size])
            add(refused(f"plte-{size}-bytes-{label}", base.build([ihdr, bad, idat, iend]), "palette"))
    ihdr, idat, iend = rgb.chunks()
    add(refused("plte-after-idat-rgb8", rgb.build([ihdr, idat, palette_chunk(), iend]), "palette"))

    # IDAT: missing, not consecutive.
    add(refused("no-idat", png.build([parts[0], text, parts[-1]]), "no_idat"))
    add(refused("no-idat-palette", full.build([fparts[0], fparts[1], fparts[-1]]), "no_idat"))
    add(
        refused(
            "idat-not-consecutive-text",
            png.build([parts[0], parts[1], text, parts[2], parts[3], parts[4]]),
            "idat_order",
        )
    )
    add(
        refused(
            "idat-not-consecutive-unknown",
            png.build([parts[0], parts[1], parts[2], unknown, parts[3], parts[4]]),
            "idat_order",
        )
    )
    add(
        refused(
            "idat-not-consecutive-empty-after",
            png.build([*parts[:4], text, chunk(b"IDAT", b""), parts[4]]),
            "idat_order",
        )
    )
    add(
        refused(
            "idat-all-zero-length",
            png.build([parts[0], chunk(b"IDAT", b""), chunk(b"IDAT", b""), parts[-1]]),
            "short_stream",
        )
    )

    # The zlib stream: short, long, trailing bytes, Adler-32, deflate data, header.
    raw = png.raw()

    def with_stream(name: str, stream: bytes, cause: str, base: Png = png) -> None:
        add(refused(name, base.build(base.chunks(stream=stream)), cause))

    with_stream("stream-short-1-byte", compress(raw[:-1]), "size")
    with_stream("stream-short-1-row", compress(raw[: -(1 + 16)]), "size")
    with_stream("stream-empty-complete", compress(b""), "size")
    with_stream("stream-long-1-byte", compress(raw + b"\x00"), "size")
    with_stream("stream-long-1-row", compress(raw + raw[:17]), "size")
    with_stream("stream-long-double", compress(raw + raw), "size")
    stream = png.stream()
    for extra in (b"\x00", b"\x03\x00", stream):
        with_stream(f"stream-trailing-{len(extra)}-bytes", stream + extra, "trailing")
    add(
        refused(
            "stream-trailing-in-own-idat",
            png.build([parts[0], *png.chunks(stream)[1:-1], chunk(b"IDAT", b"\x00\x00"), parts[-1]]),
            "trailing",
        )
    )
    adler = struct.unpack(">I", stream[-4:])[0]
    with_stream("stream-bad-adler", stream[:-4] + struct.pack(">I", adler ^ 1), "zlib")
    with_stream("stream-adler-zero", stream[:-4] + b"\x00\x00\x00\x00", "zlib")
    with_stream("stream-no-adler", stream[:-4], "short_stream")
    for cut in (1, 2, 5, len(stream) // 2, len(stream) - 5):
        with_stream(f"stream-cut-{cut}", stream[:cut], "short_stream")
    with_stream("stream-bad-header-check", bytes([stream[0], stream[1] ^ 1]) + stream[2:], "zlib")
    with_stream("stream-method-7", bytes([0x77, _fcheck(0x77, 0)]) + stream[2:], "zlib")
    with_stream("stream-window-too-big", bytes([0x88, _fcheck(0x88, 0)]) + stream[2:], "zlib")
    with_stream(
        "stream-preset-dictionary",
        bytes([0x78, _fcheck(0x78, 0x20)]) + b"\x00\x00\x00\x01" + stream[2:],
        "zlib",
    )
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15).compress(raw)
    with_stream("stream-raw-deflate", raw_deflate + zlib.compressobj(6, zlib.DEFLATED, -15).flush(), "zlib")
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    with_stream("stream-gzip", gz.compress(raw) + gz.flush(), "zlib")
    with_stream("stream-reserved-block-type", stream[:2] + bytes([0x07]) + stream[3:], "zlib")
    stored = compress(raw, 0)
    # A stored block whose LEN/NLEN do not match.
    with_stream("stream-stored-len-nlen", stored[:5] + bytes([stored[5] ^ 0xFF]) + stored[6:], "zlib")
    # Deflate data flipped in the middle (the stream may still end; then the Adler-32 fails).
    for pos in (3, 10, len(stream) // 2):
        with_stream(
            f"stream-flip-{pos}", stream[:pos] + bytes([stream[pos] ^ 0x55]) + stream[pos + 1 :], "stream"
        )
    # Reordered IDAT chunks: every CRC right, the stream garbled.
    add(refused("idat-swapped", png.build([parts[0], parts[2], parts[1], parts[3], parts[4]]), "stream"))
    add(
        refused(
            "idat-duplicated",
            png.build([parts[0], parts[1], parts[1], parts[2], parts[3], parts[4]]),
            "stream",
        )
    )
    add(refused("idat-one-dropped", png.build([parts[0], parts[1], parts[3], parts[4]]), "stream"))

    # Bad filter bytes, in a plain image and in an interlaced pass.
    for kind, interlace in (
        ("grey8", 0),
        ("grey16", 0),
        ("pal2", 0),
        ("ga8", 0),
        ("grey8", 1),
        ("pal4", 1),
        ("rgb8", 0),
        ("rgba8", 1),
    ):
        ctype, depth = KINDS[kind]
        base = Png(source(kind, 11, 13, rng), depth, ctype, interlace, "mix")
        starts = row_starts(13, 11, depth, ctype, interlace)
        for bad in (5, 7, 255):
            braw = bytearray(base.raw())
            braw[starts[3]] = bad
            with_stream(f"filter-{bad}-{kind}-i{interlace}", compress(bytes(braw)), "filter", base)
        braw = bytearray(base.raw())
        braw[starts[-1]] = 5
        with_stream(f"filter-5-{kind}-i{interlace}-last-row", compress(bytes(braw)), "filter", base)
        braw = bytearray(base.raw())
        braw[starts[0]] = 5
        with_stream(f"filter-5-{kind}-i{interlace}-first-row", compress(bytes(braw)), "filter", base)

    # Memory follows the file: IHDR promising far more than the data can hold.
    bomb_ihdr = ihdr_data(1, 89_478_485, 8, 0)
    tiny_stream = compress(b"\x00\x00" * 4)[:12].ljust(12, b"\x00")
    file69 = SIGNATURE + chunk(b"IHDR", bomb_ihdr) + chunk(b"IDAT", tiny_stream) + chunk(b"IEND", b"")
    assert len(file69) == 69, len(file69)
    add(refused("bomb-69-bytes-1x89478485", file69, "memory"))
    add(refused("bomb-69-bytes-1x89478485-limit", file69, "limit", max_pixels=89_478_484))
    for label, (w, h, depth, ctype, interlace) in {
        "max-rgba16": (MAX_CHUNK_LENGTH, MAX_CHUNK_LENGTH, 16, 6, 0),
        "max-rgba16-adam7": (MAX_CHUNK_LENGTH, MAX_CHUNK_LENGTH, 16, 6, 1),
        "max-grey1": (MAX_CHUNK_LENGTH, MAX_CHUNK_LENGTH, 1, 0, 0),
        "wide-grey16": (MAX_CHUNK_LENGTH, 1, 16, 0, 0),
        "tall-pal1-adam7": (1, MAX_CHUNK_LENGTH, 1, 3, 1),
        "60000-square": (60000, 60000, 8, 0, 0),
    }.items():
        data = SIGNATURE + chunk(b"IHDR", ihdr_data(w, h, depth, ctype, interlace))
        if ctype == 3:
            data += palette_chunk(2)
        data += chunk(b"IDAT", compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
        add(refused(f"bomb-header-{label}", data, "memory"))
    # An all-zero 2000x2000 image: deflate's best ratio (about 1030:1) is within the memory
    # rule, so it must be counted; with half its stream, the rule decides (computed, not guessed).
    zeros2k = Png(np.zeros((2000, 2000, 1), np.uint8), 8, 0, level=9)
    zraw = zeros2k.raw()
    zstream = compress(zraw, 9)
    assert len(zraw) <= INFLATE_RATIO * len(zstream) + INFLATE_SLACK
    half = compress(zraw[: len(zraw) // 2], 9)
    cause = "memory" if len(zraw) > INFLATE_RATIO * len(half) + INFLATE_SLACK else "size"
    add(refused("bomb-zeros-2000x2000-half-stream", zeros2k.build(zeros2k.chunks(stream=half)), cause))
    # The memory rule's boundary: implied == 1032 * payload + 64 KiB passes it (the stream, cut short,
    # is refused later); one byte more is refused by the rule. The payload is summed over every IDAT.
    for interlace in (0, 1):
        for payload in range(20, 40):
            target = INFLATE_RATIO * payload + INFLATE_SLACK
            widths = {implied_size(w, 1, 8, 0, interlace): w for w in range(target - 40, target + 40)}
            if target in widths and target + 1 in widths:
                break
        for label, implied in (("at", target), ("over", target + 1)):
            cut = compress(bytes(implied), 9)[:payload]
            data = SIGNATURE + chunk(b"IHDR", ihdr_data(widths[implied], 1, 8, 0, interlace))
            data += chunk(b"IDAT", cut[:7]) + chunk(b"IDAT", b"") + chunk(b"IDAT", cut[7:])
            data += chunk(b"IEND", b"")
            cause = "memory" if label == "over" else "stream_not_memory"
            add(refused(f"memory-rule-{label}-boundary-i{interlace}", data, cause))
    # A small stream inflating to far more than IHDR implies (16x16 image, 64 MiB of zeros).
    zeros = zlib.compressobj(9)
    bomb = b"".join(zeros.compress(b"\x00" * (1 << 20)) for _ in range(64)) + zeros.flush()
    add(refused("bomb-stream-64mib-for-16x16", png.build(png.chunks(stream=bomb)), "size"))
    add(refused("limit-over-by-one", Png(g, 8, 0).build(), "limit", max_pixels=255))
    add(refused("limit-colour", Png(source("rgb8", 4, 4, rng), 8, 2).build(), "limit", max_pixels=15))

    # Colour images are refused like the others when broken.
    colour = Png(source("rgb16", 6, 6, rng), 16, 2, 1, "mix")
    add(
        refused(
            "colour-bad-crc-idat",
            colour.build(_replace(colour.chunks(), 1, _bad_crc(colour.chunks()[1]))),
            "crc",
        )
    )
    add(
        refused(
            "colour-short-stream", colour.build(colour.chunks(stream=compress(colour.raw()[:-2]))), "size"
        )
    )
    return cases


def _data(part: bytes) -> bytes:
    return part[8:-4]


def _fcheck(cmf: int, flags: int) -> int:
    """The zlib FLG byte with ``flags`` (FLEVEL/FDICT bits) and a valid FCHECK for ``cmf``."""
    flg = flags
    return flg + (31 - (cmf * 256 + flg) % 31) % 31


def not_png_cases() -> list[Case]:
    return [
        Case("notpng-tiff-header", b"II*\x00" + b"\x00" * 60, "notpng"),
        Case("notpng-text", b"hello world, not an image\n", "notpng"),
        Case("notpng-signature-wrong-byte", SIGNATURE[:7] + b"X" + b"\x00" * 40, "notpng"),
        Case("notpng-jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "notpng"),
    ]


def corpus(seed: int = 12) -> list[Case]:
    """Every case, valid then hostile then not-PNG (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    cases = valid_cases(rng) + hostile_cases(rng) + not_png_cases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
