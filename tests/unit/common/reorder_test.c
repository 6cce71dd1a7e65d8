/* Reorder window tests (common/reorder.h): chunks offered in any order
 * must come out exactly once each and strictly by sequence number, with
 * duplicates and too-far sequence numbers refused, counted and left with
 * the caller. The large runs feed 100k sequence numbers the way a sender
 * would: a refused (-ENOBUFS) chunk is NACKed and offered again later.
 * Sequence numbers near UINT64_MAX check that the window crosses the wrap
 * with a window size that is not a power of two. Items are the sequence
 * number xor a key cast to a pointer, so a wrong item names its own seq.
 * A failure prints the window's stats. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/reorder.h"
#include "tests/lib/util.h"

#define ITEM_KEY 0x5555555555555555ull   /* never a seq here, so no item is NULL */
#define ITEM(seq) ((void *)(uintptr_t)((uint64_t)(seq) ^ ITEM_KEY))
#define SEQ_OF(item) ((uint64_t)(uintptr_t)(item) ^ ITEM_KEY)

static struct dwcp_reorder_stats stats_of(const struct dwcp_reorder *r)
{
	struct dwcp_reorder_stats st;

	dwcp_reorder_stats(r, &st);
	return st;
}

#define assert_stats(r, next_, held_, rel_, dup_, far_)                                        \
	do {                                                                                   \
		struct dwcp_reorder_stats st_ = stats_of(r);                                   \
		cr_assert(st_.next == (next_) && st_.held == (held_) &&                        \
				  st_.released == (rel_) && st_.duplicates == (dup_) &&        \
				  st_.too_far == (far_),                                       \
			  "stats next %lu held %u released %lu duplicates %lu too_far %lu, "   \
			  "expected %lu %u %lu %lu %lu",                                       \
			  st_.next, st_.held, st_.released, st_.duplicates, st_.too_far,       \
			  (uint64_t)(next_), (uint32_t)(held_), (uint64_t)(rel_),              \
			  (uint64_t)(dup_), (uint64_t)(far_));                                 \
	} while (0)

static struct dwcp_reorder *new_window(uint32_t window, uint64_t first)
{
	struct dwcp_reorder *r = dwcp_reorder_create(window, first);

	cr_assert(r != NULL, "create(%u, %lu) failed: %s", window, first, strerror(errno));
	return r;
}

/* Pop everything ready; each must be the expected next seq. */
static uint64_t drain(struct dwcp_reorder *r, uint64_t *expect)
{
	uint64_t n = 0, seq;
	void *item;

	while ((item = dwcp_reorder_pop(r, &seq)) != NULL) {
		struct dwcp_reorder_stats st = stats_of(r);

		cr_assert_eq(seq, *expect, "popped seq %lu, expected %lu (next now %lu, held %u)",
			     seq, *expect, st.next, st.held);
		cr_assert_eq(SEQ_OF(item), seq, "seq %lu came out with the item of seq %lu", seq,
			     SEQ_OF(item));
		(*expect)++;
		n++;
	}
	return n;
}

Test(reorder, create_checks_the_window_size)
{
	errno = 0;
	cr_assert_null(dwcp_reorder_create(0, 0), "window 0 accepted");
	cr_assert_eq(errno, EINVAL, "window 0: errno %d", errno);
	errno = 0;
	cr_assert_null(dwcp_reorder_create(DWCP_REORDER_WINDOW_MAX + 1, 0), "window max+1 accepted");
	cr_assert_eq(errno, EINVAL, "window max+1: errno %d", errno);

	struct dwcp_reorder *r = new_window(DWCP_REORDER_WINDOW_MAX, 7);

	cr_assert_eq(dwcp_reorder_put(r, 7 + DWCP_REORDER_WINDOW_MAX - 1, ITEM(1)), 0,
		     "last slot of the largest window refused");
	cr_assert_eq(dwcp_reorder_put(r, 7 + DWCP_REORDER_WINDOW_MAX, ITEM(2)), -ENOBUFS,
		     "one past the largest window accepted");
	cr_assert_null(dwcp_reorder_pop(r, NULL), "popped before seq 7 arrived");
	assert_stats(r, 7, 1, 0, 0, 1);
	dwcp_reorder_destroy(r, NULL, NULL);
	dwcp_reorder_destroy(NULL, NULL, NULL);
}

