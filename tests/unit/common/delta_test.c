/* Delta tests. Each scan code path (scalar, SSE4.2, AVX2 where the CPU has
 * them) is checked against byte-at-a-time definitions written here, on
 * random data at random lengths and alignments, with the single differing
 * or non-zero byte placed at every position that crosses a vector or
 * unroll boundary. The codec is checked against the format of delta.h: a
 * hand-assembled stream pins the bytes, a decoder written here from the
 * header's description reads what the encoder writes, size claims (an
 * unchanged block costs a few bytes, a few changed bytes cost about those)
 * are measured, and every code path must give the same stream. The decoder
 * is fed truncated, corrupted and random streams from exact-size heap
 * buffers, so under ASan (make SAN=...) a read one byte too far is caught;
 * it must answer -EBADMSG and leave its output untouched. */
#include <errno.h>
#include <cpuid.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/util.h"
#include "common/cpu.h"
#include "common/ops/delta.h"

#define BLK 65536u
#define NVAR 3

/* Every code path this CPU runs; the scalar one first. */
static int variants(struct dwcp_delta_impl out[NVAR])
{
	static const enum dwcp_delta_variant all[NVAR] = {
		DWCP_DELTA_SCALAR, DWCP_DELTA_SSE42, DWCP_DELTA_AVX2 };
	struct dwcp_cpu_features cpu;
	int n = 0;

	dwcp_cpu_detect(&cpu);
	for (int i = 0; i < NVAR; i++) {
		if (dwcp_delta_select_variant(&out[n], all[i], &cpu) == 0)
			n++;
		else
			cr_log_warn("CPU lacks code path %d: not tested", (int)all[i]);
	}
	return n;
}

/* ---- byte-at-a-time definitions ------------------------------------- */

static bool ref_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static size_t ref_same_len(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static uint64_t ref_varint(const uint8_t *p, size_t *pos)
{
	uint64_t v = 0;

	for (unsigned sh = 0;; sh += 7) {
		uint8_t b = p[(*pos)++];

		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
}

/* The format of delta.h, read the plain way; trusts its (valid) input. */
static void ref_decode(const uint8_t *old, const uint8_t *d, size_t dlen, uint8_t *out, size_t len)
{
	size_t pos = 1, at = 0;

	cr_assert_eq(d[0], DWCP_DELTA_VERSION);
	cr_assert_eq(ref_varint(d, &pos), len);
	while (at < len) {
		uint64_t z = ref_varint(d, &pos), l = ref_varint(d, &pos);

		cr_assert(z + l >= 1 && at + z + l <= len, "bad record z=%llu l=%llu at %zu",
			  (unsigned long long)z, (unsigned long long)l, at);
		for (uint64_t i = 0; i < z; i++, at++)
			out[at] = old[at];
		for (uint64_t i = 0; i < l; i++, at++)
			out[at] = old[at] ^ d[pos++];
	}
	cr_assert_eq(pos, dlen, "stream has %zu bytes, records end at %zu", dlen, pos);
}

/* ---- the scans ------------------------------------------------------ */

static const size_t edge_lens[] = { 0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65,
				    127, 128, 129, 255, 256, 4095, 4096, 65535, 65536 };
#define N_EDGE (sizeof(edge_lens) / sizeof(edge_lens[0]))

static size_t pick_len(uint64_t *s, int it)
{
	if (it < (int)N_EDGE)
		return edge_lens[it];
	return (size_t)(dwcp_test_rand(s) % (BLK + 1));
}

Test(delta_scan, is_zero_every_position)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *buf = dwcp_test_xmalloc(600 + 64);

	memset(buf, 0, 600 + 64);
	for (size_t off = 0; off < 64; off += 13)
		for (size_t len = 0; len <= 600; len++)
			for (int v = 0; v < nv; v++) {
				cr_assert(im[v].is_zero(buf + off, len), "%s len %zu", im[v].name, len);
				for (size_t k = 0; k < len; k += (len > 300 ? 7 : 1)) {
					buf[off + k] = 0x40;
					cr_assert(!im[v].is_zero(buf + off, len), "%s missed byte %zu of %zu (off %zu)",
						  im[v].name, k, len, off);
					buf[off + k] = 0;
				}
			}
	free(buf);
}

Test(delta_scan, is_zero_random_lengths_and_alignments)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *buf = dwcp_test_xmalloc(BLK + 64);
	uint64_t s = 1;

	for (int it = 0; it < 400; it++) {
		size_t len = pick_len(&s, it), off = (size_t)(dwcp_test_rand(&s) % 64);

		memset(buf, 0, BLK + 64);
		if (len && (it & 1))
			buf[off + (size_t)(dwcp_test_rand(&s) % len)] = (uint8_t)(1u << (it % 8));
		for (int v = 0; v < nv; v++)
			cr_assert_eq(im[v].is_zero(buf + off, len), ref_is_zero(buf + off, len),
				     "%s len %zu off %zu", im[v].name, len, off);
	}
	free(buf);
}

