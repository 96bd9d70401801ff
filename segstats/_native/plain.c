/* The plain path: unfilter each row into its own buffer byte by byte, then count every
 * sample (PNG specification, sections 7.2 and 9). Obviously correct, endian-neutral, and
 * used for every kind the difference kernel (count.c) does not take: 1/2/4-bit samples,
 * grey+alpha, interlaced images, big-endian hosts; tests compare it with the kernel.
 * Also the last step of every item: the histogram to (values, counts).
 */
#include "native.h"

#include <stdlib.h>
#include <string.h>

static void unfilter_row(int kind, const uint8_t *src, const uint8_t *prev, uint8_t *cur, size_t n, int bpp)
{
    size_t i;
    switch (kind) {
    case 0:
        memcpy(cur, src, n);
        break;
    case 1: /* cur[-bpp..-1] and prev[-bpp..-1] are zero padding */
        for (i = 0; i < n; i++)
            cur[i] = (uint8_t)(src[i] + cur[(ptrdiff_t)i - bpp]);
        break;
    case 2:
        for (i = 0; i < n; i++)
            cur[i] = (uint8_t)(src[i] + prev[i]);
        break;
    case 3:
        for (i = 0; i < n; i++)
            cur[i] = (uint8_t)(src[i] + ((cur[(ptrdiff_t)i - bpp] + prev[i]) >> 1));
        break;
    default:
        for (i = 0; i < n; i++)
            cur[i] = (uint8_t)(src[i] + seg_paeth(cur[(ptrdiff_t)i - bpp], prev[i], prev[(ptrdiff_t)i - bpp]));
        break;
    }
}

/* add every (grey or index) sample of an unfiltered row of ``width`` pixels to ``hist`` */
static void count_row(const seg_image *img, const uint8_t *cur, uint64_t width, int64_t *hist, uint64_t *touched)
{
    uint64_t x;
    const int depth = img->bit_depth, channels = img->channels;
    if (depth < 8) {
        const unsigned mask = (1u << depth) - 1;
        for (x = 0; x < width; x++) {
            uint64_t bit = x * (uint64_t)depth; /* samples are packed from the high bit down */
            hist[(cur[bit >> 3] >> (8 - depth - (int)(bit & 7))) & mask]++;
        }
    } else if (depth == 8) {
        for (x = 0; x < width; x++)
            hist[cur[x * channels]]++;
    } else {
        for (x = 0; x < width; x++) {
            const uint8_t *s = cur + 2 * x * channels;
            unsigned v = ((unsigned)s[0] << 8) | s[1];
            hist[v]++;
            seg_touch(touched, v);
        }
    }
}

int seg_plain_count(seg_context *ctx, const seg_image *img, const uint8_t *raw)
{
    const int bits = img->bit_depth * img->channels, bpp = bits >= 8 ? bits / 8 : 1;
    const size_t max_row = (size_t)seg_row_bytes(img, img->width);
    int p, first = img->interlace ? 0 : -1, last = img->interlace ? 6 : -1;
    const uint8_t *src = raw;
    uint8_t *prev, *cur;
    const size_t need = 2 * (16 + max_row);
    if (ctx->rows_cap < need) {
        free(ctx->rows);
        ctx->rows = (uint8_t *)malloc(need);
        ctx->rows_cap = ctx->rows ? need : 0;
        if (ctx->rows == NULL)
            return -1;
    }
    prev = ctx->rows + 8;
    cur = ctx->rows + 16 + max_row + 8;
    for (p = first; p <= last; p++) {
        uint64_t pw, ph, y;
        size_t n;
        seg_pass_size(img, p, &pw, &ph);
        if (pw == 0 || ph == 0)
            continue;
        n = (size_t)seg_row_bytes(img, pw);
        /* the row above the first row, and the pixels left of the first pixel, are zero */
        memset(prev - 8, 0, n + 8);
        memset(cur - 8, 0, 8);
        for (y = 0; y < ph; y++, src += 1 + n) {
            uint8_t *swap;
            unfilter_row(src[0], src + 1, prev, cur, n, bpp);
            count_row(img, cur, pw, ctx->hist, ctx->touched);
            swap = prev;
            prev = cur;
            cur = swap;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- results */
int seg_collect(seg_context *ctx, seg_result *res, int wide)
{
    size_t n = 0, i;
    int64_t *hist = ctx->hist;
    if (!wide) {
        for (i = 0; i < 256; i++)
            n += hist[i] != 0;
    } else {
        size_t block;
        for (block = 0; block < 1024; block++)
            if (ctx->touched[block >> 6] >> (block & 63) & 1)
                for (i = block * 64; i < block * 64 + 64; i++)
                    n += hist[i] != 0;
    }
    res->values = (int64_t *)malloc((n ? n : 1) * sizeof(int64_t));
    res->counts = (int64_t *)malloc((n ? n : 1) * sizeof(int64_t));
    if (res->values == NULL || res->counts == NULL) {
        free(res->values);
        free(res->counts);
        res->values = res->counts = NULL;
        return -1;
    }
    res->n_values = 0;
    if (!wide) {
        for (i = 0; i < 256; i++)
            if (hist[i] != 0) {
                res->values[res->n_values] = (int64_t)i;
                res->counts[res->n_values++] = hist[i];
                hist[i] = 0;
            }
    } else {
        size_t block;
        for (block = 0; block < 1024; block++)
            if (ctx->touched[block >> 6] >> (block & 63) & 1)
                for (i = block * 64; i < block * 64 + 64; i++)
                    if (hist[i] != 0) {
                        res->values[res->n_values] = (int64_t)i;
                        res->counts[res->n_values++] = hist[i];
                        hist[i] = 0;
                    }
        memset(ctx->touched, 0, sizeof ctx->touched);
    }
    return 0;
}
