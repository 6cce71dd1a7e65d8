/* Delta cache tests (ipc/dcache.h) on malloc'd memory: the cache code does
 * not care whether its bytes are hugepages. A model kept here (every
 * version ever inserted of each key) is the oracle: a lookup may miss, but
 * whatever it returns must be the latest version of that key (or, across
 * a simulated kill, a version the model knows). Covered: insert/lookup,
 * replace, FIFO eviction, the second chance of changed pages, a corrupt page (hash mismatch is a miss), a
 * re-attach that keeps the entries and rebuilds the index, an index
 * overwritten with random bytes (lookups before the re-attach stay safe,
 * after it every entry is back), and an insert cut short after each of
 * its documented steps; which chunks of a stream larger than the cache are
 * admitted. A failing check dumps the cache header. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <xxhash.h>

#include "tests/lib/util.h"
#include "svc-mem/dcache.h"

#define PG DWCP_DCACHE_PAGE

static uint64_t h64(const void *p, size_t n)
{
	return XXH3_64bits_withSeed(p, n, 0);
}

/* Bytes for a cache of exactly @p n entries (the smallest size that holds them). */
static uint64_t size_for(uint32_t n)
{
	uint64_t size = PG;

	while (dwcp_dcache_capacity(size) < n)
		size += 64;
	return size;
}

static void *cache_mem(uint64_t size)
{
	void *m = aligned_alloc(PG, (size + PG - 1) / PG * PG);

	cr_assert_not_null(m);
	memset(m, 0xa5, size);   /* not zero: attach must format, not trust */
	return m;
}

static void dump(const struct dwcp_dcache *c)
{
	const struct dwcp_dcache_hdr *h = c->hdr;

	fprintf(stderr, "dcache: n %u n_index %u next_serial %llu live %llu hits %llu misses %llu "
		"inserts %llu evictions %llu corrupt %llu formatted %d\n", h->n_entries, h->n_index,
		(unsigned long long)h->next_serial, (unsigned long long)h->live,
		(unsigned long long)h->hits, (unsigned long long)h->misses,
		(unsigned long long)h->inserts, (unsigned long long)h->evictions,
		(unsigned long long)h->corrupt, c->formatted);
}

#define CHECK(c, cond, ...)                             \
	do {                                            \
		if (!(cond)) {                          \
			dump(c);                        \
			cr_assert_fail(__VA_ARGS__);    \
		}                                       \
	} while (0)

/* Page content of version @p v of key (@p stream, @p page): distinct per
 * (key, version), @p len bytes. */
static void content(uint8_t *p, uint64_t stream, uint64_t page, uint32_t v, uint32_t len)
{
	uint64_t s = (stream * 1000003u + page) * 7919u + v + 1;

	dwcp_test_fill_random(p, len, &s);
}

static int insert_v(struct dwcp_dcache *c, uint64_t stream, uint64_t page, uint32_t v, uint32_t len)
{
	uint8_t buf[PG];

	content(buf, stream, page, v, len);
	return dwcp_dcache_insert(c, stream, page, buf, len, h64(buf, len), v, false);
}

/* insert_v for a page the caller knows changed (a kept chunk's). */
static int insert_changed(struct dwcp_dcache *c, uint64_t stream, uint64_t page, uint32_t v)
{
	uint8_t buf[PG];

	content(buf, stream, page, v, PG);
	return dwcp_dcache_insert(c, stream, page, buf, PG, h64(buf, PG), v, true);
}

/* Lookup must hit with version @p v of the key. */
static void expect_v(struct dwcp_dcache *c, uint64_t stream, uint64_t page, uint32_t v,
		     uint32_t len)
{
	struct dwcp_dcache_ref r;
	uint8_t buf[PG];
	int rc = dwcp_dcache_lookup(c, stream, page, &r);

	content(buf, stream, page, v, len);
	CHECK(c, rc == 0, "(%llu, %llu) v%u: miss", (unsigned long long)stream,
	      (unsigned long long)page, v);
	CHECK(c, r.len == len && r.tag == v && r.hash == h64(buf, len) && !memcmp(r.data, buf, len),
	      "(%llu, %llu): got len %u tag %llu, want v%u len %u", (unsigned long long)stream,
	      (unsigned long long)page, r.len, (unsigned long long)r.tag, v, len);
}