Test(delta_scan, xor_matches_reference_and_works_in_place)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *a = dwcp_test_xmalloc(BLK + 64), *b = dwcp_test_xmalloc(BLK + 64);
	uint8_t *want = dwcp_test_xmalloc(BLK + 64), *got = dwcp_test_xmalloc(BLK + 64);
	uint64_t s = 2;

	for (int it = 0; it < 300; it++) {
		size_t len = pick_len(&s, it), off = (size_t)(dwcp_test_rand(&s) % 64);
		size_t doff = (size_t)(dwcp_test_rand(&s) % 64);

		dwcp_test_fill_random(a, BLK + 64, &s);
		dwcp_test_fill_random(b, BLK + 64, &s);
		for (size_t i = 0; i < len; i++)
			want[i] = a[off + i] ^ b[i + (off ^ 1) % 64];
		for (int v = 0; v < nv; v++) {
			memset(got, 0xEE, BLK + 64);
			im[v].xor_buf(got + doff, a + off, b + (off ^ 1) % 64, len);
			cr_assert(memcmp(got + doff, want, len) == 0, "%s len %zu", im[v].name, len);
			cr_assert(got[doff + len] == 0xEE && (doff == 0 || got[doff - 1] == 0xEE),
				  "%s wrote outside [%zu, %zu)", im[v].name, doff, doff + len);
			memcpy(got, a + off, len);   /* dst == a */
			im[v].xor_buf(got, got, b + (off ^ 1) % 64, len);
			cr_assert(memcmp(got, want, len) == 0, "%s in place len %zu", im[v].name, len);
		}
	}
	free(a), free(b), free(want), free(got);
}

Test(delta_scan, same_len_every_first_difference)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *a = dwcp_test_xmalloc(700), *b = dwcp_test_xmalloc(700);
	uint64_t s = 3;

	dwcp_test_fill_random(a, 700, &s);
	for (size_t len = 0; len <= 640; len += (len < 300 ? 1 : 17))
		for (size_t k = 0; k <= len; k++) {
			memcpy(b, a, 700);
			if (k < len)
				b[k] ^= (uint8_t)(1u << (k % 8));
			for (int v = 0; v < nv; v++)
				cr_assert_eq(im[v].same_len(a, b, len), k, "%s len %zu diff at %zu: got %zu",
					     im[v].name, len, k, im[v].same_len(a, b, len));
		}
	free(a), free(b);
}

Test(delta_scan, same_len_random_lengths_and_alignments)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *a = dwcp_test_xmalloc(BLK + 64), *b = dwcp_test_xmalloc(BLK + 64);
	uint64_t s = 4;

	dwcp_test_fill_random(a, BLK + 64, &s);
	for (int it = 0; it < 400; it++) {
		size_t len = pick_len(&s, it), oa = (size_t)(dwcp_test_rand(&s) % 64);
		size_t ob = (size_t)(dwcp_test_rand(&s) % 64);

		memcpy(b + ob, a + oa, len);
		if (len && (it % 3))
			b[ob + (size_t)(dwcp_test_rand(&s) % len)] ^= 0x80;
		for (int v = 0; v < nv; v++)
			cr_assert_eq(im[v].same_len(a + oa, b + ob, len),
				     ref_same_len(a + oa, b + ob, len), "%s len %zu", im[v].name, len);
	}
	free(a), free(b);
}

