/* Fuzz target: the HDE delta body decoder (common/ops/hde.c dwcp_hde_decode, and
 * through it dwcp_hde_parse, dwcp_hde_apply and the XOR delta stream
 * decoder of common/ops/delta.c), as svc-mem's UNDELTA step runs it on a
 * chunk body from the wire against the pages of its delta cache.
 *
 * Input: byte 0 mode, bytes 1..3 orig_len (0..DWCP_HDE_MAX_DATA + 1),
 * bytes 4..11 a base_hash, bytes 12..13 the body length, the body, then
 * the bytes the base pages are filled from. Mode bit 0: pass the
 * base_hash of the parsed records (what a real header carries) instead of
 * the input's; bit 1: give bases at all; bit 2: give each base the hash
 * its record names (the cache vouches for hashes, so a base "matches");
 * bit 3: the scalar code paths instead of the best the CPU has; bits 4..7
 * pick a page whose base gets a wrong length.
 *
 * Checked: the output (exactly orig_len bytes), the body and the bases
 * are never read or written outside (ASan); the result is 0, -EBADMSG or
 * -ENODATA; a structurally bad body, a wrong base_hash or a missing base
 * leaves the output untouched; a decoded ZERO, SAME or RAW page is the
 * zeros, the base or the bytes of its record; and whatever decoded
 * encodes again (within DWCP_HDE_BOUND) into a body that decodes to the
 * same bytes.
 */
#include <errno.h>
#include <stdbool.h>

#include "common/ops/hde.h"
#include "tests/fuzz/fuzz_util.h"

#define UNTOUCHED 0x5a

static struct dwcp_hde_codec best, scalar;

static void codecs_init(void)
{
	static bool done;
	struct dwcp_cpu_features cpu;

	if (done)
		return;
	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&best, &cpu);
	scalar = best;
	FUZZ_ASSERT(dwcp_delta_select_variant(&scalar.delta, DWCP_DELTA_SCALAR, &cpu) == 0 &&
		    dwcp_xxh3_select_variant(&scalar.xxh3, DWCP_XXH3_SSE2, &cpu) == 0,
		    "no scalar code path");
	done = true;
}

/* Base pages for @p orig_len bytes of data: page i is the material
 * @p m repeated, from its byte 7 i on (so pages differ). */
static void make_bases(struct dwcp_hde_base *b, uint32_t orig_len, const struct fuzz_in *m,
		       unsigned mode, const struct dwcp_hde_rec *recs, bool parsed,
		       const struct dwcp_hde_codec *x)
{
	static uint8_t pattern[2 * DWCP_HDE_PAGE];
	unsigned n = dwcp_hde_pages(orig_len), bad = mode >> 4;
	size_t k = m->n < DWCP_HDE_PAGE ? m->n : DWCP_HDE_PAGE;

	memset(pattern, 0, sizeof(pattern));
	for (size_t o = 0; k && o < sizeof(pattern); o += k)
		memcpy(pattern + o, m->p, o + k <= sizeof(pattern) ? k : sizeof(pattern) - o);
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = dwcp_hde_page_len(orig_len, i);
		uint8_t *d;

		if (i == bad && len > 1)
			len--;
		d = fuzz_dup(pattern + (k ? 7u * i % k : 0), len);
		b[i] = (struct dwcp_hde_base){ .data = d, .len = len, .hash = x->xxh3.h64(d, len, 0) };
		if ((mode & 4) && parsed)
			b[i].hash = recs[i].base;
	}
}

static void free_bases(struct dwcp_hde_base *b, uint32_t orig_len)
{
	for (unsigned i = 0; i < dwcp_hde_pages(orig_len); i++)
		free((void *)b[i].data);
}

static bool untouched(const uint8_t *out, uint32_t n)
{
	static uint8_t fill[DWCP_HDE_MAX_DATA + 1];

	if (fill[0] != UNTOUCHED)
		memset(fill, UNTOUCHED, sizeof(fill));
	return n == 0 || memcmp(out, fill, n) == 0;
}