static void expect_miss(struct dwcp_dcache *c, uint64_t stream, uint64_t page)
{
	struct dwcp_dcache_ref r;

	CHECK(c, dwcp_dcache_lookup(c, stream, page, &r) == -ENOENT, "(%llu, %llu): hit, want miss",
	      (unsigned long long)stream, (unsigned long long)page);
}

Test(dcache, too_small_or_misaligned_memory_is_refused)
{
	struct dwcp_dcache c;
	uint64_t size = size_for(1);
	uint8_t *m = cache_mem(size + 8);

	cr_assert_eq(dwcp_dcache_capacity(0), 0);
	cr_assert_eq(dwcp_dcache_capacity(PG), 0);
	cr_assert_eq(dwcp_dcache_attach(&c, m, size - 64), -EINVAL);
	cr_assert_eq(dwcp_dcache_attach(&c, m + 4, size), -EINVAL);
	cr_assert_eq(dwcp_dcache_attach(&c, NULL, size), -EINVAL);
	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	cr_assert_eq(c.n, 1);
	cr_assert(c.formatted);
	/* 16 MiB holds about size / (4096 + 64 + 8) pages. */
	cr_assert_geq(dwcp_dcache_capacity(16u << 20), (16u << 20) / (PG + 64 + 16) - 1);
	cr_assert_leq(dwcp_dcache_capacity(16u << 20), (16u << 20) / (PG + 64 + 8));
	free(m);
}

Test(dcache, insert_then_lookup_and_figures)
{
	struct dwcp_dcache c;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(64);
	uint8_t *m = cache_mem(size);
	uint8_t buf[PG];

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	for (uint64_t p = 0; p < 40; p++)
		cr_assert_eq(insert_v(&c, 7, p, 1, p == 39 ? 123 : PG), 0);
	cr_assert_eq(insert_v(&c, 8, 0, 1, 1), 0);   /* another stream, one byte */
	for (uint64_t p = 0; p < 40; p++)
		expect_v(&c, 7, p, 1, p == 39 ? 123 : PG);
	expect_v(&c, 8, 0, 1, 1);
	expect_miss(&c, 7, 40);
	expect_miss(&c, 9, 0);
	dwcp_dcache_stats(&c, &st);
	cr_assert_eq(st.capacity, 64);
	cr_assert_eq(st.live, 41);
	cr_assert_eq(st.inserts, 41);
	cr_assert_eq(st.hits, 41);
	cr_assert_eq(st.misses, 2);
	cr_assert_eq(st.evictions, 0);
	memset(buf, 1, sizeof(buf));
	cr_assert_eq(dwcp_dcache_insert(&c, 1, 1, buf, 0, 0, 0, false), -EINVAL);
	cr_assert_eq(dwcp_dcache_insert(&c, 1, 1, buf, PG + 1, 0, 0, false), -EINVAL);
	free(m);
}

