/* Reclamation tests.
 *
 * First the decision table of ipc/reclaim.h, row by row, through the pure
 * dwcp_reclaim_decide (positions on both sides of the u32 wrap included).
 *
 * Then the handoff protocol end to end on a region formatted in plain
 * memory: a service slot S (svc-simd) takes work items from a client slot
 * C over C->S and forwards them back over S->C. S's generation 3 is
 * "killed" at each step of the protocol — the structures are left exactly
 * as a process stopped at that instruction leaves them (owner words, ring
 * heads and entries written by hand where rte_ring would have been
 * interrupted) — and dwcp_reclaim_slot runs. Then:
 *   - every buffer has exactly one owner: FREE (with its free bit), one
 *     ring between its consumer and producer tails at the position its
 *     LINK word names, or HELD/WORK of a live generation;
 *   - the reclaimer's counts are the expected ones;
 *   - S's next generation adopts what it was handed, drains C->S and
 *     forwards everything to C, and C receives every work item exactly
 *     once (only a buffer that was still HELD may be lost: its sender
 *     re-sends), with every buffer back in the pool at the end.
 * The client case (redeliver = false) frees everything the client had and
 * drains its input link. Each failure prints the buffer, its decoded
 * owner word and the ring it points at. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/reclaim.h"

#define S      DWCP_SLOT_SIMD
#define C      DWCP_SLOT_CLIENT0
#define X      DWCP_SLOT_MEM      /* a bystander service */
#define DEAD   3u
#define NEXT   4u
#define CGEN   1u
#define NBUFS  128u
#define DEPTH  64u

/* ---------------------------------------------------------------------- */
/* Owner words in words                                                    */

static const char *owner_str(uint64_t w)
{
	static char bufs[8][80];
	static unsigned next;
	char *b = bufs[next++ % 8];
	static const char *kinds[] = { "FREE", "HELD", "WORK", "LINK" };

	if (w == DWCP_OWNER_FREE_WORD)
		snprintf(b, 80, "FREE");
	else if (dwcp_owner_kind(w) == DWCP_OWNER_LINK)
		snprintf(b, 80, "LINK(link %u = %u->%u, pos %u)", dwcp_owner_id(w),
			 dwcp_abi_link_src(dwcp_owner_id(w)), dwcp_abi_link_dst(dwcp_owner_id(w)),
			 dwcp_owner_low(w));
	else if (dwcp_owner_kind(w) < 4)
		snprintf(b, 80, "%s(slot %u, gen %u)", kinds[dwcp_owner_kind(w)], dwcp_owner_id(w),
			 dwcp_owner_low(w));
	else
		snprintf(b, 80, "0x%016lx", (unsigned long)w);
	return b;
}

/* ---------------------------------------------------------------------- */
/* The decision table                                                      */

struct row {
	const char *what;
	uint64_t w;
	bool redeliver;
	uint32_t prod_tail, cons_tail;
	uint64_t want;
};

#define L(src, dst, pos) dwcp_owner_link(dwcp_abi_link_id(src, dst), pos)
#define SAME UINT64_MAX   /* "unchanged" */

static void run_rows(const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		uint64_t want = r->want == SAME ? r->w : r->want;
		uint64_t got = dwcp_reclaim_decide(r->w, S, DEAD, NEXT, r->redeliver, r->prod_tail,
						   r->cons_tail);

		cr_expect_eq(got, want,
			     "row '%s': %s (slot %u dead gen %u -> %u, redeliver %d, prod tail %u, cons tail %u) became %s, expected %s",
			     r->what, owner_str(r->w), S, DEAD, NEXT, r->redeliver, r->prod_tail,
			     r->cons_tail, owner_str(got), owner_str(want));
	}
}

