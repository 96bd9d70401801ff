/* Test shim, loaded with LD_PRELOAD by tests that need to see or steer how files are opened
 * by every layer, the compiled reader included (it calls open() from C, not Python's open).
 *
 * SEGSTATS_TEST_OPENLOG=FILE   append "<flags in hex> <path>" for every open/openat call.
 * SEGSTATS_TEST_DENY_OPEN=PATH opening exactly PATH fails with EACCES, as the kernel does for
 *                              a mode-000 file and a user who is not root (tests run as root here).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int steer(const char *path, int flags) {
    const char *log = getenv("SEGSTATS_TEST_OPENLOG");
    if (log != NULL && path != NULL) {
        char line[4200];
        int n = snprintf(line, sizeof line, "%x %s\n", (unsigned)flags, path);
        int fd = ((int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open"))(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            if (n > 0 && write(fd, line, (size_t)n) < 0) { /* best effort */ }
            close(fd);
        }
    }
    const char *deny = getenv("SEGSTATS_TEST_DENY_OPEN");
    if (deny != NULL && path != NULL && strcmp(deny, path) == 0) {
        errno = EACCES;
        return -1;
    }
    return 0;
}

#define WRAP_OPEN(name)                                                        \
    int name(const char *path, int flags, ...) {                               \
        mode_t mode = 0;                                                       \
        if (flags & O_CREAT) {                                                 \
            va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); \
        }                                                                      \
        if (steer(path, flags) < 0) return -1;                                 \
        int (*real)(const char *, int, ...) = dlsym(RTLD_NEXT, #name);          \
        return real(path, flags, mode);                                        \
    }

#define WRAP_OPENAT(name)                                                      \
    int name(int dirfd, const char *path, int flags, ...) {                    \
        mode_t mode = 0;                                                       \
        if (flags & O_CREAT) {                                                 \
            va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); \
        }                                                                      \
        if (steer(path, flags) < 0) return -1;                                 \
        int (*real)(int, const char *, int, ...) = dlsym(RTLD_NEXT, #name);     \
        return real(dirfd, path, flags, mode);                                 \
    }

WRAP_OPEN(open)
WRAP_OPEN(open64)
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)
