/* Buffer pool tests on a region formatted in plain memory (no EAL).
 *
 * The pool's promise (ipc/pool.h) is that the owner word alone decides who
 * owns a buffer and the free bitmap is only a hint: allocation is one CAS
 * FREE -> HELD, so it can never hand one buffer to two owners, even from
 * several threads at once; a stale 0 bit (a process killed inside free)
 * only hides a buffer until dwcp_pool_repair_map; a stale 1 bit on a held
 * buffer costs a failed CAS and nothing else. Each test checks one of
 * those, and a failure prints the header and bitmap word it looked at. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/pool.h"

static struct region {
	void *base;
	size_t size;
	struct dwcp_shm shm;
} R;

static void region_make(uint32_t n_bufs)
{
	struct dwcp_shm_params p = {
		.n_bufs = n_bufs, .buf_size = 4096, .link_depth = 64, .instance = "unit",
	};
	struct dwcp_err err = { 0 };
	int rc;

	R.size = dwcp_shm_size(&p);
	cr_assert_gt(R.size, 0);
	R.base = aligned_alloc(4096, (R.size + 4095) & ~(size_t)4095);
	cr_assert_not_null(R.base);
	rc = dwcp_shm_format(R.base, R.size, &p, &R.shm, &err);
	cr_assert_eq(rc, 0, "dwcp_shm_format: %d %s", rc, err.msg);
}

static void region_free(void)
{
	free(R.base);
	R.base = NULL;
}

/* "HELD(slot 7, gen 3)" etc. Rotating buffers so one message may hold several. */
static const char *owner_str(uint64_t w)
{
	static char bufs[8][64];
	static unsigned next;
	char *b = bufs[next++ % 8];
	static const char *kinds[] = { "FREE", "HELD", "WORK", "LINK" };

	if (w == DWCP_OWNER_FREE_WORD)
		snprintf(b, 64, "FREE");
	else if (dwcp_owner_kind(w) == DWCP_OWNER_LINK)
		snprintf(b, 64, "LINK(link %u, pos %u)", dwcp_owner_id(w), dwcp_owner_low(w));
	else if (dwcp_owner_kind(w) <= DWCP_OWNER_LINK)
		snprintf(b, 64, "%s(slot %u, gen %u)", kinds[dwcp_owner_kind(w)], dwcp_owner_id(w),
			 dwcp_owner_low(w));
	else
		snprintf(b, 64, "bad word 0x%016lx", (unsigned long)w);
	return b;
}

static int map_bit(uint32_t i)
{
	return (int)((R.shm.free_map[i / 64] >> (i % 64)) & 1);
}

static uint64_t owner(uint32_t i)
{
	return __atomic_load_n(&R.shm.hdrs[i].owner, __ATOMIC_ACQUIRE);
}

/* Allocate everything in bursts of @p burst (<= 64) until a burst comes
 * back short; the indices go to @p out (room for n_bufs). */
static unsigned alloc_all(unsigned slot, uint32_t gen, uint32_t *out, unsigned burst)
{
	uint32_t cursor = 0, scratch[64];
	unsigned total = 0, n;

	do {
		n = dwcp_pool_alloc_burst(&R.shm, slot, gen, scratch, burst, &cursor);
		cr_assert_leq(total + n, R.shm.n_bufs, "allocated %u of %u buffers", total + n,
			      R.shm.n_bufs);
		memcpy(out + total, scratch, n * sizeof(*out));
		total += n;
	} while (n == burst);
	return total;
}

static void check_exhaust(uint32_t n_bufs, unsigned burst)
{
	uint32_t *idx = calloc(n_bufs, sizeof(*idx));
	uint8_t *seen = calloc(n_bufs, 1);
	uint32_t cursor = 0, extra;
	unsigned got;

	region_make(n_bufs);
	got = alloc_all(DWCP_SLOT_CLIENT0, 5, idx, burst);
	cr_assert_eq(got, n_bufs, "%u buffers, bursts of %u: got %u", n_bufs, burst, got);
	for (unsigned i = 0; i < got; i++) {
		cr_assert_lt(idx[i], n_bufs, "allocation %u returned index %u of %u", i, idx[i],
			     n_bufs);
		cr_assert_eq(seen[idx[i]], 0, "buffer %u returned twice (owner %s)", idx[i],
			     owner_str(owner(idx[i])));
		seen[idx[i]] = 1;
	}
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, DWCP_SLOT_CLIENT0, 5, &extra, 1, &cursor), 0,
		     "exhausted pool gave buffer %u (owner %s)", extra, owner_str(owner(extra)));
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 0);
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, DWCP_SLOT_CLIENT0), n_bufs);
	for (uint32_t w = 0; w < (n_bufs + 63) / 64; w++)
		cr_assert_eq(R.shm.free_map[w], 0, "free map word %u = 0x%016lx with every buffer held",
			     w, (unsigned long)R.shm.free_map[w]);
	free(idx);
	free(seen);
	region_free();
}

