/* The HDE page-delta code svc-gpu's kernel is to run (svc-gpu/hde_math.h),
 * compiled here as C and held to svc-mem's CPU codec (common/ops/hde.h):
 * for chunks of every page kind (zeros, equal to the base, a few bytes
 * changed at the edges and between gaps of 3, 4 and 5 equal bytes, half
 * rewritten, random, no base, a base of another length, a short last
 * page) its bodies are the CPU's byte for byte, each decodes what the
 * other encodes, a body one byte too big for its room is refused by both,
 * and damaged bodies are refused exactly when the CPU refuses them (the
 * ASan build runs this on exact-size buffers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/cpu.h"
#include "common/ops/delta.h"
#include "common/ops/hde.h"
#include "common/ops/xxh3.h"
#include "svc-gpu/hde_math.h"

_Static_assert(DWCP_GPU_HDE_VERSION == DWCP_HDE_VERSION && DWCP_GPU_HDE_PAGE == DWCP_HDE_PAGE &&
	       DWCP_GPU_HDE_MAX_PAGES == DWCP_HDE_MAX_PAGES && DWCP_GPU_HDE_ZERO == DWCP_HDE_ZERO &&
	       DWCP_GPU_HDE_SAME == DWCP_HDE_SAME && DWCP_GPU_HDE_XOR == DWCP_HDE_XOR &&
	       DWCP_GPU_HDE_RAW == DWCP_HDE_RAW && DWCP_GPU_HDE_SAME_LEN == DWCP_HDE_SAME_LEN &&
	       DWCP_GPU_HDE_XOR_HDR == DWCP_HDE_XOR_HDR &&
	       DWCP_GPU_DELTA_VERSION == DWCP_DELTA_VERSION &&
	       DWCP_GPU_DELTA_MIN_GAP == DWCP_DELTA_MIN_GAP,
	       "the GPU's HDE numbers are the wire format's");

#define PG  DWCP_HDE_PAGE
#define MAX DWCP_HDE_MAX_DATA

static struct dwcp_hde_codec X;

static void setup(void)
{
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&X, &cpu);
}

TestSuite(hde_math, .init = setup);

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* A chunk of @p len bytes and its bases: page i's kind is @p kinds[i % n]:
 * 0 zeros, 1 equal to its base, 2 a few bytes changed (first, last, and
 * gaps of 3, 4 and 5 equal bytes between changes), 3 half rewritten,
 * 4 random with a base, 5 random without a base, 6 a base of another
 * length, 7 the base differs in its trailing 3 bytes only. */
struct chunk {
	uint8_t *data, *base_mem;
	struct dwcp_hde_base cpu[DWCP_HDE_MAX_PAGES];
	struct dwcp_gpu_hde_base gpu[DWCP_HDE_MAX_PAGES];
	uint32_t len;
};

static void make_chunk(struct chunk *c, uint32_t len, const unsigned *kinds, unsigned nk, uint64_t seed)
{
	unsigned pages = dwcp_hde_pages(len);

	c->len = len;
	c->data = malloc(len ? len : 1);
	c->base_mem = malloc((size_t)pages * PG + 1);
	cr_assert(c->data && c->base_mem);
	for (unsigned i = 0; i < pages; i++) {
		uint32_t plen = dwcp_hde_page_len(len, i);
		uint8_t *p = c->data + (size_t)i * PG, *b = c->base_mem + (size_t)i * PG;
		unsigned k = kinds[i % nk];
		uint32_t blen = k == 6 && plen > 1 ? plen - 1 : plen;

		for (uint32_t j = 0; j < plen; j++)
			b[j] = (uint8_t)("the page of a guest "[(j + i) % 20] ^ (rnd(&seed) % 3 == 0));
		memcpy(p, b, plen);
		switch (k) {
		case 0:
			memset(p, 0, plen);
			break;
		case 2: {
			static const uint32_t at[] = { 0, 1, 5, 9, 14, 100, 101, 2000 };

			for (unsigned j = 0; j < sizeof(at) / sizeof(at[0]); j++)
				if (at[j] < plen)
					p[at[j]] ^= 0x5a;
			p[plen - 1] ^= 0xa5;
			break;
		}
		case 3:
			for (uint32_t j = plen / 4; j < plen / 4 * 3; j++)
				p[j] = (uint8_t)rnd(&seed);
			break;
		case 4: case 5: case 6:
			for (uint32_t j = 0; j < plen; j++)
				p[j] = (uint8_t)rnd(&seed);
			break;
		case 7:
			for (uint32_t j = plen > 3 ? plen - 3 : 0; j < plen; j++)
				b[j] ^= 0x11;
			break;
		}
		c->cpu[i] = (struct dwcp_hde_base){ .data = k == 5 ? NULL : b, .len = blen,
						    .hash = X.xxh3.h64(b, blen, 0) };
		c->gpu[i] = (struct dwcp_gpu_hde_base){ .data = c->cpu[i].data, .len = blen,
							.hash = c->cpu[i].hash };
	}
}

