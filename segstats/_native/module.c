/* segstats._native: the CPython binding of the label-PNG reader.
 *
 * count_chunk takes every buffer and encodes every path while holding the GIL,
 * then reads, checks and counts all items with the GIL released (buffers are
 * reused across the items of one call), and builds the result tuples with the GIL
 * again. See native_api / segstats/_native.pyi for the result format.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _WIN32
#include <io.h>
#else
#include <unistd.h>
#endif

#include "native.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_BINARY
#define O_BINARY 0
#endif

/* Bumped with every change of count_chunk's arguments or results; segstats/png.py refuses a
 * build of another ABI (a stale in-place build) with a clear message. */
#define SEG_ABI 2
/* Bins of a dense row: every value an 8-bit (or narrower) sample can hold. */
#define SEG_DENSE_BINS 256

/* the inflate library this process uses: set at import from SEGSTATS_INFLATE, or by set_inflate */
static int use_libdeflate;

typedef struct {
    int is_path;
    PyObject *path; /* bytes (POSIX, PyUnicode_FSConverter) or NULL */
#ifdef _WIN32
    wchar_t *wpath;
#endif
    Py_buffer view;
    int have_view;
} seg_item;

/* Read a whole file into ctx->file. Returns 0 with *size set, or an errno value. */
static int read_path(seg_context *ctx, seg_item *item, size_t *size)
{
    int fd, err = 0;
    size_t filled = 0;
#ifdef _WIN32
    struct _stat64 st;
    fd = _wopen(item->wpath, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    if (fd < 0)
        return errno;
    if (_fstat64(fd, &st) != 0) {
        err = errno;
        _close(fd);
        return err;
    }
#else
    struct stat st;
    fd = open(PyBytes_AS_STRING(item->path), O_RDONLY | O_CLOEXEC | O_BINARY);
    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return err;
    }
#endif
    {
        /* the size stat gives, plus one byte to see the end in the same read; a file that
         * grows meanwhile is read to its end all the same */
        size_t want = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
        if (ctx->file_cap < want) {
            free(ctx->file);
            ctx->file = (uint8_t *)malloc(want);
            ctx->file_cap = ctx->file != NULL ? want : 0;
            if (ctx->file == NULL) {
                err = ENOMEM;
                goto done;
            }
        }
    }
    for (;;) {
        size_t room;
        if (filled == ctx->file_cap) {
            size_t bigger = ctx->file_cap * 2;
            uint8_t *grown = (uint8_t *)realloc(ctx->file, bigger);
            if (grown == NULL) {
                err = ENOMEM;
                goto done;
            }
            ctx->file = grown;
            ctx->file_cap = bigger;
        }
        room = ctx->file_cap - filled;
#ifdef _WIN32
        {
            int got = _read(fd, ctx->file + filled, room > INT_MAX ? INT_MAX : (unsigned)room);
            if (got < 0) {
                err = errno;
                goto done;
            }
            if (got == 0)
                break;
            filled += (size_t)got;
        }
#else
        {
            ssize_t got = read(fd, ctx->file + filled, room > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : room);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                err = errno;
                goto done;
            }
            if (got == 0)
                break;
            filled += (size_t)got;
        }
#endif
    }
done:
#ifdef _WIN32
    _close(fd);
#else
    close(fd);
#endif
    *size = filled;
    return err;
}

static PyObject *int64_bytes(const int64_t *values, size_t n)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    unsigned char *p;
    size_t i;
    int b;
    if (out == NULL)
        return NULL;
    p = (unsigned char *)PyBytes_AS_STRING(out);
    for (i = 0; i < n; i++) { /* little-endian whatever the host */
        uint64_t v = (uint64_t)values[i];
        for (b = 0; b < 8; b++)
            *p++ = (unsigned char)(v >> (8 * b));
    }
    return out;
}

/* 1 if every counted value fits a 256-bin row (8-bit and narrower kinds, and 16-bit files
 * that happen to hold only values below 256). */
static int fits_dense_row(const seg_result *res)
{
    size_t j;
    for (j = 0; j < res->n_values; j++)
        if (res->values[j] < 0 || res->values[j] >= SEG_DENSE_BINS)
            return 0;
    return 1;
}

/* The result of file ``i``; with ``dense`` (n x 256 native int64, zeroed by the caller), a
 * counted file that fits a row is written into row ``i`` and its tuple carries no arrays:
 * for a scan of 8-bit masks the Python side then handles one small tuple per file. */
