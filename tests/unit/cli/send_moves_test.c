/* The sender's search for moved pages (cli/send_moves.h), on a real page
 * index written to a temporary directory: a previous version of random
 * pages, and new chunks built from it.
 *
 *  - content shifted by 39 bytes is found, and each moved page's source is
 *    exactly where the previous version has those bytes (checked against
 *    the old data, not against the code's own arithmetic);
 *  - a page-aligned relocation is found too;
 *  - the --inplace rule: a source before the chunk is used only where the
 *    page there was kept, one at or after the chunk always;
 *  - a page equal to one an earlier chunk of this version carried is moved
 *    from the output (DWCP_HDE_SRC_NEW), never from the chunk itself or a
 *    later one;
 *  - unrelated random data and zero-free candidates moves nothing;
 *  - an index without weak keys (version 1) gives no search at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/util.h"
#include "cli/send_moves.h"
#include "common/cpu.h"
#include "common/digest.h"
#include "common/fpindex.h"
#include "common/ops/weaksum.h"
#include "common/ops/hde.h"

#define PG       4096u
#define OLD_PGS  256u                 /* the previous version: 1 MiB of random pages */
#define CHUNK    (64u * PG)

static uint8_t *old;                  /* the previous version's bytes */
static char dir[64], path[128];
static struct dwcp_fpindex ix;

static void hashes_of(const uint8_t *data, uint32_t len, uint8_t (*h)[DWCP_DIGEST_PAGE_HASH])
{
	struct dwcp_cpu_features cpu;
	struct dwcp_xxh3_impl x;

	dwcp_cpu_detect(&cpu);
	dwcp_xxh3_select(&x, &cpu);
	dwcp_digest_page_hashes(&x, data, len, h);
}