Test(reclaim_decide, held_and_work)
{
	const uint64_t next = dwcp_owner_work(S, NEXT), fr = DWCP_OWNER_FREE_WORD;
	const struct row rows[] = {
		{ "HELD dead gen, redeliver", dwcp_owner_held(S, DEAD), true, 0, 0, fr },
		{ "HELD dead gen, no redeliver", dwcp_owner_held(S, DEAD), false, 0, 0, fr },
		{ "HELD older gen", dwcp_owner_held(S, DEAD - 1), true, 0, 0, SAME },
		{ "HELD next gen", dwcp_owner_held(S, NEXT), true, 0, 0, SAME },
		{ "HELD other slot, same gen", dwcp_owner_held(C, DEAD), true, 0, 0, SAME },
		{ "WORK dead gen, redeliver", dwcp_owner_work(S, DEAD), true, 0, 0, next },
		{ "WORK dead gen, no redeliver", dwcp_owner_work(S, DEAD), false, 0, 0, fr },
		{ "WORK older gen", dwcp_owner_work(S, DEAD - 1), true, 0, 0, SAME },
		{ "WORK next gen", dwcp_owner_work(S, NEXT), true, 0, 0, SAME },
		{ "WORK other slot, same gen", dwcp_owner_work(X, DEAD), true, 0, 0, SAME },
		{ "FREE, redeliver", DWCP_OWNER_FREE_WORD, true, 0, 0, SAME },
		{ "FREE, no redeliver", DWCP_OWNER_FREE_WORD, false, 5, 5, SAME },
	};

	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

Test(reclaim_decide, link_from_the_dead_producer)
{
	const uint64_t next = dwcp_owner_work(S, NEXT), fr = DWCP_OWNER_FREE_WORD;
	const struct row rows[] = {
		{ "unpublished, pos == prod tail", L(S, C, 10), true, 10, 4, next },
		{ "unpublished, pos > prod tail", L(S, C, 12), true, 10, 4, next },
		{ "unpublished, no redeliver", L(S, C, 10), false, 10, 4, fr },
		{ "published, in the ring", L(S, C, 9), true, 10, 4, SAME },
		{ "published, consumed by the live consumer", L(S, C, 3), true, 10, 4, SAME },
		{ "published, no redeliver", L(S, C, 9), false, 10, 4, SAME },
		{ "wrap: published just below 2^32, tail past 0", L(S, C, 0xFFFFFFFFu), true, 2, 0xFFFFFFF0u, SAME },
		{ "wrap: unpublished past 0, tail below 2^32", L(S, C, 3), true, 0xFFFFFFFEu, 0xFFFFFFF0u, next },
		{ "wrap: unpublished at 0 == tail", L(S, C, 0), true, 0, 0xFFFFFFF0u, next },
		{ "wrap: published at 2^32-1, tail 0", L(S, C, 0xFFFFFFFFu), true, 0, 0xFFFFFFF0u, SAME },
		{ "wrap: unpublished at 2^32-1 == tail", L(S, C, 0xFFFFFFFFu), true, 0xFFFFFFFFu, 0xFFFFFFF0u, next },
	};

	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

Test(reclaim_decide, link_to_the_dead_consumer)
{
	const uint64_t next = dwcp_owner_work(S, NEXT), fr = DWCP_OWNER_FREE_WORD;
	const struct row rows[] = {
		{ "consumed, unclaimed", L(C, S, 9), true, 20, 10, next },
		{ "consumed, unclaimed, no redeliver", L(C, S, 9), false, 20, 10, fr },
		{ "in the ring, pos == cons tail", L(C, S, 10), true, 20, 10, SAME },
		{ "in the ring", L(C, S, 15), true, 20, 10, SAME },
		{ "unpublished by the live producer", L(C, S, 20), true, 20, 10, SAME },
		{ "in the ring, no redeliver", L(C, S, 15), false, 20, 10, SAME },
		{ "wrap: consumed below 2^32, tail past 0", L(C, S, 0xFFFFFFFEu), true, 5, 1, next },
		{ "wrap: in the ring past 0, tail below 2^32", L(C, S, 1), true, 5, 0xFFFFFFF0u, SAME },
		{ "wrap: consumed at 2^32-1, tail 0", L(C, S, 0xFFFFFFFFu), true, 3, 0, next },
		{ "wrap: in the ring at 0 == tail", L(C, S, 0), true, 3, 0, SAME },
	};

	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

Test(reclaim_decide, links_not_touching_the_slot_and_garbage)
{
	const struct row rows[] = {
		{ "C->X, would be 'unpublished'", L(C, X, 10), true, 10, 10, SAME },
		{ "C->X, would be 'consumed'", L(C, X, 9), true, 10, 10, SAME },
		{ "X->C, would be 'consumed'", L(X, C, 1), true, 10, 10, SAME },
		{ "X->C, would be 'unpublished'", L(X, C, 12), false, 10, 10, SAME },
		{ "link id past DWCP_MAX_LINKS", dwcp_owner_make(DWCP_OWNER_LINK, DWCP_MAX_LINKS + S, 50), true, 10, 10, SAME },
		{ "kind 5 (no such kind)", (5ull << 60) | ((uint64_t)S << 40) | DEAD, true, 0, 0, SAME },
		{ "kind 15", (15ull << 60) | ((uint64_t)S << 40) | DEAD, false, 0, 0, SAME },
	};

	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* ---------------------------------------------------------------------- */
/* A region, and the protocol stopped at any instruction                   */

static struct region {
	void *base;
	size_t size;
	struct dwcp_shm shm;
	uint32_t cursor;
} R;

static void region_make(uint32_t start)
{
	struct dwcp_shm_params p = {
		.n_bufs = NBUFS, .buf_size = 4096, .link_depth = DEPTH, .instance = "unit",
	};
	struct dwcp_err err = { 0 };
	int rc;

	free(R.base);
	memset(&R, 0, sizeof(R));
	R.size = dwcp_shm_size(&p);
	R.base = aligned_alloc(4096, (R.size + 4095) & ~(size_t)4095);
	cr_assert_not_null(R.base);
	rc = dwcp_shm_format(R.base, R.size, &p, &R.shm, &err);
	cr_assert_eq(rc, 0, "dwcp_shm_format: %d %s", rc, err.msg);
	for (unsigned s = 0; s < DWCP_MAX_SLOTS; s++) {
		for (unsigned d = 0; d < DWCP_MAX_SLOTS; d++) {
			struct rte_ring *r = dwcp_shm_link(&R.shm, s, d);

			r->prod.head = r->prod.tail = r->cons.head = r->cons.tail = start;
		}
	}
}

static void region_free(void)
{
	free(R.base);
	R.base = NULL;
}

static struct rte_ring *link_ring(unsigned src, unsigned dst)
{
	return dwcp_shm_link(&R.shm, src, dst);
}

static const char *ring_str(unsigned src, unsigned dst)
{
	static char bufs[4][128];
	static unsigned next;
	char *b = bufs[next++ % 4];
	const struct rte_ring *r = link_ring(src, dst);

	snprintf(b, 128, "link %u->%u prod.head=%u prod.tail=%u cons.head=%u cons.tail=%u", src,
		 dst, r->prod.head, r->prod.tail, r->cons.head, r->cons.tail);
	return b;
}

static uint64_t owner(uint32_t i)
{
	return __atomic_load_n(&R.shm.hdrs[i].owner, __ATOMIC_ACQUIRE);
}

/* A work item: allocated by @p slot, numbered @p seq (stream 1 = "carries
 * a work item", so the end-to-end check can find it). */
static uint32_t item(unsigned slot, uint32_t gen, uint64_t seq)
{
	uint32_t i;

	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, slot, gen, &i, 1, &R.cursor), 1);
	R.shm.hdrs[i].stream = 1;
	R.shm.hdrs[i].seq = seq;
	R.shm.hdrs[i].prog_len = 2;
	R.shm.hdrs[i].prog[0] = dwcp_prog_step(S, DWCP_OP_CRC32C);
	R.shm.hdrs[i].prog[1] = dwcp_prog_step(C, DWCP_OP_DELIVER);
	return i;
}

/* dwcp_link_enqueue_burst, stopped. */
enum enq_stop {
	ENQ_OWNERS_WRITTEN,  /* LINK words stored, ring untouched */
	ENQ_HEAD_MOVED,      /* prod.head moved and entries written, tail not published */
	ENQ_DONE,
};

static void enqueue_until(unsigned src, unsigned dst, const uint32_t *idx, unsigned n,
			  enum enq_stop stop)
{
	struct rte_ring *r = link_ring(src, dst);
	uint32_t *slots = (uint32_t *)&r[1];
	uint32_t head = r->prod.head;

	if (stop == ENQ_DONE) {
		cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, src, dst, idx, n), n, "%s",
			     ring_str(src, dst));
		return;
	}
	cr_assert_leq(n, r->capacity + r->cons.tail - head, "%s", ring_str(src, dst));
	for (unsigned i = 0; i < n; i++)
		R.shm.hdrs[idx[i]].owner = dwcp_owner_link(dwcp_abi_link_id(src, dst), head + i);
	if (stop == ENQ_OWNERS_WRITTEN)
		return;
	r->prod.head = head + n;
	for (unsigned i = 0; i < n; i++)
		slots[(head + i) & r->mask] = idx[i];
}