static void free_chunk(struct chunk *c)
{
	free(c->data);
	free(c->base_mem);
}

/* The CPU's decode of @p body, base_hash taken from its own records:
 * 0, or < 0 when it refuses. */
static int cpu_decode(const struct chunk *c, const uint8_t *body, size_t n, uint8_t *out)
{
	struct dwcp_hde_rec recs[DWCP_HDE_MAX_PAGES];
	int nr = dwcp_hde_parse(body, n, c->len, recs);

	if (nr < 0)
		return nr;
	return dwcp_hde_decode(&X, body, n, c->len, dwcp_hde_base_hash(&X, recs, (unsigned)nr), c->cpu,
			       out);
}

static const uint32_t lens[] = { 0, 1, 8, 9, 12, 4095, 4096, 4097, 3 * PG + 11, 65536 + 100, MAX };
static const unsigned mix[] = { 0, 1, 2, 3, 4, 5, 6, 7, 2, 2, 1, 0 };

Test(hde_math, bodies_are_the_cpu_codecs_byte_for_byte_and_decode_both_ways)
{
	for (unsigned li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (unsigned rot = 0; rot < 8; rot++) {
			unsigned kinds[12];
			struct chunk c;
			size_t cap = DWCP_HDE_BOUND(lens[li]);
			uint8_t *a = malloc(cap), *g = malloc(cap), *back = malloc(lens[li] + 1);
			struct dwcp_hde_summary sum;
			ssize_t na;
			int64_t ng;

			for (unsigned k = 0; k < 12; k++)
				kinds[k] = mix[(k + rot) % 12];
			make_chunk(&c, lens[li], kinds, 12, 77 + li * 8 + rot);
			na = dwcp_hde_encode(&X, c.data, c.len, c.cpu, a, cap, &sum);
			ng = dwcp_gpu_hde_encode(c.data, c.len, c.gpu, g, cap);
			cr_assert_gt(na, 0, "len %u: the CPU codec failed: %zd", c.len, na);
			cr_assert_eq(ng, na, "len %u, rotation %u: %lld bytes, the CPU's %zd", c.len, rot,
				     (long long)ng, na);
			cr_assert_eq(memcmp(a, g, (size_t)na), 0, "len %u, rotation %u: the bodies differ",
				     c.len, rot);
			/* Each decodes the other's (the same bytes, but both decoders run). */
			memset(back, 0xee, c.len + 1);
			cr_assert_eq(dwcp_gpu_hde_decode(a, (uint64_t)na, c.len, c.gpu, back), 0,
				     "len %u: the GPU code refused the CPU's body", c.len);
			cr_assert_eq(memcmp(back, c.data, c.len), 0, "len %u: decoded otherwise", c.len);
			memset(back, 0xee, c.len + 1);
			cr_assert_eq(dwcp_hde_decode(&X, g, (size_t)ng, c.len, sum.base_hash, c.cpu, back), 0,
				     "len %u: the CPU codec refused the GPU's body", c.len);
			cr_assert_eq(memcmp(back, c.data, c.len), 0);
			free(a);
			free(g);
			free(back);
			free_chunk(&c);
		}
	}
}

