/* Inflate: libdeflate, loaded at run time when its shared library is present, else zlib.
 *
 * libdeflate decompresses a whole buffer in one call, about twice as fast as zlib,
 * but reports only "bad data" for every kind of damage. So it runs first; when it
 * does not give exactly the bytes IHDR implies, zlib inflates the same data again
 * and its diagnosis is the message. The message of a damaged file is therefore the
 * same with either library (and damaged files are rare).
 *
 * No libdeflate header is needed: the few functions used are declared here from
 * libdeflate's documented API (libdeflate.h).
 */
#include "native.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

/* libdeflate's public API (libdeflate.h), declared for run-time lookup. */
enum seg_libdeflate_result {
    SEG_LIBDEFLATE_SUCCESS = 0,
    SEG_LIBDEFLATE_BAD_DATA = 1,
    SEG_LIBDEFLATE_SHORT_OUTPUT = 2,
    SEG_LIBDEFLATE_INSUFFICIENT_SPACE = 3
};
typedef void *(*alloc_decompressor_fn)(void);
typedef void (*free_decompressor_fn)(void *decompressor);
typedef int (*zlib_decompress_ex_fn)(void *decompressor, const void *in, size_t in_nbytes, void *out,
                                     size_t out_nbytes_avail, size_t *actual_in_nbytes_ret,
                                     size_t *actual_out_nbytes_ret);

static alloc_decompressor_fn ld_alloc;
static free_decompressor_fn ld_free;
static zlib_decompress_ex_fn ld_zlib_decompress_ex;
static seg_crc32_fn ld_crc32;
static int ld_loaded;

#ifdef _WIN32
static void *open_library(const char *name) { return (void *)LoadLibraryA(name); }
static void *symbol(void *lib, const char *name) { return (void *)GetProcAddress((HMODULE)lib, name); }
static void close_library(void *lib) { FreeLibrary((HMODULE)lib); }
static const char *const LIBRARY_NAMES[] = {"libdeflate.dll", "deflate.dll", NULL};
#else
static void *open_library(const char *name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL); }
static void *symbol(void *lib, const char *name) { return dlsym(lib, name); }
static void close_library(void *lib) { dlclose(lib); }
#ifdef __APPLE__
static const char *const LIBRARY_NAMES[] = {"libdeflate.0.dylib", "libdeflate.dylib", NULL};
#else
static const char *const LIBRARY_NAMES[] = {"libdeflate.so.0", "libdeflate.so", NULL};
#endif
#endif

int seg_libdeflate_load(void)
{
    int i;
    for (i = 0; LIBRARY_NAMES[i] != NULL && !ld_loaded; i++) {
        void *lib = open_library(LIBRARY_NAMES[i]);
        if (lib == NULL)
            continue;
        /* object -> function pointer through memcpy: ISO C has no direct conversion */
        {
            void *p_alloc = symbol(lib, "libdeflate_alloc_decompressor");
            void *p_free = symbol(lib, "libdeflate_free_decompressor");
            void *p_ex = symbol(lib, "libdeflate_zlib_decompress_ex");
            void *p_crc = symbol(lib, "libdeflate_crc32");
            if (p_alloc == NULL || p_free == NULL || p_ex == NULL) {
                close_library(lib);
                continue;
            }
            memcpy(&ld_alloc, &p_alloc, sizeof ld_alloc);
            memcpy(&ld_free, &p_free, sizeof ld_free);
            memcpy(&ld_zlib_decompress_ex, &p_ex, sizeof ld_zlib_decompress_ex);
            if (p_crc != NULL)
                memcpy(&ld_crc32, &p_crc, sizeof ld_crc32);
            ld_loaded = 1; /* kept loaded for the life of the process */
        }
    }
    return ld_loaded;
}

int seg_libdeflate_available(void) { return ld_loaded; }

seg_crc32_fn seg_libdeflate_crc32(void) { return ld_loaded ? ld_crc32 : NULL; }

void seg_inflater_free(seg_context *ctx)
{
    if (ctx->inflater != NULL && ld_free != NULL)
        ld_free(ctx->inflater);
    ctx->inflater = NULL;
}

/* zlib's reading of the stream: the reference diagnosis. Inputs and outputs over 4 GiB go
 * in pieces (zlib counts in uInt). */