Test(pool, alloc_every_buffer_then_the_next_alloc_gets_none)
{
	check_exhaust(256, 1);
	check_exhaust(256, 7);
	check_exhaust(256, 64);
	check_exhaust(100, 9);  /* a partial last bitmap word */
	check_exhaust(1, 4);
}

Test(pool, free_count_is_exact)
{
	uint32_t idx[256], cursor = 0;

	region_make(256);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 256);
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 3, 1, idx, 10, &cursor), 10);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 246, "count_free %u after 10 allocations",
		     dwcp_pool_count_free(&R.shm));
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 4, 1, idx + 10, 100, &cursor), 100);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 146);
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, 3), 10);
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, 4), 100);
	for (unsigned i = 0; i < 110; i += 2)
		dwcp_pool_free(&R.shm, idx[i]);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 146 + 55, "count_free %u after 55 frees",
		     dwcp_pool_count_free(&R.shm));
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, 3), 5);
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, 4), 50);
	region_free();
}

Test(pool, count_slot_counts_held_and_work_of_any_generation)
{
	region_make(64);
	R.shm.hdrs[0].owner = dwcp_owner_held(4, 1);
	R.shm.hdrs[1].owner = dwcp_owner_work(4, 2);
	R.shm.hdrs[2].owner = dwcp_owner_work(5, 1);
	R.shm.hdrs[3].owner = dwcp_owner_link(dwcp_abi_link_id(4, 5), 0);
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, 4), 2, "slot 4 owns %u (0: %s, 1: %s)",
		     dwcp_pool_count_slot(&R.shm, 4), owner_str(owner(0)), owner_str(owner(1)));
	cr_assert_eq(dwcp_pool_count_slot(&R.shm, 5), 1);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 60);
	region_free();
}

Test(pool, alloc_sets_held_and_resets_the_descriptor)
{
	uint32_t idx[64], cursor = 0;
	static const uint8_t zero[sizeof(struct dwcp_buf_hdr) - 8];

	region_make(64);
	/* Dirty every descriptor the way a previous owner leaves it. */
	for (uint32_t i = 0; i < 64; i++) {
		struct dwcp_buf_hdr *h = dwcp_shm_hdr(&R.shm, i);

		memset((uint8_t *)h + 8, 0x5A, sizeof(*h) - 8);
	}
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, DWCP_SLOT_SIMD, 77, idx, 64, &cursor), 64);
	for (unsigned k = 0; k < 64; k++) {
		const struct dwcp_buf_hdr *h = dwcp_shm_hdr(&R.shm, idx[k]);

		cr_assert_eq(h->owner, dwcp_owner_held(DWCP_SLOT_SIMD, 77),
			     "buffer %u: owner %s, expected HELD(slot %u, gen 77)", idx[k],
			     owner_str(h->owner), DWCP_SLOT_SIMD);
		cr_assert_eq(memcmp((const uint8_t *)h + 8, zero, sizeof(zero)), 0,
			     "buffer %u not reset: stream %lu seq %lu len %u status %u prog_len %u pc %u result %lu redeliveries %u",
			     idx[k], (unsigned long)h->stream, (unsigned long)h->seq, h->len,
			     h->status, h->prog_len, h->pc, (unsigned long)h->result,
			     h->redeliveries);
		cr_assert_eq(map_bit(idx[k]), 0, "buffer %u held but its free bit is set", idx[k]);
	}
	region_free();
}

Test(pool, free_then_realloc_gives_the_buffer_back)
{
	uint32_t idx[64], got, cursor = 0;

	region_make(64);
	cr_assert_eq(alloc_all(2, 1, idx, 16), 64);
	dwcp_pool_free(&R.shm, 37);
	cr_assert_eq(owner(37), DWCP_OWNER_FREE_WORD, "freed buffer 37 is %s",
		     owner_str(owner(37)));
	cr_assert_eq(map_bit(37), 1, "freed buffer 37 has its free bit clear (word 0x%016lx)",
		     (unsigned long)R.shm.free_map[0]);
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 1);
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 6, 9, &got, 1, &cursor), 1);
	cr_assert_eq(got, 37);
	cr_assert_eq(owner(37), dwcp_owner_held(6, 9), "realloc'd buffer 37 is %s",
		     owner_str(owner(37)));
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 6, 9, &got, 1, &cursor), 0);
	region_free();
}

