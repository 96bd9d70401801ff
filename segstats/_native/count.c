/* Unfilter + count: the rows of a PNG (PNG specification, section 9) into a histogram.
 *
 * Three paths give the same counts:
 *
 * - the difference kernel, for non-interlaced 8-bit grey/palette and 16-bit grey
 *   (the kinds label masks are saved as): a C port of ``_unfilter_count`` in
 *   segstats/fastpng.py, whose docstring proves the word shortcuts. One row
 *   buffer holds the previous row and is updated in place; every sample starts
 *   as 0 for all rows, and a sample that changes from u to v in row y adds
 *   (height - y) to bin v and takes it from bin u. Masks are piecewise
 *   constant, so most 8-byte words of a row equal the word above and cost one
 *   compare. Sub words are undone eight bytes at a time (a lane-wise prefix sum);
 *
 * - the Sub path (subrows.c), for 8-bit images whose every row is Sub-filtered (ADE20K's
 *   masks): each row counted as runs that end at its non-zero bytes, without the row above
 *   (on ADE20K-like masks about half the time of the difference kernel);
 *
 * - the plain path (plain.c), for everything else (1/2/4-bit, grey+alpha,
 *   interlaced) and for tests of the kernel: unfilter each row into its own
 *   buffer byte by byte, then count every sample.
 *
 * Words are loaded with memcpy (any alignment) and read as little-endian; on a
 * big-endian host every kind takes the plain path.
 */
#include "native.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"

