/* Histogram tests: the bucket map must tile all of u64 with no gap or
 * overlap and keep every bucket within 1/64 of its value, because the
 * percentile error bound in hist.h rests on exactly that; percentiles,
 * diff and merge are then checked against distributions whose exact
 * answers are known. A failure prints the bucket index and its edges. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/hist.h"

static struct dwcp_hist *new_hist(void)
{
	struct dwcp_hist *h = malloc(sizeof(*h));

	cr_assert(h != NULL, "out of memory");
	memset(h, 0xEE, sizeof(*h));   /* reset must clear everything */
	dwcp_hist_reset(h);
	return h;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void assert_in_bucket(uint64_t v)
{
	unsigned i = dwcp_hist_index(v);
	uint64_t lo, hi;

	cr_assert_lt(i, DWCP_HIST_BUCKETS, "value %lu -> index %u out of range", v, i);
	lo = dwcp_hist_bucket_low(i);
	hi = dwcp_hist_bucket_high(i);
	cr_assert(lo <= v && v <= hi, "value %lu -> bucket %u = [%lu, %lu]", v, i, lo, hi);
}

Test(hist, buckets_tile_u64_contiguously)
{
	cr_assert_eq(dwcp_hist_bucket_low(0), 0u, "first bucket starts at %lu",
		     dwcp_hist_bucket_low(0));
	cr_assert_eq(dwcp_hist_bucket_high(DWCP_HIST_BUCKETS - 1), UINT64_MAX,
		     "last bucket ends at %lu", dwcp_hist_bucket_high(DWCP_HIST_BUCKETS - 1));
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++) {
		uint64_t lo = dwcp_hist_bucket_low(i), hi = dwcp_hist_bucket_high(i);

		cr_assert_leq(lo, hi, "bucket %u = [%lu, %lu] inverted", i, lo, hi);
		cr_assert_eq(dwcp_hist_index(lo), i, "low %lu of bucket %u maps to %u", lo, i,
			     dwcp_hist_index(lo));
		cr_assert_eq(dwcp_hist_index(hi), i, "high %lu of bucket %u maps to %u", hi, i,
			     dwcp_hist_index(hi));
		if (i + 1 < DWCP_HIST_BUCKETS)
			cr_assert_eq(dwcp_hist_bucket_low(i + 1), hi + 1,
				     "gap/overlap: bucket %u ends at %lu, bucket %u starts at %lu",
				     i, hi, i + 1, dwcp_hist_bucket_low(i + 1));
	}
}

Test(hist, group0_is_exact)
{
	for (uint64_t v = 0; v < DWCP_HIST_SUB; v++) {
		cr_assert_eq(dwcp_hist_index(v), v, "value %lu -> index %u", v, dwcp_hist_index(v));
		cr_assert_eq(dwcp_hist_bucket_high(v), v, "bucket %lu ends at %lu", v,
			     dwcp_hist_bucket_high((unsigned)v));
	}
}

Test(hist, every_value_lands_in_its_bucket)
{
	static const uint64_t fixed[] = {
		0, 1, 2, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 1ull << 32,
		(1ull << 32) - 1, (1ull << 63) - 1, 1ull << 63, (1ull << 63) + 1,
		UINT64_MAX - 1, UINT64_MAX,
	};
	uint64_t seed = 12345;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		assert_in_bucket(fixed[i]);
	for (unsigned b = 0; b < 64; b++) {
		uint64_t p = 1ull << b;

		assert_in_bucket(p - 1);
		assert_in_bucket(p);
		assert_in_bucket(p + 1);
	}
	for (int n = 0; n < 200000; n++)   /* random magnitude, then random bits */
		assert_in_bucket(next_rand(&seed) >> (next_rand(&seed) % 64));
	cr_assert_eq(dwcp_hist_index(UINT64_MAX), DWCP_HIST_BUCKETS - 1u, "UINT64_MAX -> %u",
		     dwcp_hist_index(UINT64_MAX));
}

