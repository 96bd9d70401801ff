/* The Sub path of the reader: 8-bit images whose every row is Sub-filtered (ADE20K's masks).
 * seg_count (count.c) chooses it; it needs no row buffer. */
#include "native.h"
#include "words.h"

#include <string.h>

/* An 8-bit image whose every row is Sub-filtered (as every row of ADE20K's masks is) is
 * counted row by row, without the row above: in a Sub row a sample differs from the one on
 * its left exactly where the filtered byte is not zero, so the row is runs of one value,
 * each ending at a non-zero byte.
 *
 * The non-zero bytes are rare (about 2% on ADE20K-like masks) and fall anywhere, so a loop
 * that branches on each word mispredicts at almost every one of them. Instead, a segment
 * of the row is turned into the sorted list of its non-zero offsets without a
 * data-dependent branch (a 64-bit mask per 64 bytes, its bits written out four at a time
 * whatever their number), and the runs are then added from that list. */

/* Bytes of a row whose non-zero offsets are listed at once (the list lives on the stack). */
#define SUB_SEGMENT 2048
/* Offsets written per 64-byte block before looking at how many there are. */
#define SUB_UNCONDITIONAL 4

/* the number of set bits (without a popcnt instruction, which x86-64 does not guarantee) */
SEG_INLINE unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return (unsigned)((x * REPEAT8) >> 56);
}

#if !defined(SEG_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#include <emmintrin.h> /* SSE2: every x86-64 CPU (-DSEG_NO_SIMD builds the portable word version, for tests) */
/* bit j set where byte p[j] (j < 64) is not zero */
SEG_INLINE uint64_t nonzero_mask64(const uint8_t *p)
{
    const __m128i zero = _mm_setzero_si128();
    uint64_t m = 0;
    int k;
    for (k = 0; k < 4; k++) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) << (16 * k);
    }
    return ~m;
}
#else
/* bit j set where byte p[j] (j < 64) is not zero: per word, the top bit of each non-zero
 * byte, gathered into one byte by a multiply (the eight bits land on distinct positions
 * of the top byte, with no carries) */
SEG_INLINE uint64_t nonzero_mask64(const uint8_t *p)
{
    uint64_t m = 0;
    int k;
    for (k = 0; k < 8; k++) {
        const uint64_t w = load64(p + 8 * k);
        const uint64_t high = (((w & LOW7) + LOW7) | w) & HIGH1;
        m |= (((high >> 7) * UINT64_C(0x0102040810204080)) >> 56) << (8 * k);
    }
    return m;
}
#endif

/* Write the offsets (``base`` + bit index) of the set bits of ``bits``, ascending, at ``out``;
 * returns how many. Writes SUB_UNCONDITIONAL entries even when there are fewer (the extra
 * ones are never read: the caller counts past them). */
SEG_INLINE size_t bit_offsets(uint64_t bits, uint32_t base, uint32_t *out)
{
    const size_t n = popcount64(bits);
    size_t k;
    /* ctz of 0 is undefined: the top bit stands in (a real bit below it is still found first) */
    const uint64_t top = (uint64_t)1 << 63;
    for (k = 0; k < SUB_UNCONDITIONAL; k++) {
        out[k] = base + (uint32_t)ctz64(bits | top);
        bits &= bits - 1;
    }
    for (; k < n; k++) {
        out[k] = base + (uint32_t)ctz64(bits);
        bits &= bits - 1;
    }
    return n;
}

/* The offsets of the non-zero bytes of ``p[0..len)`` (len <= SUB_SEGMENT), ascending, in ``out``
 * (room for SUB_SEGMENT + SUB_UNCONDITIONAL entries); returns how many. */
static size_t nonzero_offsets(const uint8_t *p, size_t len, uint32_t *out)
{
    size_t n = 0, b;
    for (b = 0; b + 64 <= len; b += 64)
        n += bit_offsets(nonzero_mask64(p + b), (uint32_t)b, out + n);
    if (b < len) { /* the last, partial block: a zero-padded copy (reads stay inside the row) */
        uint8_t block[64] = {0};
        memcpy(block, p + b, len - b);
        n += bit_offsets(nonzero_mask64(block), (uint32_t)b, out + n);
    }
    return n;
}

void seg_sub_rows8(int64_t *hist, const uint8_t *raw, uint64_t height, size_t row_bytes)
{
    uint32_t offsets[SUB_SEGMENT + SUB_UNCONDITIONAL];
    uint64_t y;
    for (y = 0; y < height; y++) {
        const uint8_t *src = raw + y * (row_bytes + 1) + 1; /* past the filter byte */
        unsigned value = 0;                                  /* the sample left of the first is 0 */
        size_t start = 0, segment, j;
        for (segment = 0; segment < row_bytes; segment += SUB_SEGMENT) {
            const size_t len = row_bytes - segment < SUB_SEGMENT ? row_bytes - segment : SUB_SEGMENT;
            const size_t n = nonzero_offsets(src + segment, len, offsets);
            for (j = 0; j < n; j++) {
                const size_t i = segment + offsets[j];
                hist[value] += (int64_t)(i - start);
                value = (value + src[i]) & 255;
                start = i;
            }
        }
        hist[value] += (int64_t)(row_bytes - start);
    }
}

