/* Small helpers shared by unit tests: a repeatable PRNG, random fill, an
 * allocation that fails the test instead of returning NULL, and the CPU's
 * XINUSE register-state probe (the vzeroupper checks of the SIMD ops). */
#ifndef DWCP_TESTS_LIB_UTIL_H
#define DWCP_TESTS_LIB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** xorshift64: repeatable from a seed (never seed with 0). */
uint64_t dwcp_test_rand(uint64_t *s);
/** @p n pseudo-random bytes from the PRNG state @p s. */
void dwcp_test_fill_random(uint8_t *p, size_t n, uint64_t *s);
/** malloc that fails the current Criterion test on NULL (n 0 allowed). */
void *dwcp_test_xmalloc(size_t n);

/* XINUSE (xgetbv 1): which register state is live. Bits 2 and 6 are the
 * upper halves of ymm0-15/zmm0-15; left set, they slow every later
 * legacy-SSE instruction of the thread (libraries built for SSE2, e.g.). */
#define DWCP_TEST_XINUSE_UPPER 0x44u

/** The live upper-YMM/ZMM bits; 0 with *ok false where the CPU lacks xgetbv 1. */
uint64_t dwcp_test_xinuse_upper(bool *ok);

#endif