/* dwcp_link_dequeue_burst, stopped. */
enum deq_stop {
	DEQ_HEAD_MOVED,      /* cons.head moved, entries copied out, tail not published */
	DEQ_TAIL_PUBLISHED,  /* cons.tail published, @p claimed of them claimed */
	DEQ_DONE,
};

static unsigned dequeue_until(unsigned src, unsigned dst, uint32_t gen, uint32_t *out,
			      unsigned n, enum deq_stop stop, unsigned claimed)
{
	struct rte_ring *r = link_ring(src, dst);
	const uint32_t *slots = (const uint32_t *)&r[1];
	uint32_t head = r->cons.head;

	if (stop == DEQ_DONE)
		return dwcp_link_dequeue_burst(&R.shm, src, dst, gen, out, n);
	if (n > r->prod.tail - head)
		n = r->prod.tail - head;
	for (unsigned i = 0; i < n; i++)
		out[i] = slots[(head + i) & r->mask];
	r->cons.head = head + n;
	if (stop == DEQ_HEAD_MOVED)
		return n;
	r->cons.tail = head + n;
	for (unsigned i = 0; i < claimed && i < n; i++) {
		uint64_t expect = dwcp_owner_link(dwcp_abi_link_id(src, dst), head + i);

		cr_assert(__atomic_compare_exchange_n(&R.shm.hdrs[out[i]].owner, &expect,
						      dwcp_owner_work(dst, gen), 0, __ATOMIC_ACQ_REL,
						      __ATOMIC_ACQUIRE),
			  "claim of buffer %u failed: %s", out[i], owner_str(expect));
	}
	return n;
}