/* Write the index of the OLD_PGS pages of `old`, with weak keys, and open it. */
static void make_index(void)
{
	struct dwcp_fpindex_writer w;
	struct dwcp_err err = { 0 };
	struct dwcp_weaksum_impl ws;
	struct dwcp_cpu_features cpu;
	static uint8_t h[OLD_PGS][DWCP_DIGEST_PAGE_HASH];
	static uint32_t keys[OLD_PGS];

	dwcp_cpu_detect(&cpu);
	dwcp_weaksum_select(&ws, &cpu);
	hashes_of(old, (uint32_t)OLD_PGS * PG, h);
	for (unsigned i = 0; i < OLD_PGS; i++) {
		struct dwcp_weaksum s;

		ws.page(old + (size_t)i * PG, &s);
		keys[i] = dwcp_weaksum_key(&s);
	}
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, keys, OLD_PGS), 0);
	cr_assert_eq(dwcp_fpindex_commit(&w, (uint64_t)OLD_PGS * PG, 77, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert(ix.has_keys);
}

static void setup(void)
{
	uint64_t s = 1234;

	old = malloc((size_t)OLD_PGS * PG);
	cr_assert_not_null(old);
	dwcp_test_fill_random(old, (size_t)OLD_PGS * PG, &s);
	snprintf(dir, sizeof(dir), "/tmp/dwcp-moves.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/idx.fpi", dir);
	make_index();
}

static void teardown(void)
{
	char cmd[128];

	dwcp_fpindex_close(&ix);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	free(old);
}

TestSuite(send_moves, .init = setup, .fini = teardown);


/* Every moved page's 4096 bytes are at its source in `old`. */
static void check_sources(const uint8_t *data, uint64_t moved, const uint64_t *src)
{
	for (unsigned i = 0; i < 64; i++) {
		if (!(moved >> i & 1))
			continue;
		cr_assert(!(src[i] & DWCP_HDE_SRC_NEW), "page %u from the new version", i);
		cr_assert_leq(src[i] + PG, (uint64_t)OLD_PGS * PG, "page %u: source %llu beyond", i,
			      (unsigned long long)src[i]);
		cr_assert(!memcmp(data + (size_t)i * PG, old + src[i], PG), "page %u: source %llu is not it",
			  i, (unsigned long long)src[i]);
	}
}

Test(send_moves, content_shifted_39_bytes_is_found_at_its_source)
{
	static uint8_t chunk[CHUNK];
	uint8_t h[64][DWCP_DIGEST_PAGE_HASH];
	uint64_t src[64] = { 0 }, moved;
	struct send_moves *m = send_moves_create(&ix, 4 * (uint64_t)CHUNK);

	cr_assert_not_null(m);
	/* The first chunk of the new version: a 39-byte line, then old
	 * pages 10..49 shifted; zeros after. */
	memset(chunk, 0, sizeof(chunk));
	memcpy(chunk, "upgraded by send_moves_test, version 2\n", 39);
	memcpy(chunk + 39, old + 10 * PG, 40 * PG);
	hashes_of(chunk, CHUNK, h);
	moved = send_moves_find(m, chunk, CHUNK, 0, NULL, NULL, (1ull << 41) - 1,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	cr_log_info("moved %016llx", (unsigned long long)moved);
	check_sources(chunk, moved, src);
	/* Pages 1..39 lie wholly inside the shifted run; page 0 holds the
	 * line, page 40 the run's end. */
	cr_assert_eq(moved, ((1ull << 40) - 1) & ~1ull, "moved %016llx", (unsigned long long)moved);
	send_moves_destroy(m);
}

Test(send_moves, an_aligned_relocation_is_found)
{
	static uint8_t chunk[CHUNK];
	uint8_t h[64][DWCP_DIGEST_PAGE_HASH];
	uint64_t src[64] = { 0 }, moved;
	struct send_moves *m = send_moves_create(&ix, 4 * (uint64_t)CHUNK);
	uint64_t s = 99;

	dwcp_test_fill_random(chunk, sizeof(chunk), &s);
	memcpy(chunk + 5 * PG, old + 200 * PG, 3 * PG);
	hashes_of(chunk, CHUNK, h);
	moved = send_moves_find(m, chunk, CHUNK, 3 * (uint64_t)CHUNK, NULL, NULL, ~0ull,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	check_sources(chunk, moved, src);
	cr_assert_eq(moved, 7ull << 5, "moved %016llx", (unsigned long long)moved);
	cr_assert_eq(src[5], 200ull * PG);
	send_moves_destroy(m);
}

Test(send_moves, in_place_rule_uses_only_sources_the_receiver_still_has)
{
	static uint8_t chunk[CHUNK];
	uint8_t h[64][DWCP_DIGEST_PAGE_HASH];
	uint64_t src[64] = { 0 }, moved;
	struct send_moves *m = send_moves_create(&ix, 4 * (uint64_t)CHUNK);
	uint64_t s = 5;

	uint8_t junk[64][DWCP_DIGEST_PAGE_HASH];

	/* Chunks 0 and 1 (old pages 0..127) read: of chunk 0 only pages
	 * 0..31 kept (the others rewritten with new data, hashes junk),
	 * chunk 1 wholly kept. */
	dwcp_test_fill_random((uint8_t *)junk, sizeof(junk), &s);
	send_moves_note(m, 0, 64, (1ull << 32) - 1, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])junk);
	send_moves_note(m, 64, 64, ~0ull, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])junk);
	/* Chunk 2 (pages 128..191) holds old pages 40..43 (chunk 0, rewritten:
	 * not intact), 10..13 (kept), 100..103 (chunk 1, kept), 150..153
	 * (this chunk's own range: not yet written). */
	dwcp_test_fill_random(chunk, sizeof(chunk), &s);
	memcpy(chunk + 0 * PG, old + 40 * PG, 4 * PG);
	memcpy(chunk + 8 * PG, old + 10 * PG, 4 * PG);
	memcpy(chunk + 16 * PG, old + 100 * PG, 4 * PG);
	memcpy(chunk + 24 * PG, old + 150 * PG, 4 * PG);
	hashes_of(chunk, CHUNK, h);
	moved = send_moves_find(m, chunk, CHUNK, 2 * (uint64_t)CHUNK, NULL, NULL, ~0ull,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	check_sources(chunk, moved, src);
	cr_assert_eq(moved, (0xfull << 8) | (0xfull << 16) | (0xfull << 24), "moved %016llx",
		     (unsigned long long)moved);
	send_moves_destroy(m);
}

Test(send_moves, a_page_carried_again_moves_from_the_output_written_before)
{
	static uint8_t c0[CHUNK], c1[CHUNK];
	uint8_t h0[64][DWCP_DIGEST_PAGE_HASH], h1[64][DWCP_DIGEST_PAGE_HASH];
	uint64_t src[64] = { 0 }, moved;
	struct send_moves *m = send_moves_create(&ix, 8 * (uint64_t)CHUNK);
	uint64_t s = 17;

	dwcp_test_fill_random(c0, sizeof(c0), &s);
	dwcp_test_fill_random(c1, sizeof(c1), &s);
	hashes_of(c0, CHUNK, h0);
	/* Within one chunk a repeated page is no source (not written yet). */
	memcpy(c0 + 9 * PG, c0 + 3 * PG, PG);
	hashes_of(c0, CHUNK, h0);
	moved = send_moves_find(m, c0, CHUNK, 4 * (uint64_t)CHUNK, NULL, NULL, ~0ull,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h0, src);
	cr_assert_eq(moved, 0, "moved %016llx within its own chunk", (unsigned long long)moved);
	send_moves_note(m, 4 * 64, 64, 0, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h0);
	/* The next chunk carries c0's page 7 again at its page 2. */
	memcpy(c1 + 2 * PG, c0 + 7 * PG, PG);
	hashes_of(c1, CHUNK, h1);
	moved = send_moves_find(m, c1, CHUNK, 5 * (uint64_t)CHUNK, NULL, NULL, ~0ull,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h1, src);
	cr_assert_eq(moved, 1ull << 2, "moved %016llx", (unsigned long long)moved);
	cr_assert_eq(src[2], DWCP_HDE_SRC_NEW | ((4 * 64 + 7) * (uint64_t)PG));
	/* A redo of an earlier chunk (at pages 192..255) may not take it: it
	 * is written after that chunk. */
	moved = send_moves_find(m, c1, CHUNK, 3 * (uint64_t)CHUNK, NULL, NULL, ~0ull,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h1, src);
	cr_assert_eq(moved, 0, "moved %016llx from a page written later", (unsigned long long)moved);
	send_moves_destroy(m);
}

