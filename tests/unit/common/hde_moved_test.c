/* HDE version 3 (common/ops/hde.h): MOVED records and the longer trailer that
 * carries one source offset per moved page. A body assembled by hand from
 * the header's description parses and decodes as documented; the encoder
 * writes exactly that layout; every inconsistency a peer could send (a
 * MOVED record in a version 2 body, masks that overlap or disagree with
 * the records, a moved short page, a cut trailer) is -EBADMSG; and a
 * chunk with the MOVED flag must be a kept one (ipc/chunk.c). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/util.h"
#include "common/cpu.h"
#include "ipc/chunk.h"
#include "common/ops/hde.h"

#define PG DWCP_HDE_PAGE

static struct dwcp_hde_codec X;

static void setup(void)
{
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&X, &cpu);
}

TestSuite(hde_moved, .init = setup);

static void put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Version 3, four pages: MOVED, RAW, KEPT, MOVED; trailer: the two
 * sources in page order, the moved mask, the digest, the kept mask. */
Test(hde_moved, hand_assembled_body_decodes_as_documented)
{
	uint8_t data[4 * PG], out[4 * PG], body[1 + 1 + 1 + PG + 1 + 1 + 2 * 8 + 24];
	struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_kept k;
	uint64_t s = 11;
	size_t p = 0;

	dwcp_test_fill_random(data, sizeof(data), &s);
	body[p++] = 3;
	body[p++] = 6;                                 /* page 0: MOVED */
	body[p++] = 4;                                 /* page 1: RAW */
	memcpy(body + p, data + PG, PG);
	p += PG;
	body[p++] = 5;                                 /* page 2: KEPT */
	body[p++] = 6;                                 /* page 3: MOVED */
	put_le64(body + p, 12345);                     /* src of page 0 */
	put_le64(body + p + 8, 1ull << 40);            /* src of page 3 */
	put_le64(body + p + 16, 0x9);                  /* moved: pages 0 and 3 */
	put_le64(body + p + 24, 0xfeedull);            /* digest */
	put_le64(body + p + 32, 0x4);                  /* kept: page 2 */
	p += 40;
	cr_assert_eq(p, sizeof(body));
	cr_assert_eq(dwcp_hde_parse(body, p, 4 * PG, r), 4);
	cr_assert_eq(r[0].kind, DWCP_HDE_MOVED);
	cr_assert_eq(r[3].kind, DWCP_HDE_MOVED);
	cr_assert_eq(dwcp_hde_kept_of(body, p, 4, &k), 1);
	cr_assert_eq(k.mask, 0x4);
	cr_assert_eq(k.moved, 0x9);
	cr_assert_eq(k.digest, 0xfeed);
	cr_assert_eq(k.src[0], 12345);
	cr_assert_eq(k.src[3], 1ull << 40);
	cr_assert_eq(dwcp_hde_kept_len(&k), 40);
	memset(out, 0xaa, sizeof(out));
	cr_assert_eq(dwcp_hde_decode(&X, body, p, 4 * PG, 0, NULL, out), 0, "MOVED needs no base");
	for (size_t i = 0; i < PG; i++)
		cr_assert(out[i] == 0 && out[2 * PG + i] == 0 && out[3 * PG + i] == 0,
			  "moved and kept pages decode as zeros (byte %zu)", i);
	cr_assert(!memcmp(out + PG, data + PG, PG));
}

/* The encoder writes MOVED exactly for the moved mask, the trailer in the
 * documented order, and round trips through kept_get at the raw stage. */
Test(hde_moved, encoder_writes_the_documented_trailer)
{
	static uint8_t data[8 * PG], body[DWCP_HDE_BOUND_KEPT(8 * PG)], trailer[DWCP_HDE_MOVED_TRAILER_MAX];
	struct dwcp_hde_kept k = { .mask = 0x81, .digest = 99, .moved = 0x24 }, got;
	struct dwcp_hde_summary sum;
	uint64_t s = 4;
	size_t tlen;
	ssize_t n;

	k.src[2] = 7;
	k.src[5] = 4096u * 1000u + 39u;
	dwcp_test_fill_random(data, sizeof(data), &s);
	n = dwcp_hde_encode_kept(&X, data, sizeof(data), NULL, &k, body, sizeof(body), &sum);
	cr_assert_gt(n, 0);
	cr_assert_eq(body[0], DWCP_HDE_VERSION_KEPT_MOVED);
	for (unsigned i = 0; i < 8; i++)
		cr_assert_eq(sum.kind[i], k.moved >> i & 1 ? DWCP_HDE_MOVED :
					  k.mask >> i & 1  ? DWCP_HDE_KEPT : DWCP_HDE_RAW, "page %u", i);
	/* Trailer: src[2], src[5], moved, digest, mask. */
	cr_assert_eq((size_t)n, 1 + 2 + 2 + 4 * (1 + PG) + 40);
	cr_assert_eq(body[n - 40], 7);
	cr_assert_eq(body[n - 24], 0x24);
	cr_assert_eq(body[n - 16], 99);
	cr_assert_eq(body[n - 8], 0x81);
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n, sizeof(data), (struct dwcp_hde_rec[64]){ 0 }), 8);
	/* The raw stage: the same trailer after the data, read from its end. */
	dwcp_hde_kept_put(trailer, &k);
	cr_assert_eq(dwcp_hde_kept_get(trailer, dwcp_hde_kept_len(&k), true, 8, &got, &tlen), 0);
	cr_assert_eq(tlen, 40);
	cr_assert(got.mask == k.mask && got.moved == k.moved && got.digest == k.digest &&
		  got.src[2] == 7 && got.src[5] == k.src[5]);
	/* Without the MOVED flag only the last 16 bytes are the trailer: a
	 * consumer that wants the trailer to be exactly what follows the data
	 * (svc-mem, dwcp recv) refuses the chunk. */
	cr_assert_eq(dwcp_hde_kept_get(trailer, dwcp_hde_kept_len(&k), false, 8, &got, &tlen), 0);
	cr_assert_eq(tlen, 16);
}