Test(dcache, a_new_version_replaces_the_old)
{
	struct dwcp_dcache c;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(16);
	uint8_t *m = cache_mem(size);

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	for (uint32_t v = 1; v <= 5; v++) {
		cr_assert_eq(insert_v(&c, 1, 42, v, v == 3 ? 77 : PG), 0);
		expect_v(&c, 1, 42, v, v == 3 ? 77 : PG);
	}
	dwcp_dcache_stats(&c, &st);
	cr_assert_eq(st.live, 1, "one key, one live entry (%llu)", (unsigned long long)st.live);
	/* The dead entries of old versions are reused without harm. */
	for (uint32_t v = 6; v <= 60; v++)
		cr_assert_eq(insert_v(&c, 1, 42, v, PG), 0);
	expect_v(&c, 1, 42, 60, PG);
	dwcp_dcache_stats(&c, &st);
	cr_assert_eq(st.live, 1);
	cr_assert_eq(st.evictions, 0, "replaced versions are not evictions");
	/* A page of the cache itself may be inserted (dcache.h allows it). */
	{
		struct dwcp_dcache_ref r;

		cr_assert_eq(dwcp_dcache_lookup(&c, 1, 42, &r), 0);
		cr_assert_eq(dwcp_dcache_insert(&c, 1, 43, r.data, r.len, r.hash, 60, false), 0);
		expect_v(&c, 1, 42, 60, PG);
		cr_assert_eq(dwcp_dcache_lookup(&c, 1, 43, &r), 0);
	}
	free(m);
}

Test(dcache, fifo_eviction_when_full)
{
	const uint32_t n = 32;
	struct dwcp_dcache c;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(n);
	uint8_t *m = cache_mem(size);

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	cr_assert_eq(c.n, n);
	for (uint64_t p = 0; p < n + 10; p++)
		cr_assert_eq(insert_v(&c, 3, p, 1, PG), 0);
	for (uint64_t p = 0; p < 10; p++)
		expect_miss(&c, 3, p);
	for (uint64_t p = 10; p < n + 10; p++)
		expect_v(&c, 3, p, 1, PG);
	dwcp_dcache_stats(&c, &st);
	cr_assert_eq(st.live, n);
	cr_assert_eq(st.evictions, 10);
	/* A re-inserted key goes to the young end: refresh the oldest (10),
	 * then one more insert evicts 11, not 10. */
	cr_assert_eq(insert_v(&c, 3, 10, 2, PG), 0);
	cr_assert_eq(insert_v(&c, 3, 1000, 1, PG), 0);
	expect_v(&c, 3, 10, 2, PG);
	expect_miss(&c, 3, 11);
	expect_v(&c, 3, 12, 1, PG);
	/* Churn many times round the ring with random keys: the model of
	 * the last n insertions is exactly what hits. */
	{
		uint64_t s = 99, keys[4096];
		uint32_t vers[4096] = { 0 };

		for (unsigned i = 0; i < 4096; i++)
			keys[i] = i;
		for (unsigned it = 0; it < 20000; it++) {
			unsigned k = (unsigned)(dwcp_test_rand(&s) % 64);

			cr_assert_eq(insert_v(&c, 4, keys[k], ++vers[k], PG), 0);
		}
		dwcp_dcache_stats(&c, &st);
		cr_assert_leq(st.live, n);
		for (unsigned k = 0; k < 64; k++) {
			struct dwcp_dcache_ref r;

			if (dwcp_dcache_lookup(&c, 4, keys[k], &r) == 0)
				expect_v(&c, 4, keys[k], vers[k], PG);
		}
	}
	free(m);
}

/* What changed is what a VM changes again: a page that came changed (or
 * replaced its cached version) outlives one round of the cursor, and only
 * one. */
