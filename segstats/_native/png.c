/* The chunk walk and the per-item driver: one PNG in memory -> one seg_result.
 *
 * Every chunk up to IEND is checked (length against the data, type letters, CRC-32)
 * before anything is inflated; the inflated size comes from IHDR but nothing of that
 * size is allocated unless the compressed data could hold it (deflate cannot expand
 * more than about 1032:1). Every read of file data is bounded by a length checked
 * just before it.
 */
#include "native.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const uint8_t SIGNATURE[8] = {137, 80, 78, 71, 13, 10, 26, 10};

#define MAX_CHUNK_LENGTH UINT32_C(0x7FFFFFFF)
/* deflate's largest expansion is about 1032:1 (258-byte matches of 1 or 2 bits), plus slack */
#define MAX_RATIO 1032
#define RATIO_SLACK 65536

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

uint32_t seg_crc32(const uint8_t *data, size_t size)
{
    seg_crc32_fn fast = seg_libdeflate_crc32();
    uLong crc;
    if (fast != NULL)
        return fast(0, data, size);
    crc = crc32(0L, Z_NULL, 0);
    while (size > 0) { /* zlib counts in uInt */
        uInt piece = size > UINT_MAX ? UINT_MAX : (uInt)size;
        crc = crc32(crc, data, piece);
        data += piece;
        size -= piece;
    }
    return (uint32_t)crc;
}

/* a chunk type for a message: letters as they are, any other byte as \xNN */
static void chunk_name(const uint8_t *type, char *out)
{
    static const char HEX[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 4; i++) {
        if (type[i] >= 0x20 && type[i] < 0x7F && type[i] != '\\') {
            *out++ = (char)type[i];
        } else {
            *out++ = '\\';
            *out++ = 'x';
            *out++ = HEX[type[i] >> 4];
            *out++ = HEX[type[i] & 15];
        }
    }
    *out = '\0';
}

static int is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

static int grow(uint8_t **buffer, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    free(*buffer);
    *buffer = (uint8_t *)malloc(need ? need : 1);
    *cap = *buffer != NULL ? need : 0;
    return *buffer != NULL ? 0 : -1;
}

void seg_context_free(seg_context *ctx)
{
    free(ctx->file);
    free(ctx->idat);
    free(ctx->raw);
    free(ctx->rows);
    free(ctx->hist);
    seg_inflater_free(ctx);
    memset(ctx, 0, sizeof *ctx);
}

#define BAD(...)                                                                                             \
    do {                                                                                                     \
        res->code = SEG_BAD;                                                                                 \
        snprintf(res->message, SEG_MESSAGE_SIZE, __VA_ARGS__);                                               \
        return;                                                                                              \
    } while (0)

#define NO_MEMORY()                                                                                          \
    do {                                                                                                     \
        res->code = SEG_NO_MEMORY;                                                                           \
        return;                                                                                              \
    } while (0)

/* bit depths allowed per colour type (PNG specification, table 11.1) */
static int depth_allowed(int color, int depth)
{
    switch (color) {
    case 0:
        return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:
        return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6:
        return depth == 8 || depth == 16;
    default:
        return 0;
    }
}

static const int CHANNELS[7] = {1, 0, 3, 1, 2, 0, 4};

