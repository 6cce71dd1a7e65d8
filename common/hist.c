/* Log-linear histogram (see hist.h for the layout and who writes what).
 *
 * Bucket arithmetic: a value below 2^SUB is its own bucket. Above, with m
 * the index of its top set bit (m >= SUB), it lies in group g = m - SUB + 1,
 * which spans [2^m, 2^(m+1)) in 2^SUB sub-buckets of width 2^(m-SUB); the
 * sub-bucket is the SUB bits below the top bit. So the index is a shift and
 * a mask, and the last bucket of the last group ends exactly at UINT64_MAX.
 * Bounds are computed as low + (width - 1) so nothing overflows.
 *
 * The single writer updates every field with a relaxed load and a relaxed
 * store instead of an atomic read-modify-write: nobody else writes, so a
 * locked instruction would buy nothing on the fast path; relaxed atomics
 * are still needed so a reader in another process never sees a torn value.
 * Readers (snapshot, diff, merge) read shared fields with relaxed loads.
 */
#include <stddef.h>

#include "common/hist.h"

_Static_assert(sizeof(struct dwcp_hist) == (4 + DWCP_HIST_BUCKETS) * sizeof(uint64_t),
	       "dwcp_hist must have no padding: it lives in shared memory");
_Static_assert(DWCP_HIST_BUCKETS == 3776, "59 groups of 64 buckets");

static inline uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

unsigned dwcp_hist_index(uint64_t v)
{
	unsigned top, group, sub;

	if (v < DWCP_HIST_SUB)
		return (unsigned)v;
	top = 63u - (unsigned)__builtin_clzll(v);
	group = top - DWCP_HIST_SUB_BITS + 1;
	sub = (unsigned)(v >> (top - DWCP_HIST_SUB_BITS)) & (DWCP_HIST_SUB - 1);
	return group * DWCP_HIST_SUB + sub;
}

/* Width of every bucket in the group of bucket @p idx. */
static uint64_t bucket_width(unsigned idx)
{
	unsigned group = idx / DWCP_HIST_SUB;

	return group == 0 ? 1 : 1ull << (group - 1);
}

uint64_t dwcp_hist_bucket_low(unsigned idx)
{
	unsigned group = idx / DWCP_HIST_SUB;
	uint64_t sub = idx % DWCP_HIST_SUB;

	if (group == 0)
		return sub;
	return (DWCP_HIST_SUB + sub) << (group - 1);
}

uint64_t dwcp_hist_bucket_high(unsigned idx)
{
	return dwcp_hist_bucket_low(idx) + (bucket_width(idx) - 1);
}

void dwcp_hist_reset(struct dwcp_hist *h)
{
	st(&h->count, 0);
	st(&h->sum, 0);
	st(&h->min, UINT64_MAX);
	st(&h->max, 0);
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++)
		st(&h->buckets[i], 0);
}

/* The count goes first: a reader racing with us sees at worst one sample
 * counted but not yet in its bucket (hist.h). */
void dwcp_hist_record(struct dwcp_hist *h, uint64_t v)
{
	uint64_t *b = &h->buckets[dwcp_hist_index(v)];

	st(&h->count, ld(&h->count) + 1);
	st(&h->sum, ld(&h->sum) + v);
	if (v < ld(&h->min))
		st(&h->min, v);
	if (v > ld(&h->max))
		st(&h->max, v);
	st(b, ld(b) + 1);
}

void dwcp_hist_snapshot(struct dwcp_hist *dst, const struct dwcp_hist *src)
{
	dst->count = ld(&src->count);
	dst->sum = ld(&src->sum);
	dst->min = ld(&src->min);
	dst->max = ld(&src->max);
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++)
		dst->buckets[i] = ld(&src->buckets[i]);
}

/* Set min/max of @p h from the edges of its outermost non-empty buckets. */
static void bounds_from_buckets(struct dwcp_hist *h)
{
	unsigned lo = 0, hi = DWCP_HIST_BUCKETS;

	while (lo < DWCP_HIST_BUCKETS && h->buckets[lo] == 0)
		lo++;
	if (lo == DWCP_HIST_BUCKETS) {
		h->min = UINT64_MAX;
		h->max = 0;
		return;
	}
	while (h->buckets[hi - 1] == 0)
		hi--;
	h->min = dwcp_hist_bucket_low(lo);
	h->max = dwcp_hist_bucket_high(hi - 1);
}

/* The count is the sum of the bucket differences rather than
 * a->count - b->count, so a percentile rank never points past the last
 * bucket when a snapshot caught a record half applied. A bucket that
 * shrank (the writer reset between the snapshots) counts as empty. */
void dwcp_hist_diff(struct dwcp_hist *dst, const struct dwcp_hist *a, const struct dwcp_hist *b)
{
	uint64_t count = 0;
	uint64_t sum = ld(&a->sum) - ld(&b->sum);

	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++) {
		uint64_t x = ld(&a->buckets[i]), y = ld(&b->buckets[i]);

		dst->buckets[i] = x > y ? x - y : 0;
		count += dst->buckets[i];
	}
	dst->count = count;
	dst->sum = sum;
	bounds_from_buckets(dst);
}

void dwcp_hist_merge(struct dwcp_hist *dst, const struct dwcp_hist *src)
{
	uint64_t smin = ld(&src->min), smax = ld(&src->max);

	dst->count += ld(&src->count);
	dst->sum += ld(&src->sum);
	if (smin < dst->min)
		dst->min = smin;
	if (smax > dst->max)
		dst->max = smax;
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++)
		dst->buckets[i] += ld(&src->buckets[i]);
}

/* 1-based rank of the value at percentile @p p among @p count values:
 * ceil(p/100 * count), kept in [1, count]. The product is shrunk by a
 * relative 1e-12 first so that e.g. 99.99 % of 10^6, which binary floating
 * point computes as 999900.0000000001, gives rank 999900 and not 999901. */
static uint64_t percentile_rank(uint64_t count, double p)
{
	double exact = p / 100.0 * (double)count;
	double r = exact - exact * 1e-12;
	uint64_t rank;

	if (!(r > 1.0))
		return 1;
	if (r >= (double)count)
		return count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	return rank;
}

uint64_t dwcp_hist_percentile(const struct dwcp_hist *h, double p)
{
	uint64_t count = ld(&h->count), min = ld(&h->min), max = ld(&h->max);
	uint64_t rank, seen = 0, v = max;

	if (count == 0)
		return 0;
	rank = percentile_rank(count, p);
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++) {
		seen += ld(&h->buckets[i]);
		if (seen >= rank) {
			v = dwcp_hist_bucket_high(i);
			break;
		}
	}
	if (min > max)          /* snapshot raced the first record */
		return v;
	if (v > max)
		v = max;
	if (v < min)
		v = min;
	return v;
}