Test(dcache, changed_pages_are_spared_once_by_the_cursor)
{
	const uint32_t n = 32;
	struct dwcp_dcache c;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(n);
	uint8_t *m = cache_mem(size);

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	cr_assert_eq(c.n, n);
	/* A full cache whose oldest 8 pages came changed. */
	for (uint64_t p = 0; p < n; p++)
		cr_assert_eq(p < 8 ? insert_changed(&c, 5, p, 1) : insert_v(&c, 5, p, 1, PG), 0);
	/* 16 new pages: the cursor passes the 8 changed ones, evicts 8..23. */
	for (uint64_t p = 100; p < 116; p++)
		cr_assert_eq(insert_v(&c, 5, p, 1, PG), 0);
	for (uint64_t p = 0; p < 8; p++)
		expect_v(&c, 5, p, 1, PG);
	for (uint64_t p = 8; p < 24; p++)
		expect_miss(&c, 5, p);
	for (uint64_t p = 24; p < n; p++)
		expect_v(&c, 5, p, 1, PG);
	dwcp_dcache_stats(&c, &st);
	cr_expect_eq(st.spared, 8);
	cr_expect_eq(st.evictions, 16);
	/* One more round: their marks are gone, so they go in turn (FIFO
	 * would have evicted them first; they are evicted last). */
	for (uint64_t p = 200; p < 200 + n; p++)
		cr_assert_eq(insert_v(&c, 5, p, 1, PG), 0);
	for (uint64_t p = 0; p < 8; p++)
		expect_miss(&c, 5, p);
	dwcp_dcache_stats(&c, &st);
	cr_expect_eq(st.spared, 8, "spared once, not forever");
	/* A page whose cached version is replaced is marked as well. */
	cr_assert_eq(insert_v(&c, 5, 200, 2, PG), 0);
	for (uint64_t p = 300; p < 300 + n; p++)   /* the cursor comes round to it */
		cr_assert_eq(insert_v(&c, 5, p, 1, PG), 0);
	expect_v(&c, 5, 200, 2, PG);
	dwcp_dcache_stats(&c, &st);
	cr_expect_eq(st.spared, 9);
	free(m);
}

/* Everything marked: an insert still evicts, after passing at most
 * DWCP_DCACHE_SPARE_MAX entries. */
Test(dcache, an_insert_passes_a_bounded_number_of_changed_pages)
{
	const uint32_t n = 32;
	struct dwcp_dcache c;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(n);
	uint8_t *m = cache_mem(size);

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	for (uint64_t p = 0; p < n; p++)
		cr_assert_eq(insert_changed(&c, 6, p, 1), 0);
	cr_assert_eq(insert_v(&c, 6, 1000, 1, PG), 0);
	dwcp_dcache_stats(&c, &st);
	cr_expect_eq(st.spared, DWCP_DCACHE_SPARE_MAX);
	cr_expect_eq(st.evictions, 1);
	expect_miss(&c, 6, DWCP_DCACHE_SPARE_MAX);
	for (uint64_t p = 0; p < DWCP_DCACHE_SPARE_MAX; p++)
		expect_v(&c, 6, p, 1, PG);
	expect_v(&c, 6, 1000, 1, PG);
	free(m);
}

Test(dcache, corrupt_page_or_wrong_hash_is_a_miss)
{
	struct dwcp_dcache c;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(8);
	uint8_t *m = cache_mem(size), buf[PG];
	struct dwcp_dcache_ref r;

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	cr_assert_eq(insert_v(&c, 1, 1, 1, PG), 0);
	cr_assert_eq(insert_v(&c, 1, 2, 1, 100), 0);
	cr_assert_eq(dwcp_dcache_lookup(&c, 1, 1, &r), 0);
	((uint8_t *)r.data)[PG / 2] ^= 1;               /* bit rot in the page */
	expect_miss(&c, 1, 1);
	cr_assert_eq(dwcp_dcache_lookup(&c, 1, 2, &r), 0);
	((uint8_t *)r.data)[100] ^= 1;                  /* the padding is not hashed */
	expect_v(&c, 1, 2, 1, 100);
	c.ent[(r.data - c.pages) / PG].len = 101;       /* a wrong length */
	expect_miss(&c, 1, 2);
	content(buf, 1, 3, 1, PG);
	cr_assert_eq(dwcp_dcache_insert(&c, 1, 3, buf, PG, h64(buf, PG) ^ 1, 1, false), 0);
	expect_miss(&c, 1, 3);
	dwcp_dcache_stats(&c, &st);
	cr_assert_eq(st.corrupt, 3);
	free(m);
}