void seg_decode(seg_context *ctx, const uint8_t *data, size_t size, const seg_options *opt, seg_result *res)
{
    size_t offset = 8, idat_total = 0, idat_count = 0, first_idat = 0;
    int have_ihdr = 0, have_plte = 0, idat_done = 0;
    seg_image img;
    uint64_t implied, limit;
    const uint8_t *idat;
    char name[17];

    memset(&img, 0, sizeof img);
    res->code = SEG_BAD;
    res->n_values = 0;
    res->values = res->counts = NULL;
    res->message[0] = '\0';

    if (size == 0)
        BAD("empty file (0 bytes)");
    if (size < 8 || memcmp(data, SIGNATURE, 8) != 0) {
        if (size < 8 && memcmp(data, SIGNATURE, size) == 0)
            BAD("truncated file (ends at byte %llu, in the PNG signature)", (unsigned long long)size);
        res->code = SEG_NOT_PNG;
        snprintf(res->message, SEG_MESSAGE_SIZE, "not a PNG file");
        return;
    }

    for (;;) {
        uint32_t length, stored;
        const uint8_t *type, *body;
        if (size - offset < 12) {
            const char *missing = !have_ihdr ? "IHDR" : (idat_count == 0 ? "IDAT" : "IEND");
            BAD("truncated file (ends at byte %llu, before the %s chunk)", (unsigned long long)size, missing);
        }
        length = be32(data + offset);
        type = data + offset + 4;
        chunk_name(type, name);
        if (length > MAX_CHUNK_LENGTH)
            BAD("corrupt image data: chunk %s at byte %llu claims %lu bytes", name, (unsigned long long)offset,
                (unsigned long)length);
        if (!is_letter(type[0]) || !is_letter(type[1]) || !is_letter(type[2]) || !is_letter(type[3]))
            BAD("corrupt image data: bad chunk type '%s' at byte %llu", name, (unsigned long long)offset);
        if (size - offset - 12 < length)
            BAD("truncated file (%s chunk at byte %llu needs %llu bytes, the file ends %llu bytes after it "
                "starts)",
                name, (unsigned long long)offset, (unsigned long long)length + 12,
                (unsigned long long)(size - offset));
        body = data + offset + 8;
        stored = be32(body + length);
        if (seg_crc32(type, (size_t)length + 4) != stored)
            BAD("corrupt image data: bad CRC checksum in the %s chunk at byte %llu", name,
                (unsigned long long)offset);

        if (!have_ihdr) {
            uint32_t width, height;
            int depth, color, compression, filter, interlace;
            if (memcmp(type, "IHDR", 4) != 0 || length != 13)
                BAD("corrupt image data: the first chunk is %s of %lu bytes, not IHDR", name,
                    (unsigned long)length);
            width = be32(body);
            height = be32(body + 4);
            depth = body[8];
            color = body[9];
            compression = body[10];
            filter = body[11];
            interlace = body[12];
            if (width == 0 || height == 0 || width > MAX_CHUNK_LENGTH || height > MAX_CHUNK_LENGTH)
                BAD("corrupt image data: bad IHDR: image size %lux%lu", (unsigned long)width,
                    (unsigned long)height);
            if (color != 0 && color != 2 && color != 3 && color != 4 && color != 6)
                BAD("corrupt image data: bad IHDR: colour type %d", color);
            if (!depth_allowed(color, depth))
                BAD("corrupt image data: bad IHDR: bit depth %d with colour type %d", depth, color);
            if (compression != 0 || filter != 0 || (interlace != 0 && interlace != 1))
                BAD("corrupt image data: bad IHDR: compression %d, filter method %d, interlace %d", compression,
                    filter, interlace);
            if (opt->max_pixels >= 0 && (uint64_t)width * height > (uint64_t)opt->max_pixels)
                BAD("image of %lux%lu = %llu pixels is over the limit of %lld pixels (decompression bomb?)",
                    (unsigned long)width, (unsigned long)height, (unsigned long long)width * height,
                    (long long)opt->max_pixels);
            img.width = width;
            img.height = height;
            img.bit_depth = depth;
            img.color_type = color;
            img.interlace = interlace;
            img.channels = CHANNELS[color];
            res->width = width;
            res->height = height;
            res->bit_depth = depth;
            res->color_type = color;
            res->interlace = interlace;
            have_ihdr = 1;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            if (idat_done)
                BAD("corrupt image data: IDAT chunks are not consecutive (another IDAT chunk at byte %llu)",
                    (unsigned long long)offset);
            if (idat_count == 0) {
                if (img.color_type == 3 && !have_plte)
                    BAD("corrupt image data: colour type 3 (palette) without a PLTE chunk before the image "
                        "data");
                first_idat = offset;
            }
            idat_count++;
            idat_total += length;
        } else {
            if (idat_count > 0)
                idat_done = 1;
            if (memcmp(type, "IEND", 4) == 0)
                break;
            if (memcmp(type, "IHDR", 4) == 0)
                BAD("corrupt image data: a second IHDR chunk at byte %llu", (unsigned long long)offset);
            if (memcmp(type, "PLTE", 4) == 0) {
                if (img.color_type == 0 || img.color_type == 4)
                    BAD("corrupt image data: a PLTE chunk in a grey image (colour type %d) at byte %llu",
                        img.color_type, (unsigned long long)offset);
                /* PNG spec 11.2.3: one PLTE, before the image data, 1..256 entries of 3 bytes */
                if (have_plte)
                    BAD("corrupt image data: a second PLTE chunk at byte %llu", (unsigned long long)offset);
                if (idat_count > 0)
                    BAD("corrupt image data: a PLTE chunk after the image data at byte %llu",
                        (unsigned long long)offset);
                if (length == 0 || length % 3 != 0 || length > 768)
                    BAD("corrupt image data: a PLTE chunk of %lu bytes (1 to 256 entries of 3 bytes) at byte %llu",
                        (unsigned long)length, (unsigned long long)offset);
                have_plte = 1;
            } else if (!(type[0] & 0x20)) { /* upper case first letter: critical */
                BAD("corrupt image data: unknown critical chunk %s at byte %llu", name,
                    (unsigned long long)offset);
            }
        }
        offset += (size_t)length + 12;
    }
    if (idat_count == 0)
        BAD("corrupt image data: no image data (IDAT chunk)");

    /* memory follows the file: refuse before allocating what the data cannot hold */
    limit = (uint64_t)idat_total > (UINT64_MAX - RATIO_SLACK) / MAX_RATIO
                ? UINT64_MAX - 1
                : (uint64_t)idat_total * MAX_RATIO + RATIO_SLACK;
    implied = seg_implied_size(&img, limit);
    if (implied == UINT64_MAX) {
        uint64_t wanted = seg_implied_size(&img, UINT64_MAX - 1);
        if (wanted == UINT64_MAX)
            BAD("truncated file (%llu bytes of compressed image data cannot hold the more than 2^64 bytes IHDR "
                "implies)",
                (unsigned long long)idat_total);
        BAD("truncated file (%llu bytes of compressed image data cannot hold the %llu bytes IHDR implies)",
            (unsigned long long)idat_total, (unsigned long long)wanted);
    }
    if (implied > (uint64_t)SIZE_MAX)
        NO_MEMORY();

    /* the IDAT payload, contiguous */
    if (idat_count == 1) {
        idat = data + first_idat + 8;
    } else {
        size_t at = first_idat, filled = 0, i;
        if (grow(&ctx->idat, &ctx->idat_cap, idat_total) != 0)
            NO_MEMORY();
        for (i = 0; i < idat_count; i++) { /* consecutive IDAT chunks, all checked above */
            size_t n = be32(data + at);
            if (n > 0) /* memcpy with a NULL buffer is undefined even for 0 bytes (all IDATs empty) */
                memcpy(ctx->idat + filled, data + at + 8, n);
            filled += n;
            at += n + 12;
        }
        idat = ctx->idat;
    }
    if (grow(&ctx->raw, &ctx->raw_cap, (size_t)implied) != 0)
        NO_MEMORY();
    if (seg_inflate(ctx, opt->use_libdeflate, idat, idat_total, ctx->raw, (size_t)implied, res->message) != 0) {
        res->code = SEG_BAD;
        return;
    }
    if (seg_check_filters(&img, ctx->raw, res->message) != 0) {
        res->code = SEG_BAD;
        return;
    }
    if (img.color_type == 2 || img.color_type == 6) {
        res->code = SEG_NOT_COUNTED;
        snprintf(res->message, SEG_MESSAGE_SIZE, img.color_type == 2 ? "RGB colour image" : "RGBA colour image");
        return;
    }
    if (opt->check_only) {
        res->code = SEG_COUNTED;
        return;
    }
    {
        const size_t bins = img.bit_depth == 16 ? 65536 : 256;
        if (ctx->hist_bins < bins) {
            free(ctx->hist); /* all zero: nothing to keep */
            ctx->hist = (int64_t *)calloc(bins, sizeof(int64_t));
            ctx->hist_bins = ctx->hist != NULL ? bins : 0;
            memset(ctx->touched, 0, sizeof ctx->touched);
            if (ctx->hist == NULL)
                NO_MEMORY();
        }
    }
    if (seg_count(ctx, &img, ctx->raw, opt->plain) != 0)
        NO_MEMORY();
    if (seg_collect(ctx, res, img.bit_depth == 16) != 0)
        NO_MEMORY();
    res->code = SEG_COUNTED;
}
