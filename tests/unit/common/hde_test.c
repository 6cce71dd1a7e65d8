/* HDE codec tests (common/ops/hde.h). A walker written here from the header's
 * description of the wire format reads every body the encoder writes (so
 * the format is pinned, not just "decode undoes encode"), and a body
 * assembled by hand decodes to what the header says; base_hash is checked
 * against the reference libxxhash. Round trips cover every record kind, a
 * short last page, the empty chunk, all-zero, unchanged, few-bytes-changed
 * and random data, and every body must fit DWCP_HDE_BOUND. The decoder is
 * fed truncated, extended, re-versioned, re-hashed and randomly mutated
 * bodies from exact-size heap buffers (so an ASan build catches a read
 * one byte too far): it must answer -EBADMSG or -ENODATA, and write
 * nothing when a base is missing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <xxhash.h>

#include "tests/lib/util.h"
#include "common/cpu.h"
#include "common/ops/hde.h"

#define PG  DWCP_HDE_PAGE
#define MAX DWCP_HDE_MAX_DATA

static struct dwcp_hde_codec X;

static void setup(void)
{
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&X, &cpu);
}

TestSuite(hde, .init = setup);

static uint64_t ref_hash(const void *p, size_t n)
{
	return XXH3_64bits_withSeed(p, n, 0);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* One base per page of @p old (the page's real length); none when old is NULL. */
static void bases_of(const uint8_t *old, uint32_t len, struct dwcp_hde_base *b)
{
	for (unsigned i = 0; i < dwcp_hde_pages(len); i++) {
		uint32_t pl = dwcp_hde_page_len(len, i);

		b[i] = old ? (struct dwcp_hde_base){ .data = old + (size_t)i * PG, .len = pl,
						     .hash = ref_hash(old + (size_t)i * PG, pl) }
			   : (struct dwcp_hde_base){ 0 };
	}
}

/* The format of hde.h, read the plain way: checks the structure, that
 * each record says what the encoder's summary says, that SAME/XOR name
 * the base's hash, RAW carries the page, and the body ends after the last
 * record. @return the reference base_hash. */
static uint64_t ref_walk(const uint8_t *body, size_t n, const uint8_t *data, uint32_t len,
			 const struct dwcp_hde_base *b, const struct dwcp_hde_summary *sum)
{
	uint8_t bases[8 * DWCP_HDE_MAX_PAGES];
	size_t pos = 1, nb = 0;

	cr_assert_geq(n, 1);
	cr_assert_eq(body[0], 1, "version byte %u", body[0]);
	cr_assert_eq(sum->n_pages, dwcp_hde_pages(len));
	for (unsigned i = 0; i < dwcp_hde_pages(len); i++) {
		uint32_t pl = dwcp_hde_page_len(len, i);
		uint8_t k = body[pos++];

		cr_assert_eq(k, sum->kind[i], "page %u: record %u, summary %u", i, k, sum->kind[i]);
		switch (k) {
		case 1:
			break;
		case 2:
		case 3:
			cr_assert_eq(get_le64(body + pos), b[i].hash, "page %u base", i);
			memcpy(bases + nb, body + pos, 8);
			nb += 8;
			pos += 8;
			if (k == 3) {
				size_t dl = body[pos] | (size_t)body[pos + 1] << 8;

				cr_assert(dl >= 1 && dl < pl, "page %u dlen %zu", i, dl);
				cr_assert_lt(11 + dl, 1 + (size_t)pl, "XOR not smaller than RAW");
				pos += 2 + dl;
			} else {
				cr_assert_gt(pl, 8, "SAME for a page of %u bytes (RAW is shorter)", pl);
			}
			break;
		case 4:
			cr_assert(!memcmp(body + pos, data + (size_t)i * PG, pl), "page %u RAW bytes", i);
			pos += pl;
			break;
		default:
			cr_assert_fail("page %u: kind %u", i, k);
		}
		cr_assert_leq(pos, n, "records run past the body");
	}
	cr_assert_eq(pos, n, "body has %zu bytes, records end at %zu", n, pos);
	return nb ? ref_hash(bases, nb) : 0;
}

/* Encode @p data against @p old (NULL: no bases), check the body against
 * the format and the bound, decode it from an exact-size copy and compare.
 * @return the body length. */
static size_t roundtrip(const uint8_t *data, uint32_t len, const uint8_t *old,
			struct dwcp_hde_summary *sum)
{
	struct dwcp_hde_base b[DWCP_HDE_MAX_PAGES];
	size_t cap = DWCP_HDE_BOUND(len);
	uint8_t *body = dwcp_test_xmalloc(cap), *exact, *out = dwcp_test_xmalloc(len + 1);
	ssize_t n;