Test(delta_scan, select_prefers_widest)
{
	struct dwcp_cpu_features cpu, none = { 0 }, sse = { .sse42 = true };
	struct dwcp_delta_impl im;

	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&im, &cpu);
	cr_assert_str_eq(im.name, cpu.avx2 ? "avx2" : cpu.sse42 ? "sse4.2" : "scalar");
	dwcp_delta_select(&im, &sse);
	cr_assert_str_eq(im.name, "sse4.2");
	dwcp_delta_select(&im, &none);
	cr_assert_str_eq(im.name, "scalar");
	cr_assert_eq(dwcp_delta_select_variant(&im, DWCP_DELTA_AVX2, &none), -ENOTSUP);
	cr_assert_eq(dwcp_delta_select_variant(&im, (enum dwcp_delta_variant)9, &cpu), -EINVAL);
}

/* ---- the codec ------------------------------------------------------ */

/* Encode with every path (same bytes from each), check the stream with the
 * reference decoder and with ours (fresh and in place); the stream size. */
static size_t roundtrip(const uint8_t *old, const uint8_t *cur, size_t len)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	size_t cap = DWCP_DELTA_BOUND(len);
	uint8_t *d0 = dwcp_test_xmalloc(cap), *d = dwcp_test_xmalloc(cap), *out = dwcp_test_xmalloc(len), *inpl = dwcp_test_xmalloc(len);
	ssize_t n0 = dwcp_delta_encode(&im[0], old, cur, len, d0, cap);

	cr_assert_gt(n0, 0, "encode len %zu: %zd", len, n0);
	ref_decode(old, d0, (size_t)n0, out, len);
	cr_assert(memcmp(out, cur, len) == 0, "reference decode differs (len %zu)", len);
	for (int v = 0; v < nv; v++) {
		ssize_t n = dwcp_delta_encode(&im[v], old, cur, len, d, cap);

		cr_assert(n == n0 && memcmp(d, d0, (size_t)n0) == 0,
			  "%s stream differs from scalar (%zd vs %zd bytes)", im[v].name, n, n0);
		memset(out, 0xA5, len);
		cr_assert_eq(dwcp_delta_decode(&im[v], old, len, d, (size_t)n, out), 0, "%s", im[v].name);
		cr_assert(memcmp(out, cur, len) == 0, "%s decode differs (len %zu)", im[v].name, len);
		memcpy(inpl, old, len);
		cr_assert_eq(dwcp_delta_decode(&im[v], inpl, len, d, (size_t)n, inpl), 0);
		cr_assert(memcmp(inpl, cur, len) == 0, "%s in-place decode differs", im[v].name);
	}
	free(d0), free(d), free(out), free(inpl);
	return (size_t)n0;
}

Test(delta_codec, format_is_pinned)
{
	/* old 00.., new: byte 2 -> 0x11, bytes 9,10 -> 0xFF 0x01; 12 bytes */
	static const uint8_t want[] = { 1, 12, 2, 1, 0x11, 6, 2, 0xFF, 0x01, 1, 0 };
	uint8_t old[12] = { 0 }, cur[12] = { 0 }, d[64];
	struct dwcp_delta_impl im;
	ssize_t n;

	cur[2] = 0x11, cur[9] = 0xFF, cur[10] = 0x01;
	dwcp_delta_select_variant(&im, DWCP_DELTA_SCALAR, &(struct dwcp_cpu_features){ 0 });
	n = dwcp_delta_encode(&im, old, cur, 12, d, sizeof(d));
	cr_assert_eq(n, (ssize_t)sizeof(want), "stream of %zd bytes", n);
	cr_assert(memcmp(d, want, sizeof(want)) == 0, "stream bytes differ from the documented format");
}

Test(delta_codec, unchanged_block_costs_a_few_bytes)
{
	uint8_t *a = dwcp_test_xmalloc(BLK);
	uint64_t s = 5;

	dwcp_test_fill_random(a, BLK, &s);
	cr_assert_leq(roundtrip(a, a, BLK), 8u);
	cr_assert_eq(roundtrip(a, a, 0), 2u);
	free(a);
}