/* What the encoder refuses: overlapping masks, a moved short last page. */
Test(hde_moved, encoder_refuses_impossible_masks)
{
	static uint8_t data[2 * PG], body[DWCP_HDE_BOUND_KEPT(2 * PG)];

	cr_assert_eq(dwcp_hde_encode_kept(&X, data, 2 * PG, NULL,
					  &(struct dwcp_hde_kept){ .mask = 1, .moved = 1, .digest = 1 },
					  body, sizeof(body), NULL), -EINVAL, "a page kept and moved");
	cr_assert_eq(dwcp_hde_encode_kept(&X, data, 2 * PG - 1, NULL,
					  &(struct dwcp_hde_kept){ .moved = 2, .digest = 1 },
					  body, sizeof(body), NULL), -EINVAL, "a short page moved");
	cr_assert_eq(dwcp_hde_encode_kept(&X, data, 2 * PG, NULL,
					  &(struct dwcp_hde_kept){ .moved = 4, .digest = 1 },
					  body, sizeof(body), NULL), -EINVAL, "a page beyond the chunk");
	cr_assert_gt(dwcp_hde_encode_kept(&X, data, 2 * PG, NULL,
					  &(struct dwcp_hde_kept){ .moved = 2, .digest = 1 },
					  body, sizeof(body), NULL), 0, "only moved pages, none kept");
}

/* Every way a version 3 body can lie is -EBADMSG. */
Test(hde_moved, decoder_rejects_every_inconsistency)
{
	uint8_t data[3 * PG], body[DWCP_HDE_BOUND_KEPT(3 * PG)], bad[sizeof(body)];
	struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_kept k = { .mask = 1, .digest = 7, .moved = 4 };
	uint64_t s = 3;
	ssize_t n;
	size_t t;

	k.src[2] = 5;
	dwcp_test_fill_random(data, sizeof(data), &s);
	n = dwcp_hde_encode_kept(&X, data, 3 * PG, NULL, &k, body, sizeof(body), NULL);
	cr_assert_gt(n, 0);
	t = (size_t)n - 32;   /* the trailer: src, moved, digest, mask */
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n, 3 * PG, r), 3);
#define MUTATE(stmt, why)                                                                    \
	do {                                                                                 \
		memcpy(bad, body, (size_t)n);                                                \
		stmt;                                                                        \
		cr_assert_eq(dwcp_hde_parse(bad, (size_t)n, 3 * PG, r), -EBADMSG, why);     \
	} while (0)
	MUTATE(bad[0] = 2, "MOVED in a version 2 body");
	MUTATE(bad[0] = 4, "version 4");
	MUTATE(bad[t + 8] = 0, "moved mask says none");
	MUTATE(bad[t + 8] = 6, "moved mask names a page that is not MOVED (and the trailer is longer)");
	MUTATE(bad[t + 8] = 5, "a page both kept and moved");
	MUTATE(bad[t + 24] = 4, "kept mask on the moved page");
	MUTATE(bad[t + 8] = 0x0c, "moved beyond the pages");
	MUTATE(memset(bad + t + 16, 0, 8), "zero digest");
#undef MUTATE
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n - 8, 3 * PG, r), -EBADMSG, "trailer cut");
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n, 3 * PG - 1, r), -EBADMSG,
		     "the moved page is short in a shorter chunk");
	for (size_t len = 0; len < (size_t)n; len++) {
		uint8_t *p = malloc(len ? len : 1);

		memcpy(p, body, len);
		cr_assert_eq(dwcp_hde_parse(p, len, 3 * PG, r), -EBADMSG, "length %zu", len);
		free(p);
	}
}

/* The chunk header: MOVED only with KEPT, and a raw-stage body of data
 * plus a trailer of a moved mask and 1..64 sources. */
Test(hde_moved, chunk_check_wants_kept_and_a_whole_trailer)
{
	struct dwcp_chunk_hdr c;
	struct dwcp_err err = { 0 };
	const uint32_t max = 1u << 20;

	dwcp_chunk_init(&c, 1, 0, 0, 4 * PG);
	c.flags = DWCP_CHUNK_F_KEPT | DWCP_CHUNK_F_MOVED;
	for (uint32_t t = 0; t < 700; t++) {
		bool ok = t >= 16 + 8 + 8 && t <= 16 + 8 + 64 * 8 && (t - 16) % 8 == 0;

		c.body_len = c.inner_len = 4 * PG + t;
		cr_assert_eq(dwcp_chunk_check(&c, DWCP_CHUNK_HDR_LEN + c.body_len, max, &err) == 0, ok,
			     "trailer of %u bytes", t);
	}
	c.flags = DWCP_CHUNK_F_MOVED;
	c.body_len = c.inner_len = 4 * PG + 32;
	cr_assert_eq(dwcp_chunk_check(&c, DWCP_CHUNK_HDR_LEN + c.body_len, max, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "not kept"), "%s", err.msg);
}
