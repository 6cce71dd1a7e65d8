/* The rolling weak checksum of a 4 KiB window (rsync's, with a 32-bit key),
 * kept per page in the sender's page index (common/fpindex.h, version 2).
 *
 * Why: a resend of an image whose content moved by a few bytes (a line put
 * in front of a file) finds no page of the previous version at the same
 * offset. The sender rolls this sum over the new data one byte at a time,
 * looks the key up among the previous version's pages, and confirms a hit
 * with the page's XXH3-128. The sum must therefore be cheap to roll (two
 * adds and a shift per byte, dwcp_weaksum_roll) and a whole page must be
 * cheap to sum, since every page of every send is summed once
 * (dwcp_weaksum_impl.page: AVX2 where the CPU has it).
 *
 * Over a window x[0..W-1], W = 4096, all arithmetic mod 2^32:
 *
 *     a = sum x[i]            b = sum (W - i) * x[i]
 *
 * Rolling by one byte (x_out leaves at the front, x_in enters at the back):
 *
 *     a' = a - x_out + x_in   b' = b - W * x_out + a'
 *
 * The stored and looked-up key mixes both halves with two odd multipliers
 * (dwcp_weaksum_key), so that a and b each reach all 32 bits.
 *
 * Concurrency: every function is reentrant and allocation-free; an impl
 * struct is read-only after it is filled and may be shared by threads.
 */
#ifndef DWCP_COMMON_OPS_WEAKSUM_H
#define DWCP_COMMON_OPS_WEAKSUM_H

#include <stdint.h>

#include "common/cpu.h"

/** The window the sum covers: one page of the index. */
#define DWCP_WEAKSUM_WINDOW 4096u

/** The two halves of the sum of one window (see the file comment). */
struct dwcp_weaksum {
	uint32_t a, b;
};

struct dwcp_weaksum_impl {
	/**
	 * Set @p s to the sum of exactly DWCP_WEAKSUM_WINDOW bytes at @p p
	 * (any alignment). A shorter last page is summed zero-padded: the
	 * caller pads it.
	 */
	void (*page)(const uint8_t *p, struct dwcp_weaksum *s);
	const char *name;   /* "scalar", "avx2" */
};

/** Fill @p impl with the fastest code path @p cpu can run. */
void dwcp_weaksum_select(struct dwcp_weaksum_impl *impl, const struct dwcp_cpu_features *cpu);

/**
 * The 32-bit key of a sum, what the page index stores and a matcher looks
 * up: (a * 0x9E3779B1) ^ (b * 0x85EBCA77), mod 2^32.
 */
static inline uint32_t dwcp_weaksum_key(const struct dwcp_weaksum *s)
{
	return (s->a * 0x9E3779B1u) ^ (s->b * 0x85EBCA77u);
}

/**
 * Slide the window of @p s one byte on: @p out is the byte that leaves
 * (the window's first), @p in the byte that enters (the one just past its
 * last). The result equals dwcp_weaksum_impl.page of the moved window.
 */
static inline void dwcp_weaksum_roll(struct dwcp_weaksum *s, uint8_t out, uint8_t in)
{
	s->a = s->a - out + in;
	s->b = s->b - DWCP_WEAKSUM_WINDOW * out + s->a;
}

#endif