	bases_of(old, len, b);
	n = dwcp_hde_encode(&X, data, len, old ? b : NULL, body, cap, sum);
	cr_assert_geq(n, 1, "encode of %u bytes: %zd", len, n);
	cr_assert_leq((size_t)n, cap, "body %zd over the bound %zu", n, cap);
	cr_assert_eq(ref_walk(body, (size_t)n, data, len, b, sum), sum->base_hash, "base_hash");
	exact = dwcp_test_xmalloc((size_t)n);
	memcpy(exact, body, (size_t)n);
	out[len] = 0x5a;
	cr_assert_eq(dwcp_hde_decode(&X, exact, (size_t)n, len, sum->base_hash, old ? b : NULL, out),
		     0, "decode of %u bytes", len);
	cr_assert(!memcmp(out, data, len), "decoded data differs (len %u)", len);
	cr_assert_eq(out[len], 0x5a, "decoder wrote past orig_len");
	/* The exact size is enough; one byte less is not. */
	cr_assert_eq(dwcp_hde_encode(&X, data, len, old ? b : NULL, body, (size_t)n, NULL), n);
	cr_assert_eq(dwcp_hde_encode(&X, data, len, old ? b : NULL, body, (size_t)n - 1, NULL),
		     -ENOSPC);
	free(body), free(exact), free(out);
	return (size_t)n;
}

/* Five pages, one of each kind, the last short: ZERO SAME XOR RAW XOR. */
static uint32_t five_kinds(uint8_t *data, uint8_t *old)
{
	const uint32_t len = 4 * PG + 1000;
	uint64_t s = 7;

	dwcp_test_fill_random(old, len, &s);
	memcpy(data, old, len);
	memset(data, 0, PG);                            /* ZERO */
	data[2 * PG + 100] ^= 0x11;                     /* XOR */
	data[2 * PG + 3000] ^= 0x22;
	dwcp_test_fill_random(data + 3 * PG, PG, &s);   /* RAW */
	data[4 * PG + 999] ^= 0x33;                     /* XOR, short page */
	return len;
}

Test(hde, every_record_kind_round_trips)
{
	static const uint8_t want[] = { 1, 2, 3, 4, 3 };
	uint8_t *data = dwcp_test_xmalloc(MAX), *old = dwcp_test_xmalloc(MAX);
	struct dwcp_hde_summary sum;
	uint32_t len = five_kinds(data, old);
	size_t n = roundtrip(data, len, old, &sum);

	cr_assert_eq(sum.n_pages, 5);
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(sum.kind[i], want[i], "page %u kind %u, want %u", i, sum.kind[i], want[i]);
	cr_assert_lt(n, PG + 200, "body %zu: only the RAW page should cost its length", n);
	free(data), free(old);
}

Test(hde, hand_assembled_body_decodes_as_documented)
{
	/* delta.h stream for a 4096-byte block: version 1, N = 4096 (LEB128
	 * 80 20), record Z = 10 L = 2 with two XOR bytes, record Z = 4084
	 * (f4 1f) L = 0. */
	static const uint8_t delta[] = { 1, 0x80, 0x20, 10, 2, 0xff, 0x01, 0xf4, 0x1f, 0 };
	uint8_t old[2 * PG], want[3 * PG], out[3 * PG], body[64], bases[16];
	uint64_t s = 11, h0, h1;
	size_t p = 0;

	dwcp_test_fill_random(old, sizeof(old), &s);
	h0 = ref_hash(old, PG);
	h1 = ref_hash(old + PG, PG);
	body[p++] = 1;                                 /* version */
	body[p++] = 2;                                 /* page 0: SAME, base h0 */
	put_le64(body + p, h0);
	p += 8;
	body[p++] = 3;                                 /* page 1: XOR, base h1 */
	put_le64(body + p, h1);
	p += 8;
	body[p++] = sizeof(delta);                     /* dlen, LE16 */
	body[p++] = 0;
	memcpy(body + p, delta, sizeof(delta));
	p += sizeof(delta);
	body[p++] = 1;                                 /* page 2: ZERO */
	memcpy(want, old, 2 * PG);
	want[PG + 10] ^= 0xff;
	want[PG + 11] ^= 0x01;
	memset(want + 2 * PG, 0, PG);
	/* base_hash: XXH3-64 of the bases in page order, LE. */
	put_le64(bases, h0);
	put_le64(bases + 8, h1);
	{
		struct dwcp_hde_base b[3] = { { old, PG, h0 }, { old + PG, PG, h1 }, { 0 } };
		struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];

		cr_assert_eq(dwcp_hde_parse(body, p, 3 * PG, r), 3);
		cr_assert_eq(dwcp_hde_base_hash(&X, r, 3), ref_hash(bases, 16));
		cr_assert_eq(dwcp_hde_decode(&X, body, p, 3 * PG, ref_hash(bases, 16), b, out), 0);
		cr_assert(!memcmp(out, want, sizeof(want)));
	}
}