Test(dcache, reattach_keeps_entries_and_rebuilds_the_index)
{
	const uint32_t n = 48;
	struct dwcp_dcache c, d;
	struct dwcp_dcache_stats st;
	uint64_t size = size_for(n);
	uint8_t *m = cache_mem(size);

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	for (uint64_t p = 0; p < n + 20; p++)            /* wrapped once */
		cr_assert_eq(insert_v(&c, 5, p % 60, (uint32_t)(p / 60) + 1, PG), 0);
	memset(c.index, 0, ((size_t)c.mask + 1) * sizeof(uint32_t));   /* index gone */
	cr_assert_eq(dwcp_dcache_attach(&d, m, size), 0);
	cr_assert(!d.formatted, "a valid cache was formatted");
	dwcp_dcache_stats(&d, &st);
	cr_assert_eq(st.live, n);
	/* Insert order: keys 0..59 v1, then 0..7 v2; the last n survive:
	 * 20..59 v1 and 0..7 v2. */
	for (uint64_t p = 8; p < 20; p++)
		expect_miss(&d, 5, p);
	for (uint64_t p = 20; p < 60; p++)
		expect_v(&d, 5, p, 1, PG);
	for (uint64_t p = 0; p < 8; p++)
		expect_v(&d, 5, p, 2, PG);
	/* The cursor goes on where it was: the next insert evicts key 20. */
	cr_assert_eq(insert_v(&d, 5, 500, 1, PG), 0);
	expect_miss(&d, 5, 20);
	expect_v(&d, 5, 21, 1, PG);
	/* Another size is another geometry: formatted. */
	cr_assert_eq(dwcp_dcache_attach(&d, m, size - 64), 0);
	cr_assert(d.formatted);
	expect_miss(&d, 5, 21);
	free(m);
}

Test(dcache, random_bytes_in_the_index_are_safe_and_rebuilt_on_attach)
{
	const uint32_t n = 64;
	struct dwcp_dcache c, d;
	uint64_t size = size_for(n), s = 4242;
	uint8_t *m = cache_mem(size);

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	for (uint64_t p = 0; p < n; p++)
		cr_assert_eq(insert_v(&c, 6, p, 1, PG), 0);
	for (int round = 0; round < 20; round++) {
		for (uint32_t i = 0; i <= c.mask; i++)
			if (dwcp_test_rand(&s) % 3 == 0)
				c.index[i] = (uint32_t)dwcp_test_rand(&s) % (round & 1 ? ~0u : n + 2);
		/* Damaged but not re-attached: inserts and lookups stay in
		 * bounds (ASan build) and end, and whatever hits is right.
		 * Each insert re-inserts the key of the ring place it will
		 * overwrite, so the set of keys stays 0..n-1 at v1. */
		dwcp_dcache_prefetch(&c, 6, 0, n + 8);   /* reads the damaged index too */
		c.hdr->next_serial ^= dwcp_test_rand(&s) & (round & 1 ? ~0ull : 0);
		dwcp_dcache_prefetch(&c, 6, ~0ull - 4, 9);
		for (int k = 0; k < 5; k++) {
			uint64_t key = c.ent[c.hdr->next_serial % c.n].page;

			cr_assert_eq(insert_v(&c, 6, key, 1, PG), 0);
		}
		for (uint64_t p = 0; p < n + 8; p++) {
			struct dwcp_dcache_ref r;

			if (dwcp_dcache_lookup(&c, 6, p, &r) == 0)
				expect_v(&c, 6, p, 1, PG);
		}
		cr_assert_eq(dwcp_dcache_attach(&d, m, size), 0);
		cr_assert(!d.formatted);
		for (uint64_t p = 0; p < n; p++)
			expect_v(&d, 6, p, 1, PG);
		c = d;
	}
	free(m);
}

/* ---- an insert cut short ------------------------------------------------- */

/* The steps of dcache.h's insert, done here by hand on the raw entry so the
 * "process" can stop after any of them: 0 nothing, 1 entry killed, 2 half
 * the page, 3 whole page, 4 stream, 5 page, 6 len, 7 tag, 8 hash,
 * 9 serial published, 10 cursor advanced. (Step 6 of dcache.h, the index
 * and the old version's death, is derived data that attach rebuilds; the
 * index here keeps whatever the real code left.) */