Test(delta_codec, few_changed_bytes_cost_about_those_bytes)
{
	uint8_t *a = dwcp_test_xmalloc(BLK), *b = dwcp_test_xmalloc(BLK);
	uint64_t s = 6;
	size_t n;

	dwcp_test_fill_random(a, BLK, &s);
	memcpy(b, a, BLK);
	for (int k = 0; k < 10; k++)
		b[(size_t)k * 6007 + 3] ^= 0x5A;       /* 10 isolated bytes */
	n = roundtrip(a, b, BLK);
	cr_assert_leq(n, 4u + 10 * 4 + 2, "10 changed bytes cost %zu", n);
	memcpy(b, a, BLK);
	memset(b + 1000, 0x77, 300);                /* one run of 300 */
	n = roundtrip(a, b, BLK);
	cr_assert_leq(n, 300u + 12, "a 300-byte change cost %zu", n);
	free(a), free(b);
}

Test(delta_codec, rewritten_block_costs_its_length_plus_a_few)
{
	uint8_t *a = dwcp_test_xmalloc(BLK), *b = dwcp_test_xmalloc(BLK);
	uint64_t s = 7;
	size_t n;

	dwcp_test_fill_random(a, BLK, &s);
	for (size_t i = 0; i < BLK; i++)
		b[i] = (uint8_t)~a[i];
	n = roundtrip(a, b, BLK);
	cr_assert_leq(n, BLK + 8, "all-changed block cost %zu", n);
	free(a), free(b);
}

/* Gaps of every length around DWCP_DELTA_MIN_GAP, changes at both edges,
 * alternating bytes: the patterns that stress the bound and the gap rule. */
Test(delta_codec, adversarial_patterns_fit_the_bound)
{
	uint8_t *a = dwcp_test_xmalloc(BLK), *b = dwcp_test_xmalloc(BLK);
	uint64_t s = 8;

	dwcp_test_fill_random(a, BLK, &s);
	for (size_t gap = 0; gap <= 9; gap++)
		for (size_t run = 1; run <= 3; run++) {
			memcpy(b, a, BLK);
			for (size_t i = 0; i < BLK; i += gap + run)
				for (size_t k = 0; k < run && i + k < BLK; k++)
					b[i + k] ^= 0xFF;
			roundtrip(a, b, BLK);
			roundtrip(a, b, 4095);
			roundtrip(a, b, 33);
		}
	for (size_t len = 1; len <= 40; len++) {
		memcpy(b, a, len);
		b[0] ^= 1;
		b[len - 1] ^= 2;
		roundtrip(a, b, len);
	}
	free(a), free(b);
}

Test(delta_codec, random_blocks_and_edits_roundtrip)
{
	uint8_t *a = dwcp_test_xmalloc(BLK), *b = dwcp_test_xmalloc(BLK);
	uint64_t s = 9;

	for (int it = 0; it < 200; it++) {
		size_t len = pick_len(&s, it), edits = (size_t)(dwcp_test_rand(&s) % 50);

		dwcp_test_fill_random(a, BLK, &s);
		memcpy(b, a, BLK);
		for (size_t e = 0; len && e < edits; e++) {
			size_t at = (size_t)(dwcp_test_rand(&s) % len);
			size_t n = (size_t)(dwcp_test_rand(&s) % 64);

			for (size_t k = at; k < len && k < at + n; k++)
				b[k] = (uint8_t)dwcp_test_rand(&s);
		}
		roundtrip(a, b, len);
	}
	free(a), free(b);
}