/* A process killed between the two steps of dwcp_pool_free leaves the
 * owner FREE and the bit clear: the buffer is free but invisible. */
Test(pool, killed_inside_free_hides_a_buffer_until_repair)
{
	uint32_t idx[128], got = UINT32_MAX, cursor = 0;

	region_make(128);
	cr_assert_eq(alloc_all(DWCP_SLOT_CLIENT0, 1, idx, 32), 128);
	__atomic_store_n(&R.shm.hdrs[70].owner, DWCP_OWNER_FREE_WORD, __ATOMIC_RELEASE);
	/* ...killed here, before the atomic OR of the bit. */
	cr_assert_eq(dwcp_pool_count_free(&R.shm), 1);
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 8, 1, &got, 1, &cursor), 0,
		     "alloc found buffer %u although its bit is clear (word 1 = 0x%016lx)", got,
		     (unsigned long)R.shm.free_map[1]);

	dwcp_pool_repair_map(&R.shm);
	cr_assert_eq(R.shm.free_map[1], 1ull << (70 - 64),
		     "after repair word 1 = 0x%016lx: only buffer 70 is free",
		     (unsigned long)R.shm.free_map[1]);
	cr_assert_eq(R.shm.free_map[0], 0, "repair set bits of held buffers: word 0 = 0x%016lx",
		     (unsigned long)R.shm.free_map[0]);
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 8, 1, &got, 1, &cursor), 1);
	cr_assert_eq(got, 70, "repaired pool gave buffer %u (%s)", got, owner_str(owner(got)));
	cr_assert_eq(owner(70), dwcp_owner_held(8, 1), "buffer 70 is %s", owner_str(owner(70)));
	region_free();
}

/* A stale 1 bit on a held buffer must not let a second owner in. */
Test(pool, stale_set_bit_on_a_held_buffer_is_skipped)
{
	uint32_t idx[128], got[4] = { UINT32_MAX }, cursor = 0;

	region_make(128);
	cr_assert_eq(alloc_all(3, 2, idx, 64), 128);
	__atomic_fetch_or(&R.shm.free_map[0], 1ull << 9, __ATOMIC_RELEASE);
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 4, 1, got, 4, &cursor), 0,
		     "stale bit handed out buffer %u", got[0]);
	cr_assert_eq(owner(9), dwcp_owner_held(3, 2), "buffer 9 with a stale bit became %s",
		     owner_str(owner(9)));
	dwcp_pool_free(&R.shm, 20);
	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, 4, 1, got, 4, &cursor), 1);
	cr_assert_eq(got[0], 20, "got buffer %u (%s), expected the freed 20", got[0],
		     owner_str(owner(got[0])));
	cr_assert_eq(owner(9), dwcp_owner_held(3, 2), "buffer 9 became %s", owner_str(owner(9)));
	region_free();
}

/* Concurrency: threads allocate and free at random; a per-buffer counter
 * (incremented after a successful allocation, decremented before the
 * free) must stay 0 or 1, and each buffer must read HELD(its thread)
 * while the thread holds it. Threads record problems; the test thread
 * asserts (Criterion's asserts must not run off the test thread). */
#define CONC_THREADS 4
#define CONC_OPS     200000
#define CONC_BUFS    256
#define CONC_HOLD    72     /* all four at their peak (4 x 80) drain the pool */

struct conc {
	atomic_int owners[CONC_BUFS];
	atomic_uint violations;
	char first[256];
	atomic_flag first_taken;
	atomic_uint exhausted;
	pthread_barrier_t start;
};

struct conc_thread {
	struct conc *c;
	unsigned t;
	unsigned long allocs, frees;
};

static void conc_violation(struct conc *c, const char *fmt, uint32_t i, unsigned t, uint64_t w)
{
	atomic_fetch_add(&c->violations, 1);
	if (!atomic_flag_test_and_set(&c->first_taken)) {
		int n = snprintf(c->first, sizeof(c->first), fmt, i, t);

		snprintf(c->first + n, sizeof(c->first) - n, "; owner word %s, free bit %d",
			 owner_str(w), map_bit(i));
	}
}