Test(reorder, in_order_passes_straight_through)
{
	struct dwcp_reorder *r = new_window(1, 0);
	uint64_t expect = 0;

	cr_assert_null(dwcp_reorder_pop(r, NULL), "pop of an empty window returned an item");
	for (uint64_t s = 0; s < 1000; s++) {
		cr_assert_eq(dwcp_reorder_put(r, s, ITEM(s)), 0, "in-order seq %lu refused", s);
		cr_assert_eq(dwcp_reorder_put(r, s + 1, ITEM(s + 1)), -ENOBUFS,
			     "window 1 took seq %lu before %lu left", s + 1, s);
		cr_assert_eq(drain(r, &expect), 1u, "seq %lu not released at once", s);
	}
	assert_stats(r, 1000, 0, 1000, 0, 1000);
	dwcp_reorder_destroy(r, NULL, NULL);
}

Test(reorder, reversed_fill_releases_all_at_once)
{
	struct dwcp_reorder *r = new_window(256, 1000);
	uint64_t expect = 1000;

	for (uint64_t s = 1000 + 255; s > 1000; s--) {
		cr_assert_eq(dwcp_reorder_put(r, s, ITEM(s)), 0, "seq %lu refused", s);
		cr_assert_null(dwcp_reorder_pop(r, NULL), "pop before seq 1000 arrived (put %lu)", s);
	}
	assert_stats(r, 1000, 255, 0, 0, 0);
	cr_assert_eq(dwcp_reorder_put(r, 1000, ITEM(1000)), 0, "first seq refused");
	cr_assert_eq(drain(r, &expect), 256u, "the filled window did not drain whole");
	assert_stats(r, 1256, 0, 256, 0, 0);
	dwcp_reorder_destroy(r, NULL, NULL);
}

/* Offer seqs in the order of @p order; a refused one goes to the back of
 * the queue (the sender's resend after a NACK). Returns the puts refused. */
static uint64_t run_with_resends(struct dwcp_reorder *r, uint64_t first, const uint64_t *order,
				 size_t n)
{
	uint64_t *q = dwcp_test_xmalloc(2 * n * sizeof(*q));
	size_t head = 0, tail = n, cap = 2 * n;
	uint64_t expect = first, refused = 0;

	memcpy(q, order, n * sizeof(*q));
	while (head != tail) {
		uint64_t s = q[head];
		int rc;

		head = (head + 1) % cap;
		rc = dwcp_reorder_put(r, s, ITEM(s));
		if (rc == -ENOBUFS) {
			q[tail] = s;
			tail = (tail + 1) % cap;
			refused++;
			continue;
		}
		cr_assert_eq(rc, 0, "seq %lu: put returned %d (next %lu)", s, rc, stats_of(r).next);
		drain(r, &expect);
	}
	cr_assert_eq(expect, first + n, "only %lu of %zu seqs came out", expect - first, n);
	free(q);
	return refused;
}