/* ---------------------------------------------------------------------- */
/* The invariant                                                           */

/* Which generation of each slot may own buffers (0: none). */
struct live {
	uint32_t gen[DWCP_MAX_SLOTS];
	uint32_t pending[4];     /* consumed by a live consumer, claim pending */
	unsigned n_pending;
};

static bool is_pending(const struct live *lv, uint32_t i)
{
	for (unsigned k = 0; k < lv->n_pending; k++)
		if (lv->pending[k] == i)
			return true;
	return false;
}

static void check_one_owner_each(const struct live *lv, unsigned want_free)
{
	unsigned n_free = 0;

	for (uint32_t i = 0; i < NBUFS; i++) {
		uint64_t w = owner(i);
		unsigned id = dwcp_owner_id(w);
		uint32_t low = dwcp_owner_low(w);

		switch (dwcp_owner_kind(w)) {
		case DWCP_OWNER_FREE:
			cr_assert_eq(w, DWCP_OWNER_FREE_WORD, "buffer %u: malformed FREE word %s", i,
				     owner_str(w));
			cr_assert((R.shm.free_map[i / 64] >> (i % 64)) & 1,
				  "buffer %u is FREE but its free bit is clear (word 0x%016lx): it cannot be allocated",
				  i, (unsigned long)R.shm.free_map[i / 64]);
			n_free++;
			break;
		case DWCP_OWNER_HELD:
		case DWCP_OWNER_WORK:
			cr_assert(id < DWCP_MAX_SLOTS && lv->gen[id] != 0 && lv->gen[id] == low,
				  "buffer %u (seq %lu) is owned by %s, which is not a live generation (slot %u may own gen %u): leaked",
				  i, (unsigned long)R.shm.hdrs[i].seq, owner_str(w), id,
				  id < DWCP_MAX_SLOTS ? lv->gen[id] : 0);
			break;
		case DWCP_OWNER_LINK: {
			unsigned src = dwcp_abi_link_src(id), dst = dwcp_abi_link_dst(id);
			const struct rte_ring *r;

			cr_assert_lt(id, DWCP_MAX_LINKS, "buffer %u: %s", i, owner_str(w));
			r = link_ring(src, dst);
			if (is_pending(lv, i)) {
				cr_assert((int32_t)(low - r->cons.tail) < 0 && lv->gen[dst] != 0,
					  "buffer %u: %s should be consumed by live slot %u; %s", i,
					  owner_str(w), dst, ring_str(src, dst));
				break;
			}
			cr_assert((int32_t)(low - r->cons.tail) >= 0 &&
				  (int32_t)(low - r->prod.tail) < 0,
				  "buffer %u (seq %lu) is %s but that position is not between the tails: owned by nobody; %s",
				  i, (unsigned long)R.shm.hdrs[i].seq, owner_str(w), ring_str(src, dst));
			cr_assert_eq(((const uint32_t *)&r[1])[low & r->mask], i,
				     "buffer %u is %s but the ring holds buffer %u there; %s", i,
				     owner_str(w), ((const uint32_t *)&r[1])[low & r->mask],
				     ring_str(src, dst));
			break;
		}
		}
	}
	/* Every published entry points back at a buffer that says so: no
	 * buffer sits in two places, no entry names a buffer owned elsewhere. */
	for (unsigned s = 0; s < DWCP_MAX_SLOTS; s++) {
		for (unsigned d = 0; d < DWCP_MAX_SLOTS; d++) {
			const struct rte_ring *r = link_ring(s, d);
			const uint32_t *slots = (const uint32_t *)&r[1];

			cr_assert(r->prod.head == r->prod.tail && r->cons.head == r->cons.tail,
				  "a head is left ahead of its tail: %s", ring_str(s, d));
			for (uint32_t pos = r->cons.tail; pos != r->prod.tail; pos++) {
				uint32_t b = slots[pos & r->mask];

				cr_assert_eq(owner(b), dwcp_owner_link(dwcp_abi_link_id(s, d), pos),
					     "entry at position %u of %s is buffer %u, whose owner is %s",
					     pos, ring_str(s, d), b, owner_str(owner(b)));
			}
		}
	}
	cr_assert_eq(n_free, want_free, "%u buffers free, expected %u", n_free, want_free);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), want_free);
}

/* S's next generation adopts WORK(S, NEXT), drains C->S and forwards all
 * of it to C; C takes everything from S->C. C must receive exactly the
 * work items @p want (by sequence number), each once, and every buffer
 * must then be back in the pool. */