Test(hde, short_last_page_every_length_class)
{
	static const uint32_t lens[] = { 1, 7, 8, 9, 100, PG - 1, PG, PG + 1, PG + 8, PG + 9,
					 3 * PG + 17, MAX - 1, MAX };
	uint8_t *data = dwcp_test_xmalloc(MAX), *old = dwcp_test_xmalloc(MAX);
	struct dwcp_hde_summary sum;
	uint64_t s = 3;

	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t len = lens[i], last = dwcp_hde_page_len(len, dwcp_hde_pages(len) - 1);

		dwcp_test_fill_random(data, len, &s);
		for (uint32_t k = 0; k < len; k += PG)
			data[k] |= 1;                           /* no page is all zero */
		roundtrip(data, len, NULL, &sum);               /* no bases: all RAW */
		for (unsigned k = 0; k < sum.n_pages; k++)
			cr_assert_eq(sum.kind[k], DWCP_HDE_RAW);
		roundtrip(data, len, data, &sum);               /* unchanged */
		cr_assert_eq(sum.kind[sum.n_pages - 1], last > 8 ? DWCP_HDE_SAME : DWCP_HDE_RAW,
			     "len %u: last page of %u bytes is kind %u", len, last,
			     sum.kind[sum.n_pages - 1]);
		memcpy(old, data, len);
		old[len - 1] ^= 0x80;
		roundtrip(data, len, old, &sum);                /* last byte changed */
	}
	free(data), free(old);
}

Test(hde, empty_chunk_is_the_version_byte)
{
	uint8_t body[4], out[1] = { 0x77 };
	struct dwcp_hde_summary sum;

	cr_assert_eq(dwcp_hde_encode(&X, NULL, 0, NULL, body, sizeof(body), &sum), 1);
	cr_assert_eq(body[0], DWCP_HDE_VERSION);
	cr_assert_eq(sum.n_pages, 0);
	cr_assert_eq(sum.base_hash, 0);
	cr_assert_eq(dwcp_hde_decode(&X, body, 1, 0, 0, NULL, out), 0);
	cr_assert_eq(out[0], 0x77);
	cr_assert_eq(dwcp_hde_decode(&X, body, 0, 0, 0, NULL, out), -EBADMSG);
	body[1] = 1;
	cr_assert_eq(dwcp_hde_decode(&X, body, 2, 0, 0, NULL, out), -EBADMSG, "extra byte");
	cr_assert_eq(dwcp_hde_decode(&X, body, 1, 0, 1, NULL, out), -EBADMSG, "base_hash");
	cr_assert_eq(dwcp_hde_encode(&X, NULL, 0, NULL, body, 0, NULL), -ENOSPC);
}

Test(hde, all_zero_costs_a_byte_a_page)
{
	uint8_t *data = calloc(1, MAX), *old = dwcp_test_xmalloc(MAX);
	struct dwcp_hde_summary sum;
	uint64_t s = 5;

	cr_assert_not_null(data);
	dwcp_test_fill_random(old, MAX, &s);
	cr_assert_eq(roundtrip(data, MAX, NULL, &sum), 1 + DWCP_HDE_MAX_PAGES);
	cr_assert_eq(roundtrip(data, MAX, old, &sum), 1 + DWCP_HDE_MAX_PAGES);
	cr_assert_eq(roundtrip(data, MAX, data, &sum), 1 + DWCP_HDE_MAX_PAGES);
	cr_assert_eq(sum.base_hash, 0, "ZERO records have no base");
	free(data), free(old);
}

Test(hde, unchanged_chunk_costs_nine_bytes_a_page)
{
	uint8_t *data = dwcp_test_xmalloc(MAX);
	struct dwcp_hde_summary sum;
	uint64_t s = 6;

	dwcp_test_fill_random(data, MAX, &s);
	cr_assert_eq(roundtrip(data, MAX, data, &sum), 1 + DWCP_HDE_MAX_PAGES * DWCP_HDE_SAME_LEN);
	for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
		cr_assert_eq(sum.kind[i], DWCP_HDE_SAME);
	cr_assert_neq(sum.base_hash, 0);
	free(data);
}