Test(hist, relative_width_at_most_one_64th)
{
	for (unsigned i = DWCP_HIST_SUB; i < DWCP_HIST_BUCKETS; i++) {
		uint64_t lo = dwcp_hist_bucket_low(i), hi = dwcp_hist_bucket_high(i);
		uint64_t width = hi - lo + 1;

		cr_assert_leq(width, lo / DWCP_HIST_SUB,
			      "bucket %u = [%lu, %lu]: width %lu > low/64", i, lo, hi, width);
	}
}

Test(hist, empty_histogram)
{
	struct dwcp_hist *h = new_hist();

	cr_assert_eq(h->count, 0u, "count %lu", h->count);
	cr_assert_eq(h->sum, 0u, "sum %lu", h->sum);
	cr_assert_eq(h->min, UINT64_MAX, "min %lu", h->min);
	cr_assert_eq(h->max, 0u, "max %lu", h->max);
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++)
		cr_assert_eq(h->buckets[i], 0u, "bucket %u = %lu after reset", i, h->buckets[i]);
	cr_assert_eq(dwcp_hist_percentile(h, 50), 0u);
	cr_assert_eq(dwcp_hist_percentile(h, 100), 0u);
	free(h);
}

Test(hist, record_updates_all_fields)
{
	struct dwcp_hist *h = new_hist();

	dwcp_hist_record(h, 0);
	dwcp_hist_record(h, UINT64_MAX);
	dwcp_hist_record(h, 1000);
	cr_assert_eq(h->count, 3u, "count %lu", h->count);
	cr_assert_eq(h->sum, 999u, "sum %lu (wraps by design)", h->sum);
	cr_assert_eq(h->min, 0u, "min %lu", h->min);
	cr_assert_eq(h->max, UINT64_MAX, "max %lu", h->max);
	cr_assert_eq(h->buckets[0], 1u, "bucket 0 = %lu", h->buckets[0]);
	cr_assert_eq(h->buckets[DWCP_HIST_BUCKETS - 1], 1u, "last bucket = %lu",
		     h->buckets[DWCP_HIST_BUCKETS - 1]);
	cr_assert_eq(h->buckets[dwcp_hist_index(1000)], 1u, "bucket of 1000 = %lu",
		     h->buckets[dwcp_hist_index(1000)]);
	free(h);
}

Test(hist, percentile_clamped_to_min_max)
{
	struct dwcp_hist *h = new_hist();

	dwcp_hist_record(h, 1000);   /* bucket [1000, 1007] */
	cr_assert_eq(dwcp_hist_bucket_high(dwcp_hist_index(1000)), 1007u);
	cr_assert_eq(dwcp_hist_percentile(h, 50), 1000u, "p50 %lu", dwcp_hist_percentile(h, 50));
	cr_assert_eq(dwcp_hist_percentile(h, 100), 1000u, "p100 %lu",
		     dwcp_hist_percentile(h, 100));
	free(h);
}

Test(hist, percentiles_of_uniform_within_error_bound)
{
	static const double ps[] = { 50, 99, 99.9, 99.99 };
	static const uint64_t exact[] = { 500000, 990000, 999000, 999900 };
	struct dwcp_hist *h = new_hist(), *s = new_hist();

	for (uint64_t v = 1; v <= 1000000; v++)
		dwcp_hist_record(h, v);
	dwcp_hist_snapshot(s, h);
	cr_assert_eq(s->count, 1000000u, "count %lu", s->count);
	cr_assert_eq(s->sum, 500000500000u, "sum %lu", s->sum);
	for (int i = 0; i < 4; i++) {
		uint64_t got = dwcp_hist_percentile(s, ps[i]);
		double rel = fabs((double)got - (double)exact[i]) / (double)exact[i];

		cr_assert(rel <= 0.016, "p%g = %lu, exact %lu, error %.4f%%", ps[i], got, exact[i],
			  rel * 100);
		cr_assert_geq(got, exact[i], "p%g = %lu below exact %lu (upper edge expected)",
			      ps[i], got, exact[i]);
	}
	cr_assert_eq(dwcp_hist_percentile(s, 100), 1000000u, "p100 %lu",
		     dwcp_hist_percentile(s, 100));
	cr_assert_eq(dwcp_hist_percentile(s, 0.0001), 1u, "p0.0001 %lu",
		     dwcp_hist_percentile(s, 0.0001));
	free(h);
	free(s);
}