static void finish_and_check_delivery(const uint64_t *want, unsigned n_want)
{
	uint32_t work[NBUFS], got[DEPTH];
	unsigned n_work = 0, n_got = 0, m;
	unsigned seen[64] = { 0 };

	for (uint32_t i = 0; i < NBUFS; i++)
		if (owner(i) == dwcp_owner_work(S, NEXT))
			work[n_work++] = i;
	while ((m = dwcp_link_dequeue_burst(&R.shm, C, S, NEXT, work + n_work, DEPTH)) > 0)
		n_work += m;
	for (unsigned k = 0; k < n_work; k++) {
		cr_assert_eq(owner(work[k]), dwcp_owner_work(S, NEXT),
			     "next generation got buffer %u as %s; %s", work[k],
			     owner_str(owner(work[k])), ring_str(C, S));
		R.shm.hdrs[work[k]].pc = 1;
	}
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, S, C, work, n_work), n_work,
		     "the next generation cannot forward %u buffers; %s", n_work, ring_str(S, C));

	while ((m = dwcp_link_dequeue_burst(&R.shm, S, C, CGEN, got, DEPTH)) > 0) {
		for (unsigned k = 0; k < m; k++, n_got++) {
			uint64_t seq = R.shm.hdrs[got[k]].seq;

			cr_assert_eq(owner(got[k]), dwcp_owner_work(C, CGEN), "buffer %u: %s",
				     got[k], owner_str(owner(got[k])));
			cr_assert_eq(R.shm.hdrs[got[k]].stream, 1, "buffer %u carries no work item",
				     got[k]);
			cr_assert_lt(seq, 64);
			seen[seq]++;
			dwcp_pool_free(&R.shm, got[k]);
		}
	}
	for (unsigned k = 0; k < n_want; k++)
		cr_assert_eq(seen[want[k]], 1, "work item %lu reached the client %u times",
			     (unsigned long)want[k], seen[want[k]]);
	cr_assert_eq(n_got, n_want, "the client received %u items, expected %u", n_got, n_want);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), NBUFS, "%u buffers lost",
		     NBUFS - dwcp_pool_count_free(&R.shm));
}

static void reclaim_s(unsigned want_freed, unsigned want_redelivered)
{
	struct dwcp_reclaim_result res;

	dwcp_reclaim_slot(&R.shm, S, DEAD, NEXT, true, &res);
	cr_assert(res.freed == want_freed && res.redelivered == want_redelivered && res.drained == 0,
		  "reclaim of slot %u: freed %u redelivered %u drained %u, expected %u/%u/0",
		  S, res.freed, res.redelivered, res.drained, want_freed, want_redelivered);
}

static const struct live after_s_death = { .gen = { [S] = NEXT, [C] = CGEN } };

static const uint32_t starts[] = { 0, 0xFFFFFFFEu };
#define N_STARTS (sizeof(starts) / sizeof(starts[0]))

TestSuite(reclaim, .fini = region_free);

/* S has allocated a buffer of its own and is filling it; C's items wait. */
Test(reclaim, service_killed_after_alloc_before_enqueue)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[2], mine;
		static const uint64_t want[] = { 1, 2 };

		region_make(starts[t]);
		in[0] = item(C, CGEN, 1);
		in[1] = item(C, CGEN, 2);
		enqueue_until(C, S, in, 2, ENQ_DONE);
		mine = item(S, DEAD, 40);
		/* killed */
		reclaim_s(1, 0);
		cr_assert_eq(owner(mine), DWCP_OWNER_FREE_WORD, "start %u: held buffer %u is %s",
			     starts[t], mine, owner_str(owner(mine)));
		check_one_owner_each(&after_s_death, NBUFS - 2);
		finish_and_check_delivery(want, 2);
	}
}

/* S holds item 1 (claimed from C->S) and forwards it: it has stored the
 * LINK word (and maybe moved prod.head) but not published the tail. */
static void killed_mid_forward(enum enq_stop stop)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[2], got;
		static const uint64_t want[] = { 1, 2 };

		region_make(starts[t]);
		in[0] = item(C, CGEN, 1);
		in[1] = item(C, CGEN, 2);
		enqueue_until(C, S, in, 2, ENQ_DONE);
		cr_assert_eq(dequeue_until(C, S, DEAD, &got, 1, DEQ_DONE, 0), 1);
		enqueue_until(S, C, &got, 1, stop);
		/* killed */
		reclaim_s(0, 1);
		cr_assert_eq(owner(got), dwcp_owner_work(S, NEXT),
			     "start %u: half-forwarded buffer %u is %s, expected WORK(slot %u, gen %u); %s",
			     starts[t], got, owner_str(owner(got)), S, NEXT, ring_str(S, C));
		cr_assert_eq(R.shm.hdrs[got].redeliveries, 1);
		cr_assert_eq(dwcp_link_count(&R.shm, S, C), 0, "unpublished entry visible: %s",
			     ring_str(S, C));
		check_one_owner_each(&after_s_death, NBUFS - 2);
		finish_and_check_delivery(want, 2);
	}
}