Test(delta_codec, small_capacity_is_enospc_and_stays_in_bounds)
{
	struct dwcp_delta_impl im;
	uint8_t a[300], b[300];
	uint64_t s = 10;
	ssize_t full;
	uint8_t *d;

	dwcp_test_fill_random(a, sizeof(a), &s);
	memcpy(b, a, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i += 11)
		b[i] ^= 0x33;
	dwcp_delta_select_variant(&im, DWCP_DELTA_SCALAR, &(struct dwcp_cpu_features){ 0 });
	d = dwcp_test_xmalloc(DWCP_DELTA_BOUND(sizeof(a)));
	full = dwcp_delta_encode(&im, a, b, sizeof(a), d, DWCP_DELTA_BOUND(sizeof(a)));
	cr_assert_gt(full, 0);
	free(d);
	for (size_t cap = 0; cap < (size_t)full; cap++) {
		d = dwcp_test_xmalloc(cap);   /* exact size: ASan sees any write past it */
		cr_assert_eq(dwcp_delta_encode(&im, a, b, sizeof(a), d, cap), -ENOSPC, "cap %zu", cap);
		free(d);
	}
}

/* ---- a decoder under attack ----------------------------------------- */

/* Decode a copy of @p d in an exact-size buffer; on error @p out must be
 * untouched. Returns what decode returned. */
static int decode_checked(const struct dwcp_delta_impl *im, const uint8_t *old, size_t len,
			  const uint8_t *d, size_t dlen, uint8_t *out)
{
	uint8_t *copy = dwcp_test_xmalloc(dlen);
	int rc;

	memcpy(copy, d, dlen);
	memset(out, 0xC3, len);
	rc = dwcp_delta_decode(im, old, len, copy, dlen, out);
	cr_assert(rc == 0 || rc == -EBADMSG, "decode returned %d", rc);
	if (rc != 0)
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(out[i], 0xC3, "failed decode wrote out[%zu]", i);
	free(copy);
	return rc;
}

Test(delta_decode, rejects_malformed_streams)
{
	static const struct { const char *why; uint8_t s[16]; size_t n; size_t len; } bad[] = {
		{ "empty", { 0 }, 0, 0 },
		{ "version 0", { 0, 0 }, 2, 0 },
		{ "version 2", { 2, 0 }, 2, 0 },
		{ "no length", { 1 }, 1, 0 },
		{ "length differs", { 1, 5, 5, 0 }, 4, 4 },
		{ "trailing byte", { 1, 0, 0 }, 3, 0 },
		{ "empty record", { 1, 4, 0, 0, 4, 0 }, 6, 4 },
		{ "record too long", { 1, 4, 5, 0 }, 4, 4 },
		{ "literal truncated", { 1, 4, 0, 4, 1, 2, 3 }, 7, 4 },
		{ "records short of block", { 1, 4, 3, 0 }, 4, 4 },
		{ "varint not minimal", { 1, 0x84, 0x00, 4, 0 }, 5, 4 },
		{ "varint truncated", { 1, 0x84 }, 2, 4 },
		{ "varint 11 bytes", { 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0 }, 12, 0 },
		{ "varint > 64 bits", { 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02 }, 11, 0 },
		{ "huge z wraps", { 1, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 5 }, 13, 4 },
	};
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t old[8] = { 0 }, out[8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int v = 0; v < nv; v++)
			cr_assert_eq(decode_checked(&im[v], old, bad[i].len, bad[i].s, bad[i].n, out),
				     -EBADMSG, "%s: accepted \"%s\"", im[v].name, bad[i].why);
	cr_assert_eq(decode_checked(&im[0], old, 4, (const uint8_t[]){ 1, 4, 4, 0 }, 4, out), 0);
	cr_assert_eq(decode_checked(&im[0], old, 4, (const uint8_t[]){ 1, 4, 1, 1, 9, 2, 0 }, 7, out), 0);
	cr_assert(out[1] == 9 && out[0] == 0 && out[2] == 0, "record (1,1,[9]),(2,0)");
}