Test(hde, few_bytes_changed_body_much_smaller_than_data)
{
	uint8_t *data = dwcp_test_xmalloc(MAX), *old = dwcp_test_xmalloc(MAX);
	struct dwcp_hde_summary sum;
	uint64_t s = 8;
	size_t n;

	dwcp_test_fill_random(old, MAX, &s);
	memcpy(data, old, MAX);
	for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
		for (unsigned k = 0; k < 3; k++)
			data[(size_t)i * PG + dwcp_test_rand(&s) % PG] ^= 0x5a;
	n = roundtrip(data, MAX, old, &sum);
	for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
		cr_assert_eq(sum.kind[i], DWCP_HDE_XOR, "page %u kind %u", i, sum.kind[i]);
	cr_assert_lt(n, MAX / 50, "48 changed bytes cost %zu body bytes", n);
	free(data), free(old);
}

/* Data made of runs of zeros, text and noise; old a mutation of it. */
static void random_case(uint8_t *data, uint8_t *old, uint32_t len, uint64_t *s, int mode)
{
	for (uint32_t at = 0; at < len;) {
		uint32_t run = 1 + (uint32_t)(dwcp_test_rand(s) % 6000);

		if (run > len - at)
			run = len - at;
		switch (dwcp_test_rand(s) % 3) {
		case 0: memset(data + at, 0, run); break;
		case 1: memset(data + at, 'a' + (int)(at % 26), run); break;
		default: dwcp_test_fill_random(data + at, run, s); break;
		}
		at += run;
	}
	switch (mode) {
	case 0:
		memcpy(old, data, len);
		break;
	case 1:
		memcpy(old, data, len);
		for (unsigned k = dwcp_test_rand(s) % 200; k > 0 && len; k--)
			old[dwcp_test_rand(s) % len] = (uint8_t)dwcp_test_rand(s);
		break;
	default:
		dwcp_test_fill_random(old, len, s);
		break;
	}
}

Test(hde, random_round_trips)
{
	uint8_t *data = dwcp_test_xmalloc(MAX), *old = dwcp_test_xmalloc(MAX);
	struct dwcp_hde_summary sum;
	uint64_t s = 0x1234;

	for (int it = 0; it < 400; it++) {
		uint32_t len = (uint32_t)(dwcp_test_rand(&s) % (MAX + 1));
		int mode = (int)(dwcp_test_rand(&s) % 4);

		random_case(data, old, len, &s, mode);
		roundtrip(data, len, mode == 3 ? NULL : old, &sum);
	}
	free(data), free(old);
}

Test(hde, encoder_rejects_too_much_data_and_ignores_a_base_of_another_length)
{
	uint8_t *data = dwcp_test_xmalloc(MAX + PG), *body = dwcp_test_xmalloc(DWCP_HDE_BOUND(MAX + PG));
	struct dwcp_hde_base b[DWCP_HDE_MAX_PAGES] = { { 0 } };
	struct dwcp_hde_summary sum;
	uint64_t s = 9;

	dwcp_test_fill_random(data, MAX + PG, &s);
	cr_assert_eq(dwcp_hde_encode(&X, data, MAX + 1, NULL, body, DWCP_HDE_BOUND(MAX + PG), NULL),
		     -EINVAL);
	/* The base is the page's first 100 bytes: equal content, other length. */
	b[0] = (struct dwcp_hde_base){ data, 100, ref_hash(data, 100) };
	cr_assert_eq(dwcp_hde_encode(&X, data, PG, b, body, DWCP_HDE_BOUND(PG), &sum), 1 + 1 + PG);
	cr_assert_eq(sum.kind[0], DWCP_HDE_RAW);
	free(data), free(body);
}

/* ---- the decoder against bad bodies ------------------------------------ */

struct valid {
	uint8_t data[MAX], old[MAX], body[DWCP_HDE_BOUND(MAX)];
	struct dwcp_hde_base b[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_summary sum;
	uint32_t len;
	size_t n;
};

static struct valid *make_valid(void)
{
	struct valid *v = dwcp_test_xmalloc(sizeof(*v));

	v->len = five_kinds(v->data, v->old);
	bases_of(v->old, v->len, v->b);
	v->n = (size_t)dwcp_hde_encode(&X, v->data, v->len, v->b, v->body, sizeof(v->body), &v->sum);
	cr_assert_gt(v->n, 0);
	return v;
}

/* Decode @p n bytes of @p body from an exact-size heap copy. */
static int decode_exact(const uint8_t *body, size_t n, uint32_t len, uint64_t bh,
			const struct dwcp_hde_base *b, uint8_t *out)
{
	uint8_t *copy = dwcp_test_xmalloc(n);
	int rc;

	memcpy(copy, body, n);
	rc = dwcp_hde_decode(&X, copy, n, len, bh, b, out);
	free(copy);
	return rc;
}

/* Offset of page @p page's record in the valid body. */
static size_t rec_at(const struct valid *v, unsigned page)
{
	struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];