Test(reclaim, service_killed_after_link_owner_before_head)
{
	killed_mid_forward(ENQ_OWNERS_WRITTEN);
}

Test(reclaim, service_killed_after_link_owner_and_head_before_tail)
{
	killed_mid_forward(ENQ_HEAD_MOVED);
}

/* S forwarded item 1 completely; C may even have dequeued it already
 * (claim pending) when S dies: the reclaimer must leave it alone. */
Test(reclaim, service_killed_after_tail_publish)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[3], got[2], c_took;
		static const uint64_t want[] = { 1, 2, 3 };
		struct live lv = after_s_death;

		region_make(starts[t]);
		for (unsigned k = 0; k < 3; k++)
			in[k] = item(C, CGEN, k + 1);
		enqueue_until(C, S, in, 3, ENQ_DONE);
		cr_assert_eq(dequeue_until(C, S, DEAD, got, 2, DEQ_DONE, 0), 2);
		enqueue_until(S, C, got, 2, ENQ_DONE);
		/* C, alive, took item 1 off S->C and has not claimed it yet. */
		cr_assert_eq(dequeue_until(S, C, CGEN, &c_took, 1, DEQ_TAIL_PUBLISHED, 0), 1);
		/* S killed */
		reclaim_s(0, 0);
		cr_assert_eq(owner(c_took), L(S, C, starts[t]),
			     "start %u: buffer %u consumed by the live client became %s", starts[t],
			     c_took, owner_str(owner(c_took)));
		cr_assert_eq(owner(got[1]), L(S, C, starts[t] + 1),
			     "start %u: published buffer %u became %s", starts[t], got[1],
			     owner_str(owner(got[1])));
		lv.pending[lv.n_pending++] = c_took;
		check_one_owner_each(&lv, NBUFS - 3);
		/* C finishes its claim; it must still succeed. */
		{
			uint64_t expect = L(S, C, starts[t]);

			cr_assert(__atomic_compare_exchange_n(&R.shm.hdrs[c_took].owner, &expect,
							      dwcp_owner_work(C, CGEN), 0,
							      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE),
				  "the live client's claim of buffer %u failed: %s", c_took,
				  owner_str(expect));
			cr_assert_eq(R.shm.hdrs[c_took].seq, 1);
			dwcp_pool_free(&R.shm, c_took);
		}
		finish_and_check_delivery(want + 1, 2);
	}
}

/* S's dequeue from C->S published cons.tail over items 1 and 2 and then S
 * died before claiming @p claimed of them (0: none). Item 3 waits. */
static void killed_after_dequeue(unsigned claimed)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[3], got[2];
		static const uint64_t want[] = { 1, 2, 3 };

		region_make(starts[t]);
		for (unsigned k = 0; k < 3; k++)
			in[k] = item(C, CGEN, k + 1);
		enqueue_until(C, S, in, 3, ENQ_DONE);
		cr_assert_eq(dequeue_until(C, S, DEAD, got, 2, DEQ_TAIL_PUBLISHED, claimed), 2);
		/* killed */
		reclaim_s(0, 2);
		for (unsigned k = 0; k < 2; k++)
			cr_assert_eq(owner(got[k]), dwcp_owner_work(S, NEXT),
				     "start %u, %u claimed: dequeued buffer %u is %s; %s", starts[t],
				     claimed, got[k], owner_str(owner(got[k])), ring_str(C, S));
		cr_assert_eq(owner(in[2]), L(C, S, starts[t] + 2),
			     "start %u: waiting buffer %u is %s; %s", starts[t], in[2],
			     owner_str(owner(in[2])), ring_str(C, S));
		cr_assert_eq(dwcp_link_count(&R.shm, C, S), 1, "%s", ring_str(C, S));
		check_one_owner_each(&after_s_death, NBUFS - 3);
		finish_and_check_delivery(want, 3);
	}
}

Test(reclaim, service_killed_after_dequeue_before_claim)
{
	killed_after_dequeue(0);
}

Test(reclaim, service_killed_between_claims)
{
	killed_after_dequeue(1);
}

Test(reclaim, service_killed_after_claim)
{
	killed_after_dequeue(2);
}

/* S moved cons.head over items 1 and 2 but died before publishing
 * cons.tail: they are still C's published entries; the reset makes the
 * next generation dequeue them again, in order. */