static const int ADAM7[7][4] = {/* x start, y start, x step, y step */
                                {0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

/* The first word index >= k (below ``full``) whose word at ``src`` is not zero; four words
 * per test while they are all zero (the common case: rows that repeat the row above). */
SEG_INLINE size_t skip_zero(const uint8_t *src, size_t k, size_t full)
{
    while (k + 8 <= full && (load64(src + 8 * k) | load64(src + 8 * k + 8) | load64(src + 8 * k + 16) |
                             load64(src + 8 * k + 24) | load64(src + 8 * k + 32) | load64(src + 8 * k + 40) |
                             load64(src + 8 * k + 48) | load64(src + 8 * k + 56)) == 0)
        k += 8;
    while (k + 4 <= full &&
           (load64(src + 8 * k) | load64(src + 8 * k + 8) | load64(src + 8 * k + 16) | load64(src + 8 * k + 24)) == 0)
        k += 4;
    while (k < full && load64(src + 8 * k) == 0)
        k++;
    return k;
}

/* The first word index >= k (below ``full``) where the words at ``a`` and ``b`` differ. */
SEG_INLINE size_t skip_equal(const uint8_t *a, const uint8_t *b, size_t k, size_t full)
{
    while (k + 4 <= full &&
           ((load64(a + 8 * k) ^ load64(b + 8 * k)) | (load64(a + 8 * k + 8) ^ load64(b + 8 * k + 8)) |
            (load64(a + 8 * k + 16) ^ load64(b + 8 * k + 16)) | (load64(a + 8 * k + 24) ^ load64(b + 8 * k + 24))) == 0)
        k += 4;
    while (k < full && load64(a + 8 * k) == load64(b + 8 * k))
        k++;
    return k;
}

/* The first word index >= k (below ``full``) where ``src`` is not zero or ``row`` is not ``fill``. */
SEG_INLINE size_t skip_fill(const uint8_t *src, const uint8_t *row, uint64_t fill, size_t k, size_t full)
{
    while (k + 4 <= full &&
           ((load64(src + 8 * k) | load64(src + 8 * k + 8) | load64(src + 8 * k + 16) | load64(src + 8 * k + 24)) |
            ((load64(row + 8 * k) ^ fill) | (load64(row + 8 * k + 8) ^ fill) | (load64(row + 8 * k + 16) ^ fill) |
             (load64(row + 8 * k + 24) ^ fill))) == 0)
        k += 4;
    return k;
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* ------------------------------------------------------------------ sizes */
uint64_t seg_row_bytes(const seg_image *img, uint64_t width)
{
    return (width * (uint64_t)(img->bit_depth * img->channels) + 7) / 8;
}

void seg_pass_size(const seg_image *img, int p, uint64_t *pw, uint64_t *ph)
{
    if (p < 0) {
        *pw = img->width;
        *ph = img->height;
        return;
    }
    *pw = img->width > (uint32_t)ADAM7[p][0]
              ? ((uint64_t)img->width - ADAM7[p][0] + ADAM7[p][2] - 1) / ADAM7[p][2]
              : 0;
    *ph = img->height > (uint32_t)ADAM7[p][1]
              ? ((uint64_t)img->height - ADAM7[p][1] + ADAM7[p][3] - 1) / ADAM7[p][3]
              : 0;
}

uint64_t seg_implied_size(const seg_image *img, uint64_t limit)
{
    uint64_t total = 0;
    int p, first = img->interlace ? 0 : -1, last = img->interlace ? 6 : -1;
    for (p = first; p <= last; p++) {
        uint64_t pw, ph, stride;
        seg_pass_size(img, p, &pw, &ph);
        if (pw == 0 || ph == 0)
            continue; /* an empty pass has no rows, not even filter bytes */
        stride = 1 + seg_row_bytes(img, pw);
        /* total + ph * stride > limit, without overflow */
        if (total > limit || stride > (limit - total) / ph)
            return UINT64_MAX;
        total += ph * stride;
    }
    return total;
}

int seg_check_filters(const seg_image *img, const uint8_t *raw, char *message)
{
    int p, first = img->interlace ? 0 : -1, last = img->interlace ? 6 : -1;
    const uint8_t *src = raw;
    for (p = first; p <= last; p++) {
        uint64_t pw, ph, stride, y;
        seg_pass_size(img, p, &pw, &ph);
        if (pw == 0 || ph == 0)
            continue;
        stride = 1 + seg_row_bytes(img, pw);
        for (y = 0; y < ph; y++, src += stride) {
            if (*src > 4) {
                if (p < 0)
                    snprintf(message, SEG_MESSAGE_SIZE, "corrupt image data: bad filter type %d in row %llu",
                             (int)*src, (unsigned long long)y);
                else
                    snprintf(message, SEG_MESSAGE_SIZE,
                             "corrupt image data: bad filter type %d in row %llu of interlace pass %d",
                             (int)*src, (unsigned long long)y, p + 1);
                return -1;
            }
        }
    }
    return 0;
}

int seg_fast_kind(const seg_image *img)
{
    return !img->interlace && img->channels == 1 && (img->bit_depth == 8 || img->bit_depth == 16) &&
           host_little_endian();
}

/* ------------------------------------------------------------ histograms */
/* the samples that differ between words ``old`` and ``now`` move ``weight`` between bins */
SEG_INLINE void move8(int64_t *hist, uint64_t old, uint64_t now, int64_t weight)
{
    uint64_t diff = old ^ now;
    while (diff) {
        int shift = ctz64(diff) & ~7;
        hist[(now >> shift) & 255] += weight;
        hist[(old >> shift) & 255] -= weight;
        diff &= ~((uint64_t)255 << shift);
    }
}

/* 16-bit samples are big-endian: the lane's low byte (first in memory) is the high byte */
SEG_INLINE unsigned swap16(uint64_t lane) { return (unsigned)(((lane & 255) << 8) | ((lane >> 8) & 255)); }

SEG_INLINE void move16(int64_t *hist, uint64_t *touched, uint64_t old, uint64_t now, int64_t weight)
{
    uint64_t diff = old ^ now;
    while (diff) {
        int shift = ctz64(diff) & ~15;
        unsigned to = swap16(now >> shift), from = swap16(old >> shift);
        hist[to] += weight;
        hist[from] -= weight;
        seg_touch(touched, to);
        seg_touch(touched, from);
        diff &= ~((uint64_t)0xFFFF << shift);
    }
}

SEG_INLINE void move(int64_t *hist, uint64_t *touched, uint64_t old, uint64_t now, int64_t weight, const int bpp)
{
    if (bpp == 1)
        move8(hist, old, now, weight);
    else
        move16(hist, touched, old, now, weight);
}

/* -------------------------------------------------------- the difference kernel */
/* One kernel for bpp 1 (8-bit) and 2 (16-bit big-endian samples); ``bpp`` is a constant at
 * each call site, so each compiles to its own loop. ``row`` is the previous row (8 zero bytes
 * before it, zero padding up to a whole word after it), updated in place to this row. */
SEG_INLINE void kernel(int64_t *hist, uint64_t *touched, uint8_t *row, const uint8_t *raw, uint64_t height,
                       size_t row_bytes, const int bpp)
{
    const size_t full = row_bytes / 8, tail = row_bytes % 8, words = full + (tail != 0);
    const uint64_t tail_mask = tail ? (((uint64_t)1 << (8 * tail)) - 1) : ~(uint64_t)0;
    const int top_shift = 64 - 8 * bpp; /* the last bpp bytes of a word, in its top bits */
    const uint64_t repeat = bpp == 1 ? REPEAT8 : REPEAT16;
    uint64_t y;
    hist[0] += (int64_t)(height * (row_bytes / bpp));
    if (bpp == 2)
        seg_touch(touched, 0);
    for (y = 0; y < height; y++) {
        const uint8_t *src = raw + y * (row_bytes + 1);
        const int kind = *src++;
        const int64_t weight = (int64_t)(height - y);
        size_t k = 0;
        switch (kind) {
        case 0: /* None: the word itself */
            for (; (k = skip_equal(src, row, k, full)) < full; k++) {
                uint64_t now = load64(src + 8 * k), old = load64(row + 8 * k);
                store64(row + 8 * k, now);
                move(hist, touched, old, now, weight, bpp);
            }
            if (tail) {
                uint64_t now = load_partial(src + 8 * full, tail), old = load64(row + 8 * full);
                if (now != old) {
                    store64(row + 8 * full, now);
                    move(hist, touched, old, now, weight, bpp);
                }
            }
            break;
        case 2: /* Up: a zero word leaves the word above as it was */
            for (; (k = skip_zero(src, k, full)) < words; k++) {
                uint64_t delta = k < full ? load64(src + 8 * k) : load_partial(src + 8 * k, tail);
                if (delta) {
                    uint64_t old = load64(row + 8 * k), now = add8(delta, old);
                    store64(row + 8 * k, now);
                    move(hist, touched, old, now, weight, bpp);
                }
            }
            break;
        case 1: { /* Sub: a lane-wise prefix sum of the word plus the sample to its left */
            /* the last sample of this row so far, repeated over a word: a zero word is that */
            uint64_t fill = 0;
            while (k < words) {
                uint64_t delta = 0, old, now;
                /* a run of zero words, each the sample on its left repeated: no chain from word
                 * to word, so this loop runs at the speed of its loads */
                k = skip_fill(src, row, fill, k, full);
                for (; k < full && (delta = load64(src + 8 * k)) == 0; k++) {
                    old = load64(row + 8 * k);
                    if (old != fill) {
                        store64(row + 8 * k, fill);
                        move(hist, touched, old, fill, weight, bpp);
                    }
                }
                if (k >= words)
                    break;
                if (k == full)
                    delta = load_partial(src + 8 * k, tail);
                old = load64(row + 8 * k);
                if (bpp == 1)
                    delta = add8(delta, delta << 8);
                delta = add8(delta, delta << 16);
                delta = add8(delta, delta << 32);
                now = add8(delta, fill);
                if (k == full) /* the partial last word: its padding stays zero */
                    now &= tail_mask;
                fill = (now >> top_shift) * repeat;
                if (now != old) {
                    store64(row + 8 * k, now);
                    move(hist, touched, old, now, weight, bpp);
                }
                k++;
            }
            break;
        }
        case 3: /* Average */
            for (; k < words; k++) {
                const size_t n = k < full ? 8 : tail;
                const uint64_t delta = k < full ? load64(src + 8 * k) : load_partial(src + 8 * k, tail);
                const uint64_t old = load64(row + 8 * k), left = load64(row + 8 * k - 8);
                uint64_t now = 0;
                unsigned a0 = (unsigned)(left >> 56), a1 = (unsigned)(left >> 48) & 255; /* x[-1], x[-2] */
                size_t j;
                /* a zero word under a constant word equal to the sample on its left repeats it:
                 * floor((a + b) / 2) = b when a == b, and then the next a is that b again */
                if (delta == 0 && n == 8 && old == (left >> top_shift) * repeat)
                    continue;
                for (j = 0; j < n; j++) { /* the bytes in registers: no store-to-load chain */
                    const unsigned a = bpp == 1 ? a0 : a1, up = (unsigned)(old >> (8 * j)) & 255;
                    const unsigned v = ((unsigned)(delta >> (8 * j)) + ((a + up) >> 1)) & 255;
                    now |= (uint64_t)v << (8 * j);
                    a1 = a0;
                    a0 = v;
                }
                if (now != old) {
                    store64(row + 8 * k, now);
                    move(hist, touched, old, now, weight, bpp);
                }
            }
            break;
        default: { /* 4, Paeth */
            /* synced: the bpp bytes left of word k did not change in this row, so a == c at its
             * first byte(s); then a zero word is the word above (fastpng.py's proof) */
            int synced = 1;
            uint64_t old_left = 0; /* the previous row's word left of word k */
            while (k < words) {
                if (synced) {
                    size_t first = k;
                    k = skip_zero(src, k, full);
                    if (k > first)
                        old_left = load64(row + 8 * (k - 1));
                    if (k >= words)
                        break;
                }
                {
                    const size_t n = k < full ? 8 : tail;
                    const uint64_t delta = k < full ? load64(src + 8 * k) : load_partial(src + 8 * k, tail);
                    const uint64_t old = load64(row + 8 * k), left = load64(row + 8 * k - 8);
                    /* byte j of ``diag`` is c: the byte bpp to the left in the row above */
                    const uint64_t diag = (old << (8 * bpp)) | (old_left >> (64 - 8 * bpp));
                    unsigned a0 = (unsigned)(left >> 56), a1 = (unsigned)(left >> 48) & 255;
                    uint64_t now = 0;
                    size_t j;
                    for (j = 0; j < n; j++) {
                        const int a = (int)(bpp == 1 ? a0 : a1), up = (int)((old >> (8 * j)) & 255);
                        const int c = (int)((diag >> (8 * j)) & 255);
                        const unsigned v = ((unsigned)(delta >> (8 * j)) + (unsigned)seg_paeth(a, up, c)) & 255;
                        now |= (uint64_t)v << (8 * j);
                        a1 = a0;
                        a0 = v;
                    }
                    if (now != old) {
                        store64(row + 8 * k, now);
                        move(hist, touched, old, now, weight, bpp);
                        synced = (now >> top_shift) == (old >> top_shift);
                    } else {
                        synced = 1;
                    }
                    old_left = old;
                    k++;
                }
            }
            break;
        }
        }
    }
}

/* 1 if the filter byte of every row is ``kind`` */
static int every_row_filtered(const uint8_t *raw, uint64_t height, size_t row_bytes, int kind)
{
    uint64_t y;
    for (y = 0; y < height; y++)
        if (raw[y * (row_bytes + 1)] != kind)
            return 0;
    return 1;
}

static void kernel8(int64_t *hist, uint8_t *row, const uint8_t *raw, uint64_t height, size_t row_bytes)
{
    kernel(hist, NULL, row, raw, height, row_bytes, 1);
}

static void kernel16(int64_t *hist, uint64_t *touched, uint8_t *row, const uint8_t *raw, uint64_t height,
                     size_t row_bytes)
{
    kernel(hist, touched, row, raw, height, row_bytes, 2);
}

int seg_count(seg_context *ctx, const seg_image *img, const uint8_t *raw, int use_plain)
{
    size_t row_bytes, need;
    if (use_plain || !seg_fast_kind(img))
        return seg_plain_count(ctx, img, raw);
    row_bytes = (size_t)seg_row_bytes(img, img->width);
    if (img->bit_depth == 8 && every_row_filtered(raw, img->height, row_bytes, 1)) {
        seg_sub_rows8(ctx->hist, raw, img->height, row_bytes); /* subrows.c: needs no row buffer */
        return 0;
    }
    need = 8 + (row_bytes + 7) / 8 * 8;
    if (ctx->rows_cap < need) {
        free(ctx->rows);
        ctx->rows = (uint8_t *)malloc(need);
        ctx->rows_cap = ctx->rows ? need : 0;
        if (ctx->rows == NULL)
            return -1;
    }
    memset(ctx->rows, 0, need);
    if (img->bit_depth == 8)
        kernel8(ctx->hist, ctx->rows + 8, raw, img->height, row_bytes);
    else
        kernel16(ctx->hist, ctx->touched, ctx->rows + 8, raw, img->height, row_bytes);
    return 0;
}