	cr_assert_eq(dwcp_hde_parse(v->body, v->n, v->len, r), 5);
	return page == 0 ? 1 : (size_t)(r[page].payload ? r[page].payload - v->body : 0) -
			       (r[page].kind == DWCP_HDE_XOR ? DWCP_HDE_XOR_HDR : 1);
}

Test(hde, decoder_rejects_truncated_extended_and_reversioned_bodies)
{
	struct valid *v = make_valid();
	uint8_t *out = dwcp_test_xmalloc(MAX), *longer = dwcp_test_xmalloc(v->n + 1);

	for (size_t k = 0; k < v->n; k++)
		cr_assert_eq(decode_exact(v->body, k, v->len, v->sum.base_hash, v->b, out), -EBADMSG,
			     "truncated to %zu of %zu", k, v->n);
	memcpy(longer, v->body, v->n);
	longer[v->n] = 0;
	cr_assert_eq(decode_exact(longer, v->n + 1, v->len, v->sum.base_hash, v->b, out), -EBADMSG);
	longer[0] = 2;
	cr_assert_eq(decode_exact(longer, v->n, v->len, v->sum.base_hash, v->b, out), -EBADMSG);
	longer[0] = 0;
	cr_assert_eq(decode_exact(longer, v->n, v->len, v->sum.base_hash, v->b, out), -EBADMSG);
	/* Lengths that do not match the body. With a base-needing last
	 * record, a last page of another length has no base of its length:
	 * -ENODATA is as right as -EBADMSG (either way nothing is rebuilt). */
	for (int d = -1; d <= 1; d += 2) {
		int rc = decode_exact(v->body, v->n, v->len + (uint32_t)d, v->sum.base_hash, v->b, out);

		cr_assert(rc == -EBADMSG || rc == -ENODATA, "orig_len %+d: rc %d", d, rc);
	}
	cr_assert_eq(decode_exact(v->body, v->n, v->len + PG, v->sum.base_hash, v->b, out), -EBADMSG);
	cr_assert_eq(decode_exact(v->body, v->n, v->len - PG, v->sum.base_hash, v->b, out), -EBADMSG);
	cr_assert_eq(decode_exact(v->body, v->n, MAX + 1, v->sum.base_hash, v->b, out), -EBADMSG);
	free(v), free(out), free(longer);
}

Test(hde, decoder_rejects_a_raw_body_of_another_length)
{
	uint8_t *data = dwcp_test_xmalloc(MAX), *body = dwcp_test_xmalloc(DWCP_HDE_BOUND(MAX));
	uint8_t *out = dwcp_test_xmalloc(MAX);
	uint64_t s = 12;
	const uint32_t len = 3 * PG + 500;
	ssize_t n;

	dwcp_test_fill_random(data, len, &s);
	memset(data + PG, 0, PG);
	n = dwcp_hde_encode(&X, data, len, NULL, body, DWCP_HDE_BOUND(MAX), NULL);
	cr_assert_gt(n, 0);
	cr_assert_eq(decode_exact(body, (size_t)n, len, 0, NULL, out), 0);
	for (int d = -2; d <= 2; d++)
		if (d)
			cr_assert_eq(decode_exact(body, (size_t)n, len + (uint32_t)d, 0, NULL, out),
				     -EBADMSG, "orig_len %+d", d);
	free(data), free(body), free(out);
}

Test(hde, decoder_rejects_a_wrong_base_hash_and_bad_records)
{
	struct valid *v = make_valid();
	uint8_t *out = dwcp_test_xmalloc(MAX), *bad = dwcp_test_xmalloc(v->n);
	size_t xor2 = rec_at(v, 2);
	static const uint8_t kinds[] = { 0, 5, 6, 0x80, 0xff };

	cr_assert_eq(v->body[xor2], DWCP_HDE_XOR);
	cr_assert_eq(decode_exact(v->body, v->n, v->len, v->sum.base_hash ^ 1, v->b, out), -EBADMSG);
	cr_assert_eq(decode_exact(v->body, v->n, v->len, 0, v->b, out), -EBADMSG);
	for (unsigned i = 0; i < sizeof(kinds); i++) {
		memcpy(bad, v->body, v->n);
		bad[1] = kinds[i];
		cr_assert_eq(decode_exact(bad, v->n, v->len, v->sum.base_hash, v->b, out), -EBADMSG,
			     "kind %u", kinds[i]);
	}
	/* dlen 0, dlen = page length, dlen past the body. */
	for (unsigned d = 0; d < 3; d++) {
		uint32_t dl = d == 0 ? 0 : d == 1 ? PG : 0xffff;

		memcpy(bad, v->body, v->n);
		bad[xor2 + 9] = (uint8_t)dl;
		bad[xor2 + 10] = (uint8_t)(dl >> 8);
		cr_assert_eq(decode_exact(bad, v->n, v->len, v->sum.base_hash, v->b, out), -EBADMSG,
			     "dlen %u", dl);
	}
	/* A corrupt delta stream inside a well-formed record (its version byte). */
	memcpy(bad, v->body, v->n);
	bad[xor2 + DWCP_HDE_XOR_HDR] ^= 0x40;
	cr_assert_eq(decode_exact(bad, v->n, v->len, v->sum.base_hash, v->b, out), -EBADMSG);
	free(v), free(out), free(bad);
}

