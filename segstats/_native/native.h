/* segstats._native: shared declarations of the label-PNG reader.
 *
 * The reader is split in these files:
 *   png.c      chunk walk, IHDR checks, the per-item driver (decode_item)
 *   inflate.c  libdeflate loaded at run time (dlopen / LoadLibrary), zlib otherwise
 *   count.c    sizes, filter-byte check, the difference kernel (unfilter + histogram)
 *   subrows.c  8-bit images whose every row is Sub-filtered, counted as runs (words.h: word helpers)
 *   plain.c    the plain unfilter + count path, and the histogram -> (values, counts)
 *   module.c   the CPython binding (count_chunk, inflate_backend, set_inflate)
 * Everything except module.c is plain C99 without Python, so it runs with the
 * GIL released.
 */
#ifndef SEGSTATS_NATIVE_H
#define SEGSTATS_NATIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Result codes of one item (the first element of its result tuple). */
#define SEG_COUNTED 0
#define SEG_NOT_COUNTED 1 /* a valid RGB/RGBA PNG */
#define SEG_NOT_PNG 2
#define SEG_BAD 3
#define SEG_OS_ERROR 4
#define SEG_NO_MEMORY (-1) /* an allocation the file justifies failed: MemoryError */

#define SEG_MESSAGE_SIZE 320

/* Buffers reused across the items of one count_chunk call (never shared between calls). */
typedef struct {
    uint8_t *file;     /* contents of a path item */
    size_t file_cap;
    uint8_t *idat;     /* concatenated IDAT payload, when there is more than one IDAT chunk */
    size_t idat_cap;
    uint8_t *raw;      /* the inflated (filtered) image data */
    size_t raw_cap;
    uint8_t *rows;     /* row buffers of the unfilter step */
    size_t rows_cap;
    int64_t *hist;     /* 256 or 65536 bins, kept all-zero between items */
    size_t hist_bins;
    uint64_t touched[16]; /* 16-bit histograms: which 64-bin blocks may be non-zero */
    void *inflater;    /* a libdeflate decompressor, allocated on first use */
} seg_context;

typedef struct {
    int code;
    uint32_t width, height;
    int bit_depth, color_type, interlace;
    int os_errno;
    size_t n_values;
    int64_t *values; /* malloc'd, n_values entries, sorted */
    int64_t *counts;
    char message[SEG_MESSAGE_SIZE];
} seg_result;

/* Settings of one call. */
typedef struct {
    int64_t max_pixels; /* < 0: no limit */
    int check_only;
    int plain;          /* 1: the plain unfilter + count path for every kind (tests) */
    int use_libdeflate; /* 0: zlib */
} seg_options;

/* png.c */
void seg_decode(seg_context *ctx, const uint8_t *data, size_t size, const seg_options *opt,
                seg_result *res);
void seg_context_free(seg_context *ctx);
uint32_t seg_crc32(const uint8_t *data, size_t size);

/* inflate.c */
int seg_libdeflate_load(void); /* 1 if libdeflate's runtime library was found */
int seg_libdeflate_available(void);
/* Inflate the zlib stream ``in`` into exactly ``out_size`` bytes at ``out``.
 * Returns 0, or writes a message (SEG_BAD) into ``message`` and returns -1. */
int seg_inflate(seg_context *ctx, int use_libdeflate, const uint8_t *in, size_t in_size, uint8_t *out,
                size_t out_size, char *message);
void seg_inflater_free(seg_context *ctx);
/* libdeflate's CRC-32 when loaded (faster), else NULL */
typedef uint32_t (*seg_crc32_fn)(uint32_t crc, const void *data, size_t size);
seg_crc32_fn seg_libdeflate_crc32(void);

/* Inline helpers shared by count.c and plain.c */
#if defined(_MSC_VER)
#define SEG_INLINE static __forceinline
#elif defined(__GNUC__) || defined(__clang__)
#define SEG_INLINE static inline __attribute__((always_inline))
#else
#define SEG_INLINE static inline
#endif

/* the Paeth predictor (PNG specification, 9.4): a, b or c, whichever is closest to a + b - c */
SEG_INLINE int seg_paeth(int a, int b, int c)
{
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    if (pa <= pb && pa <= pc)
        return a;
    return pb <= pc ? b : c;
}

/* 16-bit histograms: mark the 64-bin block of value v as possibly non-zero */
SEG_INLINE void seg_touch(uint64_t *touched, unsigned v) { touched[v >> 12] |= (uint64_t)1 << ((v >> 6) & 63); }

/* count.c */
typedef struct {
    uint32_t width, height;
    int bit_depth, color_type, interlace;
    int channels;
} seg_image;

/* Bytes of one filtered row (without its filter byte) of ``width`` pixels. */
uint64_t seg_row_bytes(const seg_image *img, uint64_t width);
/* The bytes of filtered image data IHDR implies (filter bytes included), or UINT64_MAX when
 * that is over ``limit`` (computed without overflow). */
uint64_t seg_implied_size(const seg_image *img, uint64_t limit);
/* Check the filter byte of every row. Returns 0, or -1 with the message written. */
int seg_check_filters(const seg_image *img, const uint8_t *raw, char *message);
/* Unfilter and count into ctx->hist (ctx->hist has the right size, all zero). ``raw`` holds
 * exactly seg_implied_size bytes and every filter byte was checked. Returns 0, or -1 when a row
 * buffer cannot be allocated. */
int seg_count(seg_context *ctx, const seg_image *img, const uint8_t *raw, int plain);
/* Pass p's width and height (p = -1: the whole image; 0-6: Adam7 passes 1-7). */
void seg_pass_size(const seg_image *img, int p, uint64_t *pw, uint64_t *ph);
/* Whether the difference kernel handles this kind (else the plain path runs). */
int seg_fast_kind(const seg_image *img);
/* subrows.c: count an 8-bit image whose every row is Sub-filtered into ``hist`` (256 bins);
 * ``raw`` holds height rows of 1 + row_bytes bytes. */
void seg_sub_rows8(int64_t *hist, const uint8_t *raw, uint64_t height, size_t row_bytes);
/* plain.c: the plain path (same contract as seg_count). */
int seg_plain_count(seg_context *ctx, const seg_image *img, const uint8_t *raw);
/* Move the non-zero bins of ctx->hist to res (values/counts, malloc'd) and zero them; ``wide``:
 * a 16-bit image (65536 bins, ctx->touched says which blocks), else bins 0-255.
 * Returns 0, or -1 when the small result arrays cannot be allocated. */
int seg_collect(seg_context *ctx, seg_result *res, int wide);

#endif