Test(reclaim, service_killed_mid_dequeue_before_tail)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[3], got[2], again[3];
		static const uint64_t want[] = { 1, 2, 3 };
		struct dwcp_reclaim_result res;

		region_make(starts[t]);
		for (unsigned k = 0; k < 3; k++)
			in[k] = item(C, CGEN, k + 1);
		enqueue_until(C, S, in, 3, ENQ_DONE);
		cr_assert_eq(dequeue_until(C, S, DEAD, got, 2, DEQ_HEAD_MOVED, 0), 2);
		/* killed */
		dwcp_reclaim_slot(&R.shm, S, DEAD, NEXT, true, &res);
		cr_assert(res.freed == 0 && res.redelivered == 0,
			  "freed %u redelivered %u of entries still in the ring", res.freed,
			  res.redelivered);
		check_one_owner_each(&after_s_death, NBUFS - 3);
		cr_assert_eq(dequeue_until(C, S, NEXT, again, 3, DEQ_DONE, 0), 3, "%s",
			     ring_str(C, S));
		for (unsigned k = 0; k < 3; k++)
			cr_assert_eq(again[k], in[k], "start %u: entry %u is buffer %u, expected %u",
				     starts[t], k, again[k], in[k]);
		cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, S, C, again, 3), 3);
		finish_and_check_delivery(want, 3);
	}
}

Test(reclaim, service_killed_while_holding_work)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[2], got;
		static const uint64_t want[] = { 1, 2 };

		region_make(starts[t]);
		in[0] = item(C, CGEN, 1);
		in[1] = item(C, CGEN, 2);
		enqueue_until(C, S, in, 2, ENQ_DONE);
		cr_assert_eq(dequeue_until(C, S, DEAD, &got, 1, DEQ_DONE, 0), 1);
		R.shm.hdrs[got].result = 0x1234;  /* half-way through the step */
		/* killed */
		reclaim_s(0, 1);
		cr_assert_eq(owner(got), dwcp_owner_work(S, NEXT), "buffer %u is %s", got,
			     owner_str(owner(got)));
		check_one_owner_each(&after_s_death, NBUFS - 2);
		finish_and_check_delivery(want, 2);
	}
}

/* Everything at once, plus buffers of a bystander and an older dead
 * generation, which the reclaimer must not touch. */
Test(reclaim, service_killed_with_work_in_every_state)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t in[6], a, b[2], d[2], held, x_buf;
		static const uint64_t want[] = { 1, 2, 3, 4, 5, 6 };
		struct live lv = after_s_death;

		region_make(starts[t]);
		for (unsigned k = 0; k < 6; k++)
			in[k] = item(C, CGEN, k + 1);
		enqueue_until(C, S, in, 6, ENQ_DONE);
		cr_assert_eq(dequeue_until(C, S, DEAD, &a, 1, DEQ_DONE, 0), 1);   /* item 1 */
		enqueue_until(S, C, &a, 1, ENQ_DONE);                             /* published */
		cr_assert_eq(dequeue_until(C, S, DEAD, b, 2, DEQ_DONE, 0), 2);    /* items 2, 3 */
		enqueue_until(S, C, &b[0], 1, ENQ_HEAD_MOVED);                    /* item 2 half-sent */
		held = item(S, DEAD, 50);                                         /* being filled */
		x_buf = item(X, 9, 60);                                           /* bystander's */
		cr_assert_eq(dequeue_until(C, S, DEAD, d, 2, DEQ_TAIL_PUBLISHED, 1), 2); /* 4, 5 */
		/* item 6 still in C->S; killed */
		reclaim_s(1, 4);   /* held freed; 2, 3, 4, 5 redelivered */
		cr_assert_eq(owner(held), DWCP_OWNER_FREE_WORD, "held buffer %u is %s", held,
			     owner_str(owner(held)));
		for (unsigned k = 0; k < 2; k++)
			cr_assert(owner(b[k]) == dwcp_owner_work(S, NEXT) &&
				  owner(d[k]) == dwcp_owner_work(S, NEXT),
				  "items %lu/%lu are %s/%s, expected WORK(slot %u, gen %u)",
				  (unsigned long)R.shm.hdrs[b[k]].seq, (unsigned long)R.shm.hdrs[d[k]].seq,
				  owner_str(owner(b[k])), owner_str(owner(d[k])), S, NEXT);
		lv.gen[X] = 9;
		check_one_owner_each(&lv, NBUFS - 7);
		cr_assert_eq(owner(x_buf), dwcp_owner_held(X, 9), "bystander's buffer became %s",
			     owner_str(owner(x_buf)));
		dwcp_pool_free(&R.shm, x_buf);
		finish_and_check_delivery(want, 6);
	}
}

/* ---------------------------------------------------------------------- */
/* A client that will not come back                                        */