Test(hde, decoder_answers_enodata_for_a_missing_or_different_base_and_writes_nothing)
{
	struct valid *v = make_valid();
	struct dwcp_hde_base b[DWCP_HDE_MAX_PAGES];
	uint8_t *out = dwcp_test_xmalloc(MAX), *other = dwcp_test_xmalloc(PG);

	memcpy(other, v->old + PG, PG);
	other[5] ^= 1;
	for (int c = 0; c < 5; c++) {
		memcpy(b, v->b, sizeof(b));
		switch (c) {
		case 0: b[1].data = NULL; break;                        /* SAME page: none */
		case 1: b[2] = (struct dwcp_hde_base){ 0 }; break;      /* XOR page: none */
		case 2: b[1] = (struct dwcp_hde_base){ other, PG, ref_hash(other, PG) }; break;
		case 3: b[2].len = PG - 1; break;                       /* other length */
		case 4: b[4].hash ^= 1; break;                          /* short XOR page, other hash */
		}
		memset(out, 0xee, MAX);
		cr_assert_eq(decode_exact(v->body, v->n, v->len, v->sum.base_hash, b, out), -ENODATA,
			     "case %d", c);
		for (uint32_t i = 0; i < v->len; i++)
			cr_assert_eq(out[i], 0xee, "case %d: byte %u written", c, i);
	}
	cr_assert_eq(decode_exact(v->body, v->n, v->len, v->sum.base_hash, NULL, out), -ENODATA);
	/* apply() alone checks its base too. */
	{
		struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];

		cr_assert_eq(dwcp_hde_parse(v->body, v->n, v->len, r), 5);
		cr_assert_eq(dwcp_hde_apply(&X, &r[1], NULL, out), -ENODATA);
		cr_assert_eq(dwcp_hde_apply(&X, &r[2], &b[3], out), -ENODATA);
		cr_assert_eq(dwcp_hde_apply(&X, &r[2], &v->b[2], out), 0);
		cr_assert(!memcmp(out, v->data + 2 * PG, PG));
	}
	free(v), free(out), free(other);
}

/* One random edit of @p b (@p n bytes, room for n + 16) in place. */
static size_t mutate(uint8_t *b, size_t n, uint64_t *s)
{
	size_t at = n ? (size_t)(dwcp_test_rand(s) % n) : 0, k;

	switch (dwcp_test_rand(s) % 6) {
	case 0:   /* flip a bit */
		if (n)
			b[at] ^= (uint8_t)(1u << (dwcp_test_rand(s) % 8));
		return n;
	case 1:   /* a random byte, often in the first (record) bytes */
		if (n) {
			if (dwcp_test_rand(s) & 1)
				at %= n < 32 ? n : 32;
			b[at] = (uint8_t)dwcp_test_rand(s);
		}
		return n;
	case 2:   /* truncate */
		return at;
	case 3:   /* append up to 16 bytes */
		k = 1 + (size_t)(dwcp_test_rand(s) % 16);
		dwcp_test_fill_random(b + n, k, s);
		return n + k;
	case 4:   /* delete a byte */
		if (n)
			memmove(b + at, b + at + 1, n - at - 1);
		return n ? n - 1 : 0;
	default:  /* insert a byte */
		memmove(b + at + 1, b + at, n - at);
		b[at] = (uint8_t)dwcp_test_rand(s);
		return n + 1;
	}
}