static void *conc_main(void *arg)
{
	struct conc_thread *ct = arg;
	struct conc *c = ct->c;
	const unsigned slot = DWCP_SLOT_CLIENT0 + ct->t;
	const uint32_t gen = 100 + ct->t;
	const uint64_t mine = dwcp_owner_held(slot, gen);
	uint64_t rnd = 0x9E3779B97F4A7C15ull * (ct->t + 1);
	uint32_t held[CONC_HOLD + 8], cursor = ct->t * 2;
	unsigned n_held = 0;

	pthread_barrier_wait(&c->start);
	for (unsigned op = 0; op < CONC_OPS; op++) {
		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		if (n_held > 0 && (n_held >= CONC_HOLD || (rnd & 1))) {
			unsigned k = (unsigned)(rnd >> 8) % n_held;
			uint32_t i = held[k];
			uint64_t w = owner(i);

			held[k] = held[--n_held];
			if (w != mine)
				conc_violation(c, "buffer %u held by thread %u changed owner", i, ct->t, w);
			if (atomic_fetch_sub(&c->owners[i], 1) != 1)
				conc_violation(c, "buffer %u: owner count not 1 when thread %u freed it",
					       i, ct->t, w);
			dwcp_pool_free(&R.shm, i);
			ct->frees++;
		} else {
			unsigned want = 1 + (unsigned)(rnd >> 16) % 8, got;

			if (want > CONC_HOLD + 8 - n_held)
				want = CONC_HOLD + 8 - n_held;
			got = dwcp_pool_alloc_burst(&R.shm, slot, gen, held + n_held, want, &cursor);
			if (got < want)
				atomic_fetch_add(&c->exhausted, 1);
			for (unsigned k = 0; k < got; k++) {
				uint32_t i = held[n_held + k];

				if (atomic_fetch_add(&c->owners[i], 1) != 0)
					conc_violation(c, "buffer %u: thread %u allocated it while another owner held it",
						       i, ct->t, owner(i));
				if (owner(i) != mine)
					conc_violation(c, "buffer %u allocated by thread %u is not HELD by it",
						       i, ct->t, owner(i));
			}
			n_held += got;
			ct->allocs += got;
		}
	}
	while (n_held > 0) {
		uint32_t i = held[--n_held];

		atomic_fetch_sub(&c->owners[i], 1);
		dwcp_pool_free(&R.shm, i);
		ct->frees++;
	}
	return NULL;
}

Test(pool, concurrent_alloc_free_never_gives_a_buffer_two_owners, .timeout = 120)
{
	static struct conc c;
	struct conc_thread ct[CONC_THREADS];
	pthread_t th[CONC_THREADS];
	unsigned long total = 0;

	region_make(CONC_BUFS);
	memset(&c, 0, sizeof(c));
	atomic_flag_clear(&c.first_taken);
	pthread_barrier_init(&c.start, NULL, CONC_THREADS);
	for (unsigned t = 0; t < CONC_THREADS; t++) {
		ct[t] = (struct conc_thread){ .c = &c, .t = t };
		cr_assert_eq(pthread_create(&th[t], NULL, conc_main, &ct[t]), 0);
	}
	for (unsigned t = 0; t < CONC_THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&c.start);

	cr_assert_eq(atomic_load(&c.violations), 0, "%u ownership violations; first: %s",
		     atomic_load(&c.violations), c.first);
	for (unsigned t = 0; t < CONC_THREADS; t++) {
		cr_assert_eq(ct[t].allocs, ct[t].frees, "thread %u: %lu allocs, %lu frees", t,
			     ct[t].allocs, ct[t].frees);
		cr_assert_gt(ct[t].allocs, 0, "thread %u never allocated", t);
		total += ct[t].allocs;
	}
	cr_assert_gt(total, CONC_OPS, "only %lu allocations in %u operations", total,
		     CONC_THREADS * CONC_OPS);
	for (uint32_t i = 0; i < CONC_BUFS; i++)
		cr_assert_eq(owner(i), DWCP_OWNER_FREE_WORD, "buffer %u left %s", i,
			     owner_str(owner(i)));
	cr_assert_eq(dwcp_pool_count_free(&R.shm), CONC_BUFS);
	for (uint32_t w = 0; w < CONC_BUFS / 64; w++)
		cr_assert_eq(R.shm.free_map[w], ~0ull, "free map word %u = 0x%016lx after all frees",
			     w, (unsigned long)R.shm.free_map[w]);
	cr_log_info("pool: %lu+%lu+%lu+%lu allocations, %u short bursts",
		    ct[0].allocs, ct[1].allocs, ct[2].allocs, ct[3].allocs,
		    atomic_load(&c.exhausted));
	region_free();
}