static void partial_insert(struct dwcp_dcache *c, uint64_t stream, uint64_t page,
			   const uint8_t *data, uint32_t len, uint64_t tag, int stop)
{
	const uint64_t s = c->hdr->next_serial;
	struct dwcp_dcache_entry *x = &c->ent[s % c->n];
	uint8_t *p = c->pages + (size_t)(s % c->n) * PG;

	if (stop >= 1)
		x->serial = 0;
	if (stop >= 2)
		memcpy(p, data, len / 2);
	if (stop >= 3)
		memcpy(p, data, len);
	if (stop >= 4)
		x->stream = stream;
	if (stop >= 5)
		x->page = page;
	if (stop >= 6)
		x->len = len;
	if (stop >= 7)
		x->tag = tag;
	if (stop >= 8)
		x->hash = h64(data, len);
	if (stop >= 9)
		x->serial = s;
	if (stop >= 10)
		c->hdr->next_serial = s + 1;
}

Test(dcache, an_insert_cut_short_at_any_step_never_yields_a_wrong_page)
{
	const uint32_t n = 16;
	uint64_t size = size_for(n);
	uint8_t *m = cache_mem(size), *snap = dwcp_test_xmalloc(size), newp[PG];

	/* A full cache: keys 0..15 of stream 2 at v1; the next insert's ring
	 * place holds key 0. Insert (a) a new version of key 5 (its old one
	 * lives elsewhere) and (b) a brand-new key 99, each cut short at
	 * every step. */
	for (int which = 0; which < 2; which++) {
		const uint64_t key = which ? 99 : 5;

		for (int stop = 0; stop <= 10; stop++) {
			struct dwcp_dcache c, d;
			struct dwcp_dcache_ref r;

			memset(m, 0, size);
			cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
			for (uint64_t p = 0; p < n; p++)
				cr_assert_eq(insert_v(&c, 2, p, 1, PG), 0);
			memcpy(snap, m, size);
			content(newp, 2, key, 2, PG);
			partial_insert(&c, 2, key, newp, PG, 2, stop);
			cr_assert_eq(dwcp_dcache_attach(&d, m, size), 0);
			cr_assert(!d.formatted);
			/* The new version is there once its serial is, never before. */
			if (stop >= 9)
				expect_v(&d, 2, key, 2, PG);
			else if (which == 0)
				expect_v(&d, 2, key, 1, PG);
			else
				expect_miss(&d, 2, key);
			/* Key 0 (the overwritten ring place) is intact or gone. */
			if (stop == 0)
				expect_v(&d, 2, 0, 1, PG);
			else
				expect_miss(&d, 2, 0);
			/* Every other key is as it was. */
			for (uint64_t p = 1; p < n; p++)
				if (p != key)
					expect_v(&d, 2, p, 1, PG);
			/* And the cache goes on working: one more full round. */
			for (uint64_t p = 200; p < 200 + n; p++)
				cr_assert_eq(insert_v(&d, 2, p, 1, PG), 0);
			for (uint64_t p = 200; p < 200 + n; p++)
				expect_v(&d, 2, p, 1, PG);
			cr_assert_eq(dwcp_dcache_lookup(&d, 2, key, &r), -ENOENT);
		}
	}
	/* The index half of step 6: the new entry published in the index
	 * while the old version's entry is not yet dead. Attach must let the
	 * higher serial win, whichever entry comes first in the ring. */
	for (int first_old = 0; first_old < 2; first_old++) {
		/* Keys 0..2 (ring places 1..3): key 1 at 2, the new one at 4.
		 * Keys 0..15 (places 1..15, 0): key 14 at 15, the new one at 1. */
		const uint64_t nkeys = first_old ? 3 : n, key = first_old ? 1 : 14;
		const uint32_t eo = first_old ? 2 : 15, en = first_old ? 4 : 1;
		struct dwcp_dcache c, d;

		memset(m, 0, size);
		cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
		for (uint64_t p = 0; p < nkeys; p++)
			cr_assert_eq(insert_v(&c, 2, p, 1, PG), 0);
		cr_assert_eq(c.hdr->next_serial % n, en);
		content(newp, 2, key, 2, PG);
		partial_insert(&c, 2, key, newp, PG, 2, 10);
		cr_assert(c.ent[eo].page == key && c.ent[eo].serial, "old version not at %u", eo);
		cr_assert_eq(dwcp_dcache_attach(&d, m, size), 0);
		expect_v(&d, 2, key, 2, PG);
		cr_assert_eq(d.ent[eo].serial, 0, "the older version was not killed");
		for (uint64_t p = 0; p < nkeys; p++)
			if (p != key && (first_old || p != 0))   /* key 0's place was en */
				expect_v(&d, 2, p, 1, PG);
	}
	free(m), free(snap);
}