Test(hde, ten_thousand_random_mutations_never_crash_the_decoder, .timeout = 120)
{
	struct valid *v = make_valid();
	uint8_t *work = dwcp_test_xmalloc(v->n + 64), *out = dwcp_test_xmalloc(MAX);
	unsigned ok = 0, bad = 0, nodata = 0;
	uint64_t s = 0xfeed;

	for (int it = 0; it < 10000; it++) {
		struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];
		size_t n = v->n;
		uint64_t bh = v->sum.base_hash;
		int rc, np;

		memcpy(work, v->body, v->n);
		for (unsigned e = 1 + (unsigned)(dwcp_test_rand(&s) % 3); e > 0 && n + 17 < v->n + 64; e--)
			n = mutate(work, n, &s);
		/* Half the time the tamperer fixes up base_hash, so the records
		 * themselves are what the decoder must catch. */
		np = dwcp_hde_parse(work, n, v->len, r);
		if (np >= 0 && (it & 1))
			bh = dwcp_hde_base_hash(&X, r, (unsigned)np);
		rc = decode_exact(work, n, v->len, bh, v->b, out);
		cr_assert(rc == 0 || rc == -EBADMSG || rc == -ENODATA, "mutation %d: rc %d", it, rc);
		if (rc == 0 && n == v->n && !memcmp(work, v->body, n))
			cr_assert(!memcmp(out, v->data, v->len), "unmutated body decoded wrong");
		ok += rc == 0;
		bad += rc == -EBADMSG;
		nodata += rc == -ENODATA;
	}
	cr_log_info("mutations: %u decoded, %u EBADMSG, %u ENODATA", ok, bad, nodata);
	cr_assert_gt(bad, 5000, "most mutations are corrupt bodies");
	free(v), free(work), free(out);
}

/* ---- version 2: KEPT records and the trailer ------------------------- */

/* A body assembled by hand from hde.h's description: version 2, records,
 * then the digest and the 64-bit mask, both little-endian. */
Test(hde, kept_body_hand_assembled_decodes_as_documented)
{
	uint8_t data[3 * PG], out[3 * PG], body[1 + 1 + 1 + PG + 1 + 16];
	struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_kept k;
	uint64_t s = 5;
	size_t p = 0;

	dwcp_test_fill_random(data, sizeof(data), &s);
	body[p++] = 2;                                 /* version 2 */
	body[p++] = 5;                                 /* page 0: KEPT */
	body[p++] = 4;                                 /* page 1: RAW */
	memcpy(body + p, data + PG, PG);
	p += PG;
	body[p++] = 5;                                 /* page 2: KEPT */
	put_le64(body + p, 0x1122334455667788ull);    /* trailer: digest */
	put_le64(body + p + 8, 0x05);                  /* mask: pages 0 and 2 */
	p += 16;
	cr_assert_eq(p, sizeof(body));
	cr_assert_eq(dwcp_hde_parse(body, p, 3 * PG, r), 3);
	cr_assert_eq(r[0].kind, DWCP_HDE_KEPT);
	cr_assert_eq(r[2].kind, DWCP_HDE_KEPT);
	cr_assert_eq(dwcp_hde_kept_of(body, p, 3, &k), 1);
	cr_assert_eq(k.mask, 5);
	cr_assert_eq(k.digest, 0x1122334455667788ull);
	memset(out, 0xaa, sizeof(out));
	cr_assert_eq(dwcp_hde_decode(&X, body, p, 3 * PG, 0, NULL, out), 0, "KEPT needs no base");
	for (size_t i = 0; i < PG; i++)
		cr_assert(out[i] == 0 && out[2 * PG + i] == 0, "kept pages decode as zeros (byte %zu)", i);
	cr_assert(!memcmp(out + PG, data + PG, PG));
}

/* The encoder marks exactly the masked pages KEPT, whatever their data
 * and whatever bases exist, chooses as usual for the others, and the
 * decoder rebuilds the others. */