Test(send_moves, unrelated_data_and_non_candidates_move_nothing)
{
	static uint8_t chunk[CHUNK];
	uint8_t h[64][DWCP_DIGEST_PAGE_HASH];
	uint64_t src[64] = { 0 };
	struct send_moves *m = send_moves_create(&ix, 4 * (uint64_t)CHUNK);
	uint64_t s = 3;

	dwcp_test_fill_random(chunk, sizeof(chunk), &s);
	hashes_of(chunk, CHUNK, h);
	cr_assert_eq(send_moves_find(m, chunk, CHUNK, 3 * (uint64_t)CHUNK, NULL, NULL, ~0ull,
				     (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src), 0);
	cr_assert_eq(send_moves_rolled(m), 63ull * PG + 1, "every window start of the chunk rolled once");
	/* Candidates: neither kept nor zero (told by the page hash). */
	memset(chunk + 5 * PG, 0, PG);
	hashes_of(chunk, CHUNK, h);
	cr_assert_eq(send_moves_candidates(m, CHUNK, 1ull << 7, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h),
		     ~0ull & ~(1ull << 5) & ~(1ull << 7));
	cr_assert_eq(send_moves_candidates(m, 3 * PG, 0, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h), 7);
	/* Old content, but not among the candidates: left alone. */
	memcpy(chunk, old, CHUNK);
	hashes_of(chunk, CHUNK, h);
	cr_assert_eq(send_moves_find(m, chunk, CHUNK, 3 * (uint64_t)CHUNK, NULL, NULL, 0,
				     (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src), 0);
	send_moves_destroy(m);
}

Test(send_moves, an_index_without_weak_keys_searches_nothing)
{
	struct dwcp_fpindex v1 = ix;

	v1.has_keys = false;
	cr_assert_null(send_moves_create(&v1, CHUNK));
}

/* A shifted run crossing a chunk boundary: with the file's page either
 * side of the chunk, the pages at its edges move too. */
Test(send_moves, a_run_across_a_chunk_boundary_moves_the_edge_pages_too)
{
	static uint8_t img[2 * CHUNK + PG];
	uint8_t h[64][DWCP_DIGEST_PAGE_HASH];
	uint64_t src[64] = { 0 }, moved;
	struct send_moves *m = send_moves_create(&ix, 2 * (uint64_t)CHUNK + PG);
	const uint8_t *a = img, *b = img + CHUNK;

	memcpy(img + 60 * PG, "upgraded by send_moves_test, version 2\n", 39);
	memcpy(img + 60 * PG + 39, old + 10 * PG, 10 * PG);   /* old 10..19, to img 70 P + 39 */
	hashes_of(a, CHUNK, h);
	moved = send_moves_find(m, a, CHUNK, 0, NULL, NULL, 0xfull << 60,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	cr_assert_eq(moved, 3ull << 61, "alone: moved %016llx", (unsigned long long)moved);
	moved = send_moves_find(m, a, CHUNK, 0, NULL, b, 0xfull << 60,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	cr_assert_eq(moved, 7ull << 61, "with the page after: moved %016llx", (unsigned long long)moved);
	check_sources(a, moved, src);
	/* Chunk a read: its pages 0..59 (old pages 10..19 among them) kept,
	 * so chunk b may take them as sources. */
	send_moves_note(m, 0, 64, (1ull << 60) - 1, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h);
	hashes_of(b, CHUNK, h);
	moved = send_moves_find(m, b, CHUNK, CHUNK, NULL, NULL, 0x7f,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	cr_assert_eq(moved, 0x3e, "alone: moved %016llx", (unsigned long long)moved);
	moved = send_moves_find(m, b, CHUNK, CHUNK, b - PG, b + CHUNK, 0x7f,
				(const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h, src);
	cr_assert_eq(moved, 0x3f, "with the page before: moved %016llx", (unsigned long long)moved);
	check_sources(b, moved, src);
	send_moves_destroy(m);
}