/* Room for all but the last byte: both refuse; exactly the room: both write it. */
Test(hde_math, a_body_one_byte_too_big_for_its_room_is_refused_by_both)
{
	const unsigned kinds[] = { 2, 4, 1, 5, 3 };

	for (unsigned li = 1; li < sizeof(lens) / sizeof(lens[0]); li++) {
		struct chunk c;
		size_t cap = DWCP_HDE_BOUND(lens[li]);
		uint8_t *a = malloc(cap), *g;
		ssize_t na;

		make_chunk(&c, lens[li], kinds, 5, 5 + li);
		na = dwcp_hde_encode(&X, c.data, c.len, c.cpu, a, cap, NULL);
		cr_assert_gt(na, 0);
		g = malloc((size_t)na);     /* exact: ASan sees a byte too far */
		cr_expect_eq(dwcp_gpu_hde_encode(c.data, c.len, c.gpu, g, (uint64_t)na), na);
		cr_expect_eq(memcmp(a, g, (size_t)na), 0);
		cr_expect_lt(dwcp_gpu_hde_encode(c.data, c.len, c.gpu, g, (uint64_t)na - 1), 0,
			     "len %u: a body of %zd bytes written into %zd", c.len, na, na - 1);
		cr_expect_lt(dwcp_hde_encode(&X, c.data, c.len, c.cpu, a, (size_t)na - 1, NULL), 0);
		free(a);
		free(g);
		free_chunk(&c);
	}
}

/* Damage a good body (a byte changed, cut, one more byte): the GPU code
 * refuses exactly what the CPU codec refuses, and where both accept they
 * write the same chunk. Every buffer is exact-size. */
Test(hde_math, damaged_bodies_are_refused_as_the_cpu_refuses_them)
{
	const unsigned kinds[] = { 2, 0, 1, 4, 3, 5, 7 };
	uint64_t seed = 99;
	struct chunk c;
	size_t cap = DWCP_HDE_BOUND(20 * PG + 77);
	uint8_t *good = malloc(cap);
	ssize_t n;
	unsigned both_refused = 0, both_accepted = 0;

	make_chunk(&c, 20 * PG + 77, kinds, 7, 3);
	n = dwcp_hde_encode(&X, c.data, c.len, c.cpu, good, cap, NULL);
	cr_assert_gt(n, 0);
	for (unsigned t = 0; t < 3000; t++) {
		size_t m = t % 3 == 1 ? (size_t)(rnd(&seed) % (uint64_t)n) : t % 3 == 2 ? (size_t)n + 1 : (size_t)n;
		uint8_t *bad = malloc(m ? m : 1), *o_cpu = malloc(c.len), *o_gpu = malloc(c.len);
		int rc_cpu, rc_gpu;

		memcpy(bad, good, m < (size_t)n ? m : (size_t)n);
		if (m > (size_t)n)
			bad[n] = (uint8_t)rnd(&seed);
		if (t % 3 == 0)
			bad[rnd(&seed) % (uint64_t)n] ^= (uint8_t)(1u << (rnd(&seed) % 8));
		rc_cpu = cpu_decode(&c, bad, m, o_cpu);
		rc_gpu = dwcp_gpu_hde_decode(bad, m, c.len, c.gpu, o_gpu);
		cr_assert_eq(rc_gpu == 0, rc_cpu == 0, "try %u (%zu bytes): CPU %d, GPU %d", t, m,
			     rc_cpu, rc_gpu);
		if (rc_cpu == 0) {
			cr_assert_eq(memcmp(o_cpu, o_gpu, c.len), 0, "try %u: both accepted, outputs differ", t);
			both_accepted++;
		} else {
			both_refused++;
		}
		free(bad);
		free(o_cpu);
		free(o_gpu);
	}
	cr_expect_gt(both_refused, 1500, "only %u of 3000 damaged bodies refused (%u accepted)",
		      both_refused, both_accepted);
	free(good);
	free_chunk(&c);
}