/* Each page the decoder rebuilt from its record alone is what it says. */
static void check_pages(const struct dwcp_hde_rec *recs, unsigned n,
			const struct dwcp_hde_base *bases, const uint8_t *out)
{
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *pg = out + (size_t)i * DWCP_HDE_PAGE;
		const struct dwcp_hde_rec *r = &recs[i];

		if (r->kind == DWCP_HDE_ZERO)
			for (uint32_t j = 0; j < r->page_len; j++)
				FUZZ_ASSERT(pg[j] == 0, "ZERO page %u byte %u is %u", i, j, pg[j]);
		if (r->kind == DWCP_HDE_RAW)
			FUZZ_ASSERT(!memcmp(pg, r->payload, r->page_len), "RAW page %u differs", i);
		if (r->kind == DWCP_HDE_SAME)
			FUZZ_ASSERT(!memcmp(pg, bases[i].data, r->page_len), "SAME page %u differs", i);
	}
}

/* What decoded must encode again and decode to the same bytes. */
static void check_roundtrip(const struct dwcp_hde_codec *x, const uint8_t *data, uint32_t len,
			    const struct dwcp_hde_base *bases)
{
	size_t cap = DWCP_HDE_BOUND(len);
	uint8_t *body = malloc(cap), *again = malloc(len ? len : 1);
	struct dwcp_hde_summary sum;
	ssize_t n;
	int rc;

	FUZZ_ASSERT(body && again, "out of memory");
	n = dwcp_hde_encode(x, data, len, bases, body, cap, &sum);
	FUZZ_ASSERT(n > 0 && (size_t)n <= cap, "re-encode of %u bytes: %zd (bound %zu)", len, n,
		    cap);
	rc = dwcp_hde_decode(x, body, (size_t)n, len, sum.base_hash, bases, again);
	FUZZ_ASSERT(rc == 0, "decode of a fresh encoding: %d", rc);
	FUZZ_ASSERT(!memcmp(again, data, len), "re-encoded body decodes to other bytes");
	free(body);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned mode = (unsigned)fuzz_take(&in, 1);
	uint32_t orig_len = (uint32_t)(fuzz_take(&in, 3) % (DWCP_HDE_MAX_DATA + 2));
	uint64_t base_hash = fuzz_take(&in, 8);
	size_t body_len = (size_t)fuzz_take(&in, 2);
	struct dwcp_hde_rec recs[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_base bases[DWCP_HDE_MAX_PAGES];
	const struct dwcp_hde_codec *x;
	uint8_t *body, *out;
	int n, rc;
	bool early;

	codecs_init();
	x = (mode & 8) ? &scalar : &best;
	body_len = body_len < in.n ? body_len : in.n;
	body = fuzz_dup(in.p, body_len);
	in.p += body_len;
	in.n -= body_len;
	n = dwcp_hde_parse(body, body_len, orig_len, recs);
	FUZZ_ASSERT(n < 0 || (unsigned)n == dwcp_hde_pages(orig_len), "%d records for %u bytes", n,
		    orig_len);
	if ((mode & 1) && n >= 0)
		base_hash = dwcp_hde_base_hash(x, recs, (unsigned)n);
	if ((mode & 2) && orig_len <= DWCP_HDE_MAX_DATA)
		make_bases(bases, orig_len, &in, mode, recs, n >= 0, x);
	out = malloc(orig_len ? orig_len : 1);
	FUZZ_ASSERT(out != NULL, "out of memory");
	memset(out, UNTOUCHED, orig_len);

	rc = dwcp_hde_decode(x, body, body_len, orig_len, base_hash, (mode & 2) ? bases : NULL, out);
	FUZZ_ASSERT(rc == 0 || rc == -EBADMSG || rc == -ENODATA, "rc %d", rc);
	/* refused before any page was applied */
	early = n < 0 || dwcp_hde_base_hash(x, recs, (unsigned)n) != base_hash || rc == -ENODATA;
	if (rc == 0) {
		FUZZ_ASSERT(n >= 0 && !early, "decoded a body the parser refuses");
		check_pages(recs, (unsigned)n, bases, out);
		check_roundtrip(x, out, orig_len, (mode & 2) ? bases : NULL);
	} else if (early) {
		FUZZ_ASSERT(untouched(out, orig_len), "refused (%d) but wrote the output", rc);
	}
	if ((mode & 2) && orig_len <= DWCP_HDE_MAX_DATA)
		free_bases(bases, orig_len);
	free(out);
	free(body);
	return 0;
}