static PyObject *result_tuple(const seg_result *res, int64_t *dense, Py_ssize_t i)
{
    switch (res->code) {
    case SEG_COUNTED: {
        if (dense != NULL && fits_dense_row(res)) {
            int64_t *row = dense + (size_t)i * SEG_DENSE_BINS;
            size_t j;
            for (j = 0; j < res->n_values; j++)
                row[res->values[j]] = res->counts[j];
            return Py_BuildValue("(ikkiii)", 5, (unsigned long)res->width, (unsigned long)res->height,
                                 res->bit_depth, res->color_type, res->interlace);
        }
        PyObject *values = int64_bytes(res->values, res->n_values);
        PyObject *counts = values ? int64_bytes(res->counts, res->n_values) : NULL;
        PyObject *out;
        if (counts == NULL) {
            Py_XDECREF(values);
            return NULL;
        }
        out = Py_BuildValue("(ikkiiiNN)", 0, (unsigned long)res->width, (unsigned long)res->height,
                            res->bit_depth, res->color_type, res->interlace, values, counts);
        return out;
    }
    case SEG_NOT_COUNTED:
        return Py_BuildValue("(ikkiiis)", 1, (unsigned long)res->width, (unsigned long)res->height,
                             res->bit_depth, res->color_type, res->interlace, res->message);
    case SEG_NOT_PNG:
        return Py_BuildValue("(is)", 2, res->message);
    case SEG_OS_ERROR:
        return Py_BuildValue("(iis)", 4, res->os_errno, strerror(res->os_errno));
    default:
        return Py_BuildValue("(is)", 3, res->message);
    }
}

static void release_items(seg_item *items, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        Py_XDECREF(items[i].path);
#ifdef _WIN32
        if (items[i].wpath != NULL)
            PyMem_Free(items[i].wpath);
#endif
        if (items[i].have_view)
            PyBuffer_Release(&items[i].view);
    }
}

static PyObject *count_chunk(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"items", "max_pixels", "check_only", "plain", "dense", NULL};
    PyObject *items_arg, *max_pixels_arg, *dense_arg = Py_None, *sequence, *out = NULL;
    Py_buffer dense_view;
    int have_dense = 0;
    int check_only = 0, use_plain = 0, no_memory = 0;
    Py_ssize_t n, i;
    seg_item *items = NULL;
    seg_result *results = NULL;
    seg_options opt;
    seg_context ctx;
    (void)self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|ppO:count_chunk", keywords, &items_arg, &max_pixels_arg,
                                     &check_only, &use_plain, &dense_arg))
        return NULL;
    if (!PyList_Check(items_arg) && !PyTuple_Check(items_arg)) {
        PyErr_SetString(PyExc_TypeError, "count_chunk: items must be a list of str paths or bytes-like objects");
        return NULL;
    }
    memset(&opt, 0, sizeof opt);
    if (max_pixels_arg == Py_None) {
        opt.max_pixels = -1;
    } else if (PyLong_Check(max_pixels_arg)) {
        long long limit = PyLong_AsLongLong(max_pixels_arg);
        if (limit == -1 && PyErr_Occurred())
            return NULL;
        if (limit < -1) {
            PyErr_SetString(PyExc_ValueError, "count_chunk: max_pixels must be >= 0, or -1 or None (no limit)");
            return NULL;
        }
        opt.max_pixels = limit;
    } else {
        PyErr_SetString(PyExc_TypeError, "count_chunk: max_pixels must be an int or None");
        return NULL;
    }
    opt.check_only = check_only;
    opt.plain = use_plain;
    opt.use_libdeflate = use_libdeflate;

    sequence = PySequence_Fast(items_arg, "count_chunk: items must be a list");
    if (sequence == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(sequence);
    if (dense_arg != Py_None) {
        /* Checked before anything is read: a writable, C-contiguous buffer of 8-byte items
         * with room for one 256-bin row per item (numpy: np.zeros((n, 256), np.int64)). */
        if (PyObject_GetBuffer(dense_arg, &dense_view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
            Py_DECREF(sequence);
            return NULL;
        }
        have_dense = 1;
        if (dense_view.itemsize != 8 || dense_view.format == NULL || strchr("qlQL", dense_view.format[0]) == NULL ||
            dense_view.format[1] != '\0' || dense_view.len / 8 / SEG_DENSE_BINS < n) {
            PyErr_Format(PyExc_ValueError, "count_chunk: dense must be a C-contiguous native int64 array "
                                           "of at least %zd x %d items",
                         n, SEG_DENSE_BINS);
            goto finish;
        }
    }
    items = (seg_item *)PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(seg_item));
    results = (seg_result *)PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(seg_result));
    if (items == NULL || results == NULL) {
        PyErr_NoMemory();
        goto finish;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(sequence, i);
        if (PyUnicode_Check(item)) {
            items[i].is_path = 1;
#ifdef _WIN32
            items[i].wpath = PyUnicode_AsWideCharString(item, NULL);
            if (items[i].wpath == NULL)
                goto finish;
#else
            if (!PyUnicode_FSConverter(item, &items[i].path))
                goto finish;
#endif
        } else if (PyObject_CheckBuffer(item)) {
            if (PyObject_GetBuffer(item, &items[i].view, PyBUF_SIMPLE) != 0)
                goto finish;
            items[i].have_view = 1;
        } else {
            PyErr_Format(PyExc_TypeError, "count_chunk: item %zd is %.100s, not a str path or bytes-like object",
                         i, Py_TYPE(item)->tp_name);
            goto finish;
        }
    }

    memset(&ctx, 0, sizeof ctx);
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        seg_result *res = &results[i];
        if (items[i].is_path) {
            size_t size = 0;
            int err = read_path(&ctx, &items[i], &size);
            if (err == ENOMEM) {
                res->code = SEG_NO_MEMORY;
            } else if (err != 0) {
                res->code = SEG_OS_ERROR;
                res->os_errno = err;
            } else {
                seg_decode(&ctx, ctx.file, size, &opt, res);
            }
        } else {
            seg_decode(&ctx, (const uint8_t *)items[i].view.buf, (size_t)items[i].view.len, &opt, res);
        }
        if (res->code == SEG_NO_MEMORY) {
            no_memory = 1;
            break;
        }
    }
    seg_context_free(&ctx);
    Py_END_ALLOW_THREADS

    if (no_memory) {
        PyErr_NoMemory();
        goto finish;
    }
    out = PyList_New(n);
    if (out == NULL)
        goto finish;
    for (i = 0; i < n; i++) {
        PyObject *tuple = result_tuple(&results[i], have_dense ? (int64_t *)dense_view.buf : NULL, i);
        if (tuple == NULL) {
            Py_CLEAR(out);
            goto finish;
        }
        PyList_SET_ITEM(out, i, tuple);
    }