Test(delta_decode, every_truncation_and_bit_flip_is_safe)
{
	struct dwcp_delta_impl im;
	uint8_t *a = dwcp_test_xmalloc(4096), *b = dwcp_test_xmalloc(4096), *out = dwcp_test_xmalloc(4096);
	uint8_t *d = dwcp_test_xmalloc(DWCP_DELTA_BOUND(4096));
	uint64_t s = 11;
	ssize_t n;

	dwcp_delta_select_variant(&im, DWCP_DELTA_SCALAR, &(struct dwcp_cpu_features){ 0 });
	dwcp_test_fill_random(a, 4096, &s);
	memcpy(b, a, 4096);
	for (size_t i = 5; i < 4096; i += 97)
		memset(b + i, (int)i, i % 9);
	n = dwcp_delta_encode(&im, a, b, 4096, d, DWCP_DELTA_BOUND(4096));
	cr_assert_gt(n, 0);
	for (size_t cut = 0; cut < (size_t)n; cut++)
		cr_assert_eq(decode_checked(&im, a, 4096, d, cut, out), -EBADMSG,
			     "a stream cut to %zu of %zd bytes was accepted", cut, n);
	for (size_t bit = 0; bit < (size_t)n * 8; bit++) {
		d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		decode_checked(&im, a, 4096, d, (size_t)n, out);   /* any answer, no crash */
		d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	free(a), free(b), free(out), free(d);
}

Test(delta_decode, fuzz_random_and_mutated_streams)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *a = dwcp_test_xmalloc(BLK), *b = dwcp_test_xmalloc(BLK), *out = dwcp_test_xmalloc(BLK);
	uint8_t *d = dwcp_test_xmalloc(DWCP_DELTA_BOUND(BLK));
	uint64_t s = 12;
	int accepted = 0;

	dwcp_test_fill_random(a, BLK, &s);
	for (int it = 0; it < 20000; it++) {
		size_t len = (size_t)(dwcp_test_rand(&s) % 2048), dlen;

		memcpy(b, a, len);
		for (size_t e = 0; len && e < 8; e++)
			b[dwcp_test_rand(&s) % len] ^= 0x10;
		dlen = (size_t)dwcp_delta_encode(&im[0], a, b, len, d, DWCP_DELTA_BOUND(BLK));
		switch (it % 3) {
		case 0:   /* random bytes after a valid header */
			dwcp_test_fill_random(d + 2, dlen > 2 ? dlen - 2 : 0, &s);
			break;
		case 1:   /* a few random byte changes */
			for (int k = 0; k < 3; k++)
				d[dwcp_test_rand(&s) % dlen] = (uint8_t)dwcp_test_rand(&s);
			break;
		default:  /* random length, possibly past the real end */
			dlen = (size_t)(dwcp_test_rand(&s) % (dlen + 16));
			break;
		}
		if (decode_checked(&im[it % nv], a, len, d, dlen, out) == 0)
			accepted++;
	}
	cr_log_info("fuzz: %d of 20000 mutated streams were still well-formed", accepted);
	free(a), free(b), free(out), free(d);
}

/* Every path, and the codec on top, must leave the upper vector halves
 * clear (GCC's vzeroupper for the AVX2 file): checked on the register
 * state, not by timing. */
Test(delta_scan, leaves_no_upper_vector_state)
{
	struct dwcp_delta_impl im[NVAR];
	int nv = variants(im);
	uint8_t *a = dwcp_test_xmalloc(BLK), *b = dwcp_test_xmalloc(BLK), *d = dwcp_test_xmalloc(DWCP_DELTA_BOUND(BLK));
	bool ok;

	dwcp_test_xinuse_upper(&ok);
	if (!ok)
		cr_skip_test("CPU lacks xgetbv 1: cannot see the register state");
	memset(a, 0, BLK);
	memset(b, 0, BLK);
	b[BLK - 1] = 1;
	for (int v = 0; v < nv; v++) {
		im[v].is_zero(a, BLK);
		cr_assert_eq(dwcp_test_xinuse_upper(&ok), 0u, "%s is_zero", im[v].name);
		im[v].xor_buf(d, a, b, BLK);
		cr_assert_eq(dwcp_test_xinuse_upper(&ok), 0u, "%s xor", im[v].name);
		im[v].same_len(a, b, BLK);
		cr_assert_eq(dwcp_test_xinuse_upper(&ok), 0u, "%s same_len", im[v].name);
		dwcp_delta_encode(&im[v], a, b, BLK, d, DWCP_DELTA_BOUND(BLK));
		cr_assert_eq(dwcp_test_xinuse_upper(&ok), 0u, "%s encode", im[v].name);
	}
	free(a), free(b), free(d);
}
