/* Log-linear latency histogram, laid out for shared memory.
 *
 * Values (nanoseconds, or any u64) fall in buckets whose width grows with
 * the magnitude: below 2^SUB_BITS each value has its own bucket, above it
 * each power of two is split into 2^SUB_BITS linear sub-buckets. The
 * relative error of a reported percentile is at most 2^-SUB_BITS (1.6 %),
 * which is what P99.99 of a latency needs, in a fixed 30 KiB.
 *
 * Synchronization:
 *   writer   | one thread of one process (the service owning the block)
 *   readers  | any process, any time, no lock: they may see a record half
 *            | applied (count bumped, bucket not yet), which only skews a
 *            | snapshot by one sample.
 * All fields are u64 updated with relaxed atomic stores by the single
 * writer, so a reader never sees a torn value.
 */
#ifndef DWCP_COMMON_HIST_H
#define DWCP_COMMON_HIST_H

#include <stdint.h>

#define DWCP_HIST_SUB_BITS 6
#define DWCP_HIST_SUB      (1u << DWCP_HIST_SUB_BITS)
/* Bucket groups: group 0 holds [0, 2^SUB), group g>0 holds
 * [2^(SUB+g-1), 2^(SUB+g)), covering all of u64. */
#define DWCP_HIST_GROUPS   (64 - DWCP_HIST_SUB_BITS + 1)
#define DWCP_HIST_BUCKETS  (DWCP_HIST_GROUPS * DWCP_HIST_SUB)

struct dwcp_hist {
	uint64_t count;   /* writer: owner; number of recorded values */
	uint64_t sum;     /* writer: owner; sum of values (wraps, fine for rates) */
	uint64_t min;     /* writer: owner; UINT64_MAX when empty */
	uint64_t max;     /* writer: owner */
	uint64_t buckets[DWCP_HIST_BUCKETS];
};

/** Make @p h empty. Only the writer (or a reader's private copy). */
void dwcp_hist_reset(struct dwcp_hist *h);
/** Record one value. Concurrency: single writer; readers may run beside. */
void dwcp_hist_record(struct dwcp_hist *h, uint64_t v);
/** Bucket index of @p v (exposed for tests). */
unsigned dwcp_hist_index(uint64_t v);
/** Smallest value that maps to bucket @p idx. */
uint64_t dwcp_hist_bucket_low(unsigned idx);
/** Largest value that maps to bucket @p idx. */
uint64_t dwcp_hist_bucket_high(unsigned idx);
/** Copy @p src into private @p dst with relaxed atomic loads (a reader). */
void dwcp_hist_snapshot(struct dwcp_hist *dst, const struct dwcp_hist *src);
/** dst = a - b, bucket by bucket (interval between two snapshots).
 *  min/max of the result are derived from its non-empty buckets. */
void dwcp_hist_diff(struct dwcp_hist *dst, const struct dwcp_hist *a, const struct dwcp_hist *b);
/** dst += src (e.g. to merge several services' histograms). */
void dwcp_hist_merge(struct dwcp_hist *dst, const struct dwcp_hist *src);
/**
 * Value at percentile @p p (0 < p <= 100) of a snapshot: the upper edge of
 * the bucket holding the ceil(p/100 * count)-th smallest value, clamped to
 * [min, max]. Returns 0 for an empty histogram.
 */
uint64_t dwcp_hist_percentile(const struct dwcp_hist *h, double p);

#endif