Test(hde, kept_encoder_marks_exactly_the_mask)
{
	static uint8_t old[MAX], cur[MAX], body[DWCP_HDE_BOUND_KEPT(MAX)], out[MAX];
	struct dwcp_hde_base b[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_summary sum;
	const struct dwcp_hde_kept k = { .mask = 0x80000003a5f00000ull | 0xa5f0, .digest = 42 };
	struct dwcp_hde_kept got;
	uint64_t s = 9;
	ssize_t n;

	dwcp_test_fill_random(old, sizeof(old), &s);
	memcpy(cur, old, sizeof(cur));
	for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
		cur[i * PG + 7] ^= 0x40;                   /* every page changed by a byte */
	memset(cur + 1 * PG, 0, PG);                   /* page 1 zero, not kept */
	bases_of(old, MAX, b);
	n = dwcp_hde_encode_kept(&X, cur, MAX, b, &k, body, sizeof(body), &sum);
	cr_assert_gt(n, 0);
	cr_assert_eq(body[0], DWCP_HDE_VERSION_KEPT);
	for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
		cr_assert_eq(sum.kind[i] == DWCP_HDE_KEPT, (k.mask >> i & 1) != 0, "page %u kind %u", i,
			     sum.kind[i]);
	cr_assert_eq(sum.kind[1], DWCP_HDE_ZERO);
	cr_assert_eq(sum.kind[2], DWCP_HDE_XOR, "a changed page still travels as XOR when based");
	cr_assert_eq(dwcp_hde_kept_of(body, (size_t)n, DWCP_HDE_MAX_PAGES, &got), 1);
	cr_assert_eq(got.mask, k.mask);
	cr_assert_eq(got.digest, k.digest);
	cr_assert_eq(dwcp_hde_decode(&X, body, (size_t)n, MAX, sum.base_hash, b, out), 0);
	for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++) {
		static const uint8_t zero[PG];

		cr_assert(!memcmp(out + i * PG, k.mask >> i & 1 ? zero : cur + i * PG, PG), "page %u", i);
	}
	/* No mask: a version 1 body; a mask beyond the pages or without a digest: refused. */
	n = dwcp_hde_encode_kept(&X, cur, MAX, b, &(struct dwcp_hde_kept){ 0 }, body, sizeof(body), NULL);
	cr_assert_eq(body[0], DWCP_HDE_VERSION);
	cr_assert_eq(dwcp_hde_kept_of(body, (size_t)n, DWCP_HDE_MAX_PAGES, &got), 0);
	cr_assert_eq(dwcp_hde_encode_kept(&X, cur, 2 * PG, b, &(struct dwcp_hde_kept){ .mask = 4, .digest = 1 }, body,
					  sizeof(body), NULL), -EINVAL);
	cr_assert_eq(dwcp_hde_encode_kept(&X, cur, 2 * PG, b, &(struct dwcp_hde_kept){ .mask = 1, .digest = 0 }, body,
					  sizeof(body), NULL), -EINVAL);
	cr_assert_eq(dwcp_hde_encode_kept(&X, cur, MAX, b, &k, body, 1 + DWCP_HDE_MAX_PAGES, NULL), -ENOSPC,
		     "64 KEPT records fit, the trailer does not");
}

/* Every way a version 2 body can lie is -EBADMSG: a KEPT record in a
 * version 1 body, a mask that disagrees with the records or names a page
 * beyond them, a zero digest, a missing trailer. */
Test(hde, kept_decoder_rejects_every_inconsistency)
{
	uint8_t data[2 * PG], body[DWCP_HDE_BOUND_KEPT(2 * PG)], bad[sizeof(body)];
	struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];
	const struct dwcp_hde_kept k = { .mask = 1, .digest = 7 };
	uint64_t s = 3;
	ssize_t n;
	size_t t;

	dwcp_test_fill_random(data, sizeof(data), &s);
	n = dwcp_hde_encode_kept(&X, data, 2 * PG, NULL, &k, body, sizeof(body), NULL);
	cr_assert_gt(n, 0);
	t = (size_t)n - 16;
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n, 2 * PG, r), 2);
#define MUTATE(stmt, why)                                                                    \
	do {                                                                                 \
		memcpy(bad, body, (size_t)n);                                                \
		stmt;                                                                        \
		cr_assert_eq(dwcp_hde_parse(bad, (size_t)n, 2 * PG, r), -EBADMSG, why);     \
	} while (0)
	MUTATE(bad[0] = 1, "KEPT in a version 1 body");
	MUTATE(bad[t + 8] = 3, "mask names a page that is not KEPT");
	MUTATE(bad[t + 8] = 0, "mask says none");
	MUTATE(bad[t + 9] = 0x80, "mask beyond the pages");
	MUTATE(bad[t + 15] = 0x80, "mask bit 63, beyond the pages");
	MUTATE(memset(bad + t, 0, 8), "zero digest");
#undef MUTATE
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n - 16, 2 * PG, r), -EBADMSG, "no trailer");
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n - 1, 2 * PG, r), -EBADMSG, "trailer cut");
	cr_assert_eq(dwcp_hde_parse(body, (size_t)n, PG, r), -EBADMSG, "another length");
	/* Every truncation of an exact-size copy: no read past it (ASan). */
	for (size_t len = 0; len < (size_t)n; len++) {
		uint8_t *p = malloc(len ? len : 1);

		memcpy(p, body, len);
		cr_assert_eq(dwcp_hde_parse(p, len, 2 * PG, r), -EBADMSG, "length %zu", len);
		free(p);
	}
}