/* holds() is how svc-mem skips re-storing a version it already has: it
 * must say yes only for this key, length and hash, count nothing, and say
 * no once the entry is evicted or replaced. */
Test(dcache, holds_matches_key_length_and_hash_only)
{
	struct dwcp_dcache c;
	struct dwcp_dcache_stats before, after;
	uint64_t size = size_for(4);
	uint8_t *m = cache_mem(size);
	uint8_t buf[PG];

	cr_assert_eq(dwcp_dcache_attach(&c, m, size), 0);
	content(buf, 7, 0, 1, PG);
	cr_assert_eq(insert_v(&c, 7, 0, 1, PG), 0);
	dwcp_dcache_stats(&c, &before);
	cr_assert(dwcp_dcache_holds(&c, 7, 0, PG, h64(buf, PG)));
	cr_assert(!dwcp_dcache_holds(&c, 7, 0, PG, h64(buf, PG) ^ 1), "another hash");
	cr_assert(!dwcp_dcache_holds(&c, 7, 0, PG - 1, h64(buf, PG)), "another length");
	cr_assert(!dwcp_dcache_holds(&c, 7, 1, PG, h64(buf, PG)), "another page");
	cr_assert(!dwcp_dcache_holds(&c, 8, 0, PG, h64(buf, PG)), "another stream");
	dwcp_dcache_stats(&c, &after);
	cr_assert_eq(after.hits, before.hits);
	cr_assert_eq(after.misses, before.misses);
	cr_assert_eq(insert_v(&c, 7, 0, 2, PG), 0);   /* a new version */
	cr_assert(!dwcp_dcache_holds(&c, 7, 0, PG, h64(buf, PG)), "replaced version");
	for (uint64_t p = 1; p <= 8; p++)   /* push it out of the ring (spared once: replaced) */
		cr_assert_eq(insert_v(&c, 9, p, 1, PG), 0);
	content(buf, 7, 0, 2, PG);
	cr_assert(!dwcp_dcache_holds(&c, 7, 0, PG, h64(buf, PG)), "evicted");
	free(m);
}

/* svc-mem workers each keep a part of the region: the parts do not
 * overlap (a page put in one is not in another, and filling one evicts
 * nothing of another), and status's sum is every part's figures. */