Test(hist, snapshot_copies_everything)
{
	struct dwcp_hist *h = new_hist(), *s = new_hist();

	for (uint64_t v = 0; v < 100000; v += 7)
		dwcp_hist_record(h, v * v);
	dwcp_hist_snapshot(s, h);
	cr_assert(memcmp(s, h, sizeof(*h)) == 0, "snapshot differs (count %lu vs %lu)",
		  s->count, h->count);
	free(h);
	free(s);
}

Test(hist, diff_is_the_interval)
{
	struct dwcp_hist *h = new_hist(), *early = new_hist(), *late = new_hist();
	struct dwcp_hist *d = new_hist(), *only = new_hist();

	for (uint64_t v = 1; v <= 1000; v++)
		dwcp_hist_record(h, v);
	dwcp_hist_snapshot(early, h);
	for (uint64_t v = 5000; v <= 9000; v += 3) {
		dwcp_hist_record(h, v);
		dwcp_hist_record(only, v);
	}
	dwcp_hist_snapshot(late, h);
	dwcp_hist_diff(d, late, early);
	cr_assert_eq(d->count, only->count, "count %lu, want %lu", d->count, only->count);
	cr_assert_eq(d->sum, only->sum, "sum %lu, want %lu", d->sum, only->sum);
	for (unsigned i = 0; i < DWCP_HIST_BUCKETS; i++)
		cr_assert_eq(d->buckets[i], only->buckets[i], "bucket %u: %lu, want %lu", i,
			     d->buckets[i], only->buckets[i]);
	cr_assert_eq(d->min, dwcp_hist_bucket_low(dwcp_hist_index(5000)), "min %lu", d->min);
	cr_assert_eq(d->max, dwcp_hist_bucket_high(dwcp_hist_index(8999)), "max %lu", d->max);
	dwcp_hist_diff(d, late, late);
	cr_assert_eq(d->count, 0u, "self-diff count %lu", d->count);
	cr_assert_eq(d->min, UINT64_MAX, "self-diff min %lu", d->min);
	cr_assert_eq(d->max, 0u, "self-diff max %lu", d->max);
	cr_assert_eq(dwcp_hist_percentile(d, 99), 0u);
	free(h); free(early); free(late); free(d); free(only);
}

Test(hist, merge_equals_recording_both)
{
	struct dwcp_hist *a = new_hist(), *b = new_hist(), *both = new_hist();
	struct dwcp_hist *empty = new_hist();

	for (uint64_t v = 10; v < 20000; v += 11) {
		dwcp_hist_record(a, v);
		dwcp_hist_record(both, v);
	}
	for (uint64_t v = 3; v < 1u << 30; v *= 3) {
		dwcp_hist_record(b, v);
		dwcp_hist_record(both, v);
	}
	dwcp_hist_merge(a, b);
	cr_assert(memcmp(a, both, sizeof(*a)) == 0,
		  "merge differs: count %lu/%lu sum %lu/%lu min %lu/%lu max %lu/%lu",
		  a->count, both->count, a->sum, both->sum, a->min, both->min, a->max, both->max);
	dwcp_hist_merge(a, empty);
	cr_assert(memcmp(a, both, sizeof(*a)) == 0, "merging an empty histogram changed it");
	dwcp_hist_merge(empty, both);
	cr_assert(memcmp(empty, both, sizeof(*a)) == 0, "merge into empty differs (min %lu)",
		  empty->min);
	free(a); free(b); free(both); free(empty);
}