finish:
    if (items != NULL)
        release_items(items, n); /* calloc'd: the items not reached hold nothing */
    if (results != NULL) {
        for (i = 0; i < n; i++) {
            free(results[i].values);
            free(results[i].counts);
        }
    }
    PyMem_Free(items);
    PyMem_Free(results);
    if (have_dense)
        PyBuffer_Release(&dense_view);
    Py_DECREF(sequence);
    return out;
}

static PyObject *inflate_backend(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(use_libdeflate ? "libdeflate" : "zlib");
}

static PyObject *set_inflate(PyObject *self, PyObject *arg)
{
    const char *name;
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "set_inflate: 'libdeflate', 'zlib' or 'auto'");
        return NULL;
    }
    name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    if (strcmp(name, "zlib") == 0) {
        use_libdeflate = 0;
    } else if (strcmp(name, "libdeflate") == 0 || strcmp(name, "auto") == 0) {
        if (!seg_libdeflate_available() && strcmp(name, "libdeflate") == 0) {
            PyErr_SetString(PyExc_RuntimeError, "set_inflate: libdeflate's library was not found");
            return NULL;
        }
        use_libdeflate = seg_libdeflate_available();
    } else {
        PyErr_SetString(PyExc_ValueError, "set_inflate: 'libdeflate', 'zlib' or 'auto'");
        return NULL;
    }
    return inflate_backend(self, NULL);
}

static PyMethodDef methods[] = {
    {"count_chunk", (PyCFunction)(void (*)(void))count_chunk, METH_VARARGS | METH_KEYWORDS,
     "count_chunk(items, max_pixels, check_only=False, plain=False, dense=None) -> list[tuple]\n\n"
     "Check and count the label PNGs in items (str paths or bytes-like objects), GIL released.\n"
     "dense: a zeroed (len(items), 256) native int64 array; counted files whose values are\n"
     "all below 256 are written into their row and reported as (5, width, height, ...)."},
    {"inflate_backend", inflate_backend, METH_NOARGS, "inflate_backend() -> 'libdeflate' or 'zlib'"},
    {"set_inflate", set_inflate, METH_O,
     "set_inflate(name) -> str: use 'zlib', 'libdeflate' or 'auto' from now on (for tests)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "segstats._native",
                                    "The compiled label-PNG reader of segstats.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    const char *forced = getenv("SEGSTATS_INFLATE");
    if (m == NULL)
        return NULL;
    seg_libdeflate_load();
    use_libdeflate = seg_libdeflate_available() && !(forced != NULL && strcmp(forced, "zlib") == 0);
    if (PyModule_AddStringConstant(m, "__version__", "1") != 0 || PyModule_AddIntConstant(m, "ABI", SEG_ABI) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