Test(dcache, parts_of_a_region_are_caches_of_their_own_and_sum_up)
{
	const uint64_t size = 3 * 64 * PG + 123;
	uint8_t *mem = cache_mem(size), *part[3];
	struct dwcp_dcache c[3];
	struct dwcp_dcache_stats st, one;
	struct dwcp_dcache_ref ref;
	uint8_t page[PG];
	uint64_t part_size[3];

	for (unsigned k = 0; k < 3; k++) {
		dwcp_dcache_part(mem, size, k, 3, &part[k], &part_size[k]);
		cr_assert_eq(part_size[k] % PG, 0u);
		cr_assert_leq((uint64_t)(part[k] - mem) + part_size[k], size, "part %u runs past the region", k);
		cr_assert_eq(dwcp_dcache_attach(&c[k], part[k], part_size[k]), 0);
	}
	cr_assert_eq(dwcp_dcache_sum(mem, size, 3, &st), true);
	cr_expect_eq(st.live, 0u);
	memset(page, 7, sizeof(page));
	cr_assert_eq(dwcp_dcache_insert(&c[0], 1, 5, page, PG, h64(page, PG), 0, false), 0);
	cr_expect_eq(dwcp_dcache_lookup(&c[1], 1, 5, &ref), -ENOENT, "part 1 holds part 0's page");
	/* Fill part 1 to eviction: part 0's page stays. */
	for (uint64_t p = 0; p < 4u * c[1].n; p++)
		cr_assert_eq(dwcp_dcache_insert(&c[1], 2, p, page, PG, h64(page, PG), 0, false), 0);
	cr_expect_eq(dwcp_dcache_lookup(&c[0], 1, 5, &ref), 0, "filling part 1 evicted part 0's page");
	cr_assert_eq(dwcp_dcache_sum(mem, size, 3, &st), true);
	dwcp_dcache_stats(&c[1], &one);
	cr_expect_eq(st.live, 1u + one.live);
	cr_expect_eq(st.inserts, 1u + 4u * c[1].n);
	cr_expect_eq(st.capacity, (uint64_t)c[0].n + c[1].n + c[2].n);
	cr_expect_eq(st.hits, 1u);
	/* One part is the whole region, as before workers. */
	dwcp_dcache_part(mem, size, 0, 1, &part[0], &part_size[0]);
	cr_expect(part[0] == mem && part_size[0] == size);
	free(mem);
}

/* Which chunks of a first send the caches remember (ipc/dcache.h): all
 * when the stream fits or the cache's size is unknown, else a sample that
 * fills 0.9 of the cache, the same chunks every time, spread over the
 * stream, and another sample for another stream. */
Test(dcache, a_stream_larger_than_the_cache_is_admitted_by_sample)
{
	const uint64_t cap = 56335, pages = 262144, chunks = 4096;   /* 224 MiB, 1 GiB, 256 KiB */
	double share = dwcp_dcache_share(cap, pages);
	uint64_t in = 0, both = 0, first_half = 0;

	cr_expect_eq(dwcp_dcache_share(cap, cap / 2), 1.0, "a stream that fits is admitted whole");
	cr_expect_eq(dwcp_dcache_share(0, pages), 1.0, "unknown cache size: all");
	cr_expect_eq(dwcp_dcache_share(cap, 0), 1.0);
	cr_assert_float_eq(share, 0.9 * (double)cap / (double)pages, 1e-12);
	for (uint64_t seq = 0; seq < chunks; seq++) {
		bool a = dwcp_dcache_admits(0x1234567890abcdefull, seq, share);

		cr_assert_eq(a, dwcp_dcache_admits(0x1234567890abcdefull, seq, share), "not deterministic");
		in += a;
		first_half += a && seq < chunks / 2;
		both += a && dwcp_dcache_admits(0xfedcba0987654321ull, seq, share);
		cr_assert(dwcp_dcache_admits(7, seq, 1.0) && !dwcp_dcache_admits(7, seq, 0.0));
	}
	/* 4096 draws at p = 0.193: 791 expected, sd 25. */
	cr_expect(fabs((double)in - share * chunks) < 5 * 25, "%llu of %llu chunks admitted at share %.3f",
		  (unsigned long long)in, (unsigned long long)chunks, share);
	cr_expect(fabs((double)first_half - (double)in / 2) < 5 * 18, "%llu of %llu in the first half",
		  (unsigned long long)first_half, (unsigned long long)in);
	/* Independent samples overlap share^2 of the time (153), not always. */
	cr_expect(both < in / 2, "two streams admit the same chunks: %llu of %llu", (unsigned long long)both,
		  (unsigned long long)in);
}