Test(reclaim, client_killed_frees_everything_and_drains_its_inputs)
{
	for (unsigned t = 0; t < N_STARTS; t++) {
		uint32_t filling, half, sent, r[5], tmp[2], fresh, got[4];
		struct dwcp_reclaim_result res;
		const struct live lv = { .gen = { [S] = DEAD } };   /* S lives on, as gen 3 */

		region_make(starts[t]);
		/* S (alive) has results 1..5 for C on S->C. */
		for (unsigned k = 0; k < 5; k++)
			r[k] = item(S, DEAD, k + 1);
		enqueue_until(S, C, r, 5, ENQ_DONE);
		/* C took 1 and claimed it (reading), took 2 without claiming,
		 * moved its head over 3 without publishing its tail. */
		cr_assert_eq(dequeue_until(S, C, CGEN, tmp, 1, DEQ_DONE, 0), 1);
		cr_assert_eq(dequeue_until(S, C, CGEN, tmp, 1, DEQ_TAIL_PUBLISHED, 0), 1);
		cr_assert_eq(dequeue_until(S, C, CGEN, tmp, 1, DEQ_HEAD_MOVED, 0), 1);
		/* C's own sends: one published, one half-enqueued, one being filled. */
		sent = item(C, CGEN, 10);
		enqueue_until(C, S, &sent, 1, ENQ_DONE);
		half = item(C, CGEN, 11);
		enqueue_until(C, S, &half, 1, ENQ_HEAD_MOVED);
		filling = item(C, CGEN, 12);
		/* killed */
		dwcp_reclaim_slot(&R.shm, C, CGEN, CGEN + 1, false, &res);
		cr_assert(res.freed == 4 && res.redelivered == 0 && res.drained == 3,
			  "start %u: freed %u redelivered %u drained %u, expected 4/0/3 (HELD, half-sent, result 1 claimed, result 2 unclaimed freed; results 3-5 drained)",
			  starts[t], res.freed, res.redelivered, res.drained);
		for (unsigned k = 0; k < 5; k++)
			cr_assert_eq(owner(r[k]), DWCP_OWNER_FREE_WORD, "result %u (buffer %u) is %s",
				     k + 1, r[k], owner_str(owner(r[k])));
		cr_assert_eq(owner(filling), DWCP_OWNER_FREE_WORD, "buffer being filled is %s",
			     owner_str(owner(filling)));
		cr_assert_eq(owner(half), DWCP_OWNER_FREE_WORD, "half-sent buffer is %s",
			     owner_str(owner(half)));
		cr_assert_eq(owner(sent), L(C, S, starts[t]),
			     "published request became %s: S must still get it", owner_str(owner(sent)));
		cr_assert_eq(dwcp_link_count(&R.shm, S, C), 0, "input link not drained: %s",
			     ring_str(S, C));
		check_one_owner_each(&lv, NBUFS - 1);

		/* S still serves the published request; a new client in the slot
		 * sends on the same link, right after it. */
		fresh = item(C, CGEN + 1, 13);
		cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, C, S, &fresh, 1), 1, "%s",
			     ring_str(C, S));
		cr_assert_eq(owner(fresh), L(C, S, starts[t] + 1), "new request is %s; %s",
			     owner_str(owner(fresh)), ring_str(C, S));
		cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, C, S, DEAD, got, 4), 2, "%s",
			     ring_str(C, S));
		cr_assert(got[0] == sent && got[1] == fresh,
			  "S got buffers %u, %u; expected %u (published before the death), %u", got[0],
			  got[1], sent, fresh);
		/* ...and answers on the drained link, at its full capacity. */
		cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, S, C, got, 2), 2, "%s", ring_str(S, C));
		cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, S, C, CGEN + 1, tmp, 2), 2, "%s",
			     ring_str(S, C));
		cr_assert(tmp[0] == sent && tmp[1] == fresh, "new client got %u, %u", tmp[0], tmp[1]);
		dwcp_pool_free(&R.shm, tmp[0]);
		dwcp_pool_free(&R.shm, tmp[1]);
		cr_assert_eq(dwcp_pool_count_free(&R.shm), NBUFS);
	}
}

/* Reclaiming twice (the supervisor's death handler re-run) changes nothing. */
Test(reclaim, reclaim_is_idempotent)
{
	uint32_t in[3], got[2];
	struct dwcp_reclaim_result res;
	static const uint64_t want[] = { 1, 2, 3 };

	region_make(0);
	for (unsigned k = 0; k < 3; k++)
		in[k] = item(C, CGEN, k + 1);
	enqueue_until(C, S, in, 3, ENQ_DONE);
	cr_assert_eq(dequeue_until(C, S, DEAD, got, 2, DEQ_TAIL_PUBLISHED, 1), 2);
	reclaim_s(0, 2);
	dwcp_reclaim_slot(&R.shm, S, DEAD, NEXT, true, &res);
	cr_assert(res.freed == 0 && res.redelivered == 0 && res.drained == 0,
		  "second reclaim: freed %u redelivered %u drained %u", res.freed, res.redelivered,
		  res.drained);
	check_one_owner_each(&after_s_death, NBUFS - 3);
	finish_and_check_delivery(want, 3);
}
