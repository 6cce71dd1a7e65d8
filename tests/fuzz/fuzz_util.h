/* Helpers shared by the libFuzzer targets (tests/fuzz/NAME_fuzz.c).
 *
 * A target reads a few leading bytes of its input as parameters (sizes,
 * a seed for how a stream is split) and the rest as the bytes under test.
 * Every input slice handed to the code under test is copied into a
 * malloc'd block of exactly its size, so that AddressSanitizer stops a
 * read one byte past it; libFuzzer's own buffer would hide an overread
 * that stays inside the rest of the input.
 *
 * FUZZ_ASSERT aborts with the broken invariant: libFuzzer treats the abort
 * as a crash and saves the input (tests/fuzz/run.sh prints its path).
 */
#ifndef DWCP_TESTS_FUZZ_UTIL_H
#define DWCP_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond, ...)                                                        \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__,    \
				__LINE__, #cond);                                     \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* The input, consumed from the front. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* Take up to @p k bytes as a little-endian integer (missing bytes are 0). */
static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned k)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < k && in->n > 0; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

/* An exact-size heap copy of @p n bytes (malloc(0) may be NULL: use 1). */
static inline uint8_t *fuzz_dup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	FUZZ_ASSERT(d != NULL, "out of memory for %zu bytes", n);
	if (n)
		memcpy(d, p, n);
	return d;
}

/* splitmix64: the piece sizes of a split stream, reproducible from a seed
 * in the input (so a crash replays with the same split). */
static inline uint64_t fuzz_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A growing byte log, to compare what two decoders produced. */
struct fuzz_log {
	uint8_t *p;
	size_t n, cap;
};

static inline void fuzz_log_put(struct fuzz_log *l, const void *p, size_t n)
{
	if (l->n + n > l->cap) {
		size_t cap = (l->cap ? l->cap * 2 : 256) + n;

		l->p = realloc(l->p, cap);
		FUZZ_ASSERT(l->p != NULL, "out of memory for a %zu-byte log", cap);
		l->cap = cap;
	}
	if (n)
		memcpy(l->p + l->n, p, n);
	l->n += n;
}

/* True when the two logs hold the same bytes. */
static inline int fuzz_log_same(const struct fuzz_log *a, const struct fuzz_log *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

#endif