static int inflate_zlib(const uint8_t *in, size_t in_size, uint8_t *out, size_t out_size, char *message)
{
    z_stream strm;
    int status;
    size_t in_left = in_size, out_left = out_size;
    uint8_t extra[1];
    const uInt piece = UINT_MAX;

    memset(&strm, 0, sizeof strm);
    if (inflateInit(&strm) != Z_OK) {
        snprintf(message, SEG_MESSAGE_SIZE, "corrupt image data: zlib could not start (out of memory?)");
        return -1;
    }
    strm.next_in = (Bytef *)in;
    strm.next_out = out;
    for (;;) {
        uInt give_in = in_left > piece ? piece : (uInt)in_left;
        uInt give_out = out_left > piece ? piece : (uInt)out_left;
        strm.avail_in = give_in;
        strm.avail_out = give_out;
        if (out_left == 0) {
            /* all the bytes IHDR implies are there: the rest may only end the stream */
            strm.next_out = extra;
            strm.avail_out = 1;
            give_out = 1;
        }
        status = inflate(&strm, Z_NO_FLUSH);
        in_left -= give_in - strm.avail_in;
        if (out_left == 0) {
            if (strm.avail_out == 0) {
                snprintf(message, SEG_MESSAGE_SIZE,
                         "corrupt image data: invalid compressed image data (more image data than "
                         "the %llu bytes IHDR implies)",
                         (unsigned long long)out_size);
                inflateEnd(&strm);
                return -1;
            }
        } else {
            out_left -= give_out - strm.avail_out;
        }
        if (status == Z_STREAM_END)
            break;
        if (status == Z_NEED_DICT) {
            snprintf(message, SEG_MESSAGE_SIZE,
                     "corrupt image data: invalid compressed image data (a preset dictionary is needed)");
            inflateEnd(&strm);
            return -1;
        }
        if (status == Z_DATA_ERROR || status == Z_STREAM_ERROR || status == Z_MEM_ERROR) {
            snprintf(message, SEG_MESSAGE_SIZE, "corrupt image data: invalid compressed image data (%s)",
                     strm.msg != NULL ? strm.msg : "zlib error");
            inflateEnd(&strm);
            return -1;
        }
        if (in_left == 0 && strm.avail_out > 0) {
            /* no input left, room for output, and the stream has not ended (when the output
             * just filled up, one more call with the extra byte lets zlib finish the stream) */
            size_t got = out_size - out_left;
            if (got < out_size)
                snprintf(message, SEG_MESSAGE_SIZE,
                         "truncated file (image data holds %llu of the %llu bytes IHDR implies)",
                         (unsigned long long)got, (unsigned long long)out_size);
            else
                snprintf(message, SEG_MESSAGE_SIZE,
                         "truncated file (the compressed image data ends before the end of its stream)");
            inflateEnd(&strm);
            return -1;
        }
    }
    inflateEnd(&strm);
    if (out_left > 0) {
        snprintf(message, SEG_MESSAGE_SIZE,
                 "truncated file (image data holds %llu of the %llu bytes IHDR implies)",
                 (unsigned long long)(out_size - out_left), (unsigned long long)out_size);
        return -1;
    }
    if (in_left > 0) {
        snprintf(message, SEG_MESSAGE_SIZE,
                 "corrupt image data: %llu bytes after the end of the compressed image data",
                 (unsigned long long)in_left);
        return -1;
    }
    return 0;
}

int seg_inflate(seg_context *ctx, int use_libdeflate, const uint8_t *in, size_t in_size, uint8_t *out,
                size_t out_size, char *message)
{
    if (use_libdeflate && ld_loaded) {
        size_t actual_in = 0, actual_out = 0;
        int status;
        if (ctx->inflater == NULL)
            ctx->inflater = ld_alloc();
        if (ctx->inflater != NULL) {
            status = ld_zlib_decompress_ex(ctx->inflater, in, in_size, out, out_size, &actual_in, &actual_out);
            if (status == SEG_LIBDEFLATE_SUCCESS && actual_out == out_size && actual_in == in_size)
                return 0;
        }
        /* anything else: zlib reads it again and says what is wrong */
    }
    return inflate_zlib(in, in_size, out, out_size, message);
}
