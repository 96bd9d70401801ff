/* Word-at-a-time helpers shared by the difference kernel (count.c) and the Sub path (subrows.c).
 * Words are loaded with memcpy (any alignment). */
#ifndef SEGSTATS_WORDS_H
#define SEGSTATS_WORDS_H

#include "native.h"

#include <string.h>

#if defined(_MSC_VER)
#include <intrin.h>
static __forceinline int ctz64(uint64_t x)
{
    unsigned long index;
    _BitScanForward64(&index, x);
    return (int)index;
}
#elif defined(__GNUC__) || defined(__clang__)
#define ctz64(x) __builtin_ctzll(x)
#else
static inline int ctz64(uint64_t x)
{
    int n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
}
#endif

#define LOW7 UINT64_C(0x7F7F7F7F7F7F7F7F)
#define HIGH1 UINT64_C(0x8080808080808080)
#define REPEAT8 UINT64_C(0x0101010101010101)
#define REPEAT16 UINT64_C(0x0001000100010001)

SEG_INLINE uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

SEG_INLINE void store64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ``n`` (< 8) bytes at ``p`` as a word, zero above them */
SEG_INLINE uint64_t load_partial(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

/* eight lane-wise byte additions modulo 256 (no carry between bytes) */
SEG_INLINE uint64_t add8(uint64_t x, uint64_t y) { return ((x & LOW7) + (y & LOW7)) ^ ((x ^ y) & HIGH1); }

#endif