static uint64_t *permutation(size_t n, uint64_t first, uint64_t seed)
{
	uint64_t *p = dwcp_test_xmalloc(n * sizeof(*p));

	for (size_t i = 0; i < n; i++)
		p[i] = first + i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = dwcp_test_rand(&seed) % (i + 1);
		uint64_t t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

Test(reorder, random_permutations_of_100k_come_out_in_order)
{
	const size_t n = 100000;

	for (uint64_t seed = 1; seed <= 3; seed++) {
		/* the last run starts just below the 2^64 wrap */
		uint64_t first = seed == 3 ? UINT64_MAX - n / 2 : seed * 12345;
		uint64_t *p = permutation(n, first, seed * 0x9E3779B97F4A7C15ull);
		struct dwcp_reorder *r = new_window(256, first);
		uint64_t refused = run_with_resends(r, first, p, n);

		cr_assert_gt(refused, 0u, "a random permutation never hit the window limit");
		assert_stats(r, first + n, 0, n, 0, refused);
		dwcp_reorder_destroy(r, NULL, NULL);
		free(p);
	}
}

/* The realistic order: 8 connections, in order within each, interleaved
 * at random (seq i on connection i % 8). */
Test(reorder, striped_connections_come_out_in_order)
{
	const size_t n = 100000, conns = 8;
	uint64_t *order = dwcp_test_xmalloc(n * sizeof(*order));
	uint64_t pos[8], seed = 42;
	struct dwcp_reorder *r = new_window(256, 0);

	for (size_t c = 0; c < conns; c++)
		pos[c] = c;
	for (size_t i = 0; i < n;) {
		size_t c = dwcp_test_rand(&seed) % conns;

		if (pos[c] < n) {
			order[i++] = pos[c];
			pos[c] += conns;
		}
	}
	uint64_t refused = run_with_resends(r, 0, order, n);

	assert_stats(r, n, 0, n, 0, refused);
	dwcp_reorder_destroy(r, NULL, NULL);
	free(order);
}

Test(reorder, duplicates_are_refused_before_and_after_release)
{
	struct dwcp_reorder *r = new_window(16, 100);
	uint64_t expect = 100;

	cr_assert_eq(dwcp_reorder_put(r, 105, ITEM(105)), 0, "seq 105 refused");
	cr_assert_eq(dwcp_reorder_put(r, 105, ITEM(999)), -EALREADY, "held seq 105 taken twice");
	cr_assert_eq(dwcp_reorder_put(r, 99, ITEM(99)), -EALREADY, "seq below first_seq taken");
	for (uint64_t s = 100; s < 105; s++)
		cr_assert_eq(dwcp_reorder_put(r, s, ITEM(s)), 0, "seq %lu refused", s);
	cr_assert_eq(drain(r, &expect), 6u, "100..105 not released");
	/* released: every one of them is behind next now */
	for (uint64_t s = 100; s <= 105; s++)
		cr_assert_eq(dwcp_reorder_put(r, s, ITEM(s)), -EALREADY, "released seq %lu taken again",
			     s);
	/* a released seq's slot now belongs to seq + 16: still a duplicate */
	cr_assert_eq(dwcp_reorder_put(r, 100 + 16, ITEM(116)), 0, "seq 116 refused");
	cr_assert_eq(dwcp_reorder_put(r, 100, ITEM(100)), -EALREADY, "seq 100 taken over 116");
	cr_assert_null(dwcp_reorder_pop(r, NULL), "popped before seq 106 arrived");
	assert_stats(r, 106, 1, 6, 9, 0);
	cr_assert_eq(dwcp_reorder_put(r, 106, NULL), -EINVAL, "NULL item accepted");
	dwcp_reorder_destroy(r, NULL, NULL);
}

Test(reorder, too_far_is_refused_and_counted)
{
	struct dwcp_reorder *r = new_window(8, 0);

	cr_assert_eq(dwcp_reorder_put(r, 8, ITEM(8)), -ENOBUFS, "seq 8 taken by window 0..7");
	cr_assert_eq(dwcp_reorder_put(r, 1000000, ITEM(1)), -ENOBUFS, "seq 1e6 taken");
	cr_assert_eq(dwcp_reorder_put(r, (UINT64_C(1) << 63) - 1, ITEM(1)), -ENOBUFS,
		     "seq 2^63-1 taken");
	cr_assert_eq(dwcp_reorder_put(r, 7, ITEM(7)), 0, "seq 7 refused");
	assert_stats(r, 0, 1, 0, 0, 3);
	/* once 0 is out, 8 fits */
	cr_assert_eq(dwcp_reorder_put(r, 0, ITEM(0)), 0, "seq 0 refused");
	cr_assert_not_null(dwcp_reorder_pop(r, NULL), "seq 0 not released");
	cr_assert_eq(dwcp_reorder_put(r, 8, ITEM(8)), 0, "seq 8 refused after seq 0 left");
	assert_stats(r, 1, 2, 1, 0, 3);
	dwcp_reorder_destroy(r, NULL, NULL);
}

/* Window 3 does not divide 2^64, so seq % 3 jumps at the wrap: the slots
 * must follow the distance to next, not the number. */
Test(reorder, crosses_the_2_64_wrap)
{
	const uint64_t first = UINT64_MAX - 4;
	struct dwcp_reorder *r = new_window(3, first);
	uint64_t expect = first;

	for (uint64_t i = 0; i < 30; i += 3) {
		uint64_t a = first + i;

		cr_assert_eq(dwcp_reorder_put(r, a + 2, ITEM(a + 2)), 0, "seq %lu refused", a + 2);
		cr_assert_eq(dwcp_reorder_put(r, a + 1, ITEM(a + 1)), 0, "seq %lu refused", a + 1);
		cr_assert_eq(dwcp_reorder_put(r, a + 3, ITEM(a + 3)), -ENOBUFS, "seq %lu taken",
			     a + 3);
		cr_assert_eq(dwcp_reorder_put(r, a - 1, ITEM(a - 1)), -EALREADY,
			     "seq %lu (behind next %lu) taken", a - 1, a);
		cr_assert_eq(dwcp_reorder_put(r, a, ITEM(a)), 0, "seq %lu refused", a);
		cr_assert_eq(drain(r, &expect), 3u, "seqs %lu..%lu not released", a, a + 2);
	}
	assert_stats(r, first + 30, 0, 30, 10, 10);
	dwcp_reorder_destroy(r, NULL, NULL);
}

struct free_log {
	unsigned freed[64];
	unsigned calls;
};

static void count_free(void *ctx, void *item)
{
	struct free_log *log = ctx;
	uint64_t s = SEQ_OF(item);

	cr_assert_lt(s, 64u, "free_item got a foreign item %p", item);
	log->freed[s]++;
	log->calls++;
}

Test(reorder, destroy_frees_each_held_item_exactly_once)
{
	struct free_log log = { .calls = 0 };
	struct dwcp_reorder *r = new_window(32, 0);
	uint64_t expect = 0;

	/* 0..3 released; 5, 9, 31 held; 40 refused; duplicate of 9 refused */
	for (uint64_t s = 0; s < 4; s++)
		cr_assert_eq(dwcp_reorder_put(r, s, ITEM(s)), 0, "seq %lu refused", s);
	drain(r, &expect);
	cr_assert_eq(dwcp_reorder_put(r, 5, ITEM(5)), 0, "seq 5 refused");
	cr_assert_eq(dwcp_reorder_put(r, 9, ITEM(9)), 0, "seq 9 refused");
	cr_assert_eq(dwcp_reorder_put(r, 9, ITEM(10)), -EALREADY, "duplicate 9 taken");
	cr_assert_eq(dwcp_reorder_put(r, 35, ITEM(35)), 0, "seq 35 (last slot) refused");
	cr_assert_eq(dwcp_reorder_put(r, 40, ITEM(40)), -ENOBUFS, "seq 40 taken");
	assert_stats(r, 4, 3, 4, 1, 1);
	dwcp_reorder_destroy(r, count_free, &log);
	cr_assert_eq(log.calls, 3u, "free_item called %u times for 3 held items", log.calls);
	for (unsigned s = 0; s < 64; s++) {
		unsigned want = (s == 5 || s == 9 || s == 35) ? 1 : 0;

		cr_assert_eq(log.freed[s], want, "item of seq %u freed %u times, expected %u", s,
			     log.freed[s], want);
	}
}

Test(reorder, pop_reports_seq_only_when_asked)
{
	struct dwcp_reorder *r = new_window(4, 10);
	uint64_t seq = 12345;

	cr_assert_eq(dwcp_reorder_put(r, 11, ITEM(11)), 0, "seq 11 refused");
	cr_assert_null(dwcp_reorder_pop(r, &seq), "popped before seq 10");
	cr_assert_eq(seq, 12345u, "pop wrote *seq without an item");
	cr_assert_eq(dwcp_reorder_put(r, 10, ITEM(10)), 0, "seq 10 refused");
	cr_assert_eq(dwcp_reorder_pop(r, NULL), ITEM(10), "seq 10 not first");
	cr_assert_eq(dwcp_reorder_pop(r, &seq), ITEM(11), "seq 11 not second");
	cr_assert_eq(seq, 11u, "pop reported seq %lu", seq);
	dwcp_reorder_destroy(r, NULL, NULL);
}
