/* dwcp bench ops: what one call of each data-path op costs on one buffer.
 *
 * Function-level timing, no services: each op runs on the same buffer in
 * a loop for a fixed time and is reported in GB/s (10^9 bytes of input per
 * second); every figure is the median of several runs, so one preempted
 * run does not move it. Each section sets our code beside a reference: the
 * memcpy bandwidth for the checksums, the distribution's libxxhash.so for
 * our AVX2 XXH3, the scalar path for the SIMD scans, and the two AES-GCM
 * backends against each other, which is how DWCP_AEAD_BACKEND_DEFAULT in
 * common/ops/aead.h was chosen. The compression input is "VM-like": of
 * each three 4 KiB pages one is zero, one text-like and one random.
 *
 * --no-avx512 hides AVX-512 from our dispatch (it decides intel-ipsec-mb's
 * code path); OpenSSL reads its own mask, OPENSSL_ia32cap, from the
 * environment, which the output shows how to set for the same effect.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "cli/cli_internal.h"
#include "common/cpu.h"
#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "common/ops/crc32c.h"
#include "common/ops/delta.h"
#include "common/ops/xxh3.h"
#include "common/timeutil.h"
#include "common/ops/hde.h"
#include "bench_data.h"

#define RUNS   5u      /* median of this many */
#define BATCH  8u      /* calls between clock reads */
#define AAD_LEN 16u

struct opts {
	size_t size;
	unsigned ms;
	int no_avx512;
};

/* Everything the ops read and write, made once before timing starts. */
struct ctx {
	size_t size;
	uint8_t *src, *dst, *zeros, *mixed, *same, *comp;
	size_t comp_cap, comp_len;
	struct dwcp_xxh3_impl xx[2];          /* sse2, avx2 */
	struct dwcp_delta_impl dl[3];         /* scalar, sse4.2, avx2 */
	int n_xx, n_dl;
	struct dwcp_compress_ctx *cc;
	ZSTD_CCtx *zref;                      /* the zstd CLI's way (section_zstd_reference) */
	uint8_t *hde_body;
	size_t hde_len;
	struct dwcp_aead_key *ossl, *imb;
	uint8_t nonce[DWCP_AEAD_NONCE_LEN], aad[AAD_LEN], tag[DWCP_AEAD_TAG_LEN];
	uint64_t sink;                        /* results land here: not dead code */
	uint64_t target_ns;
};

typedef void op_fn(struct ctx *c, const void *arg);

/* ---- timing --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* GB/s of input through @p fn: median of RUNS runs of target_ns each. */
static double measure(struct ctx *c, op_fn *fn, const void *arg, size_t bytes_per_call)
{
	double gbs[RUNS];

	fn(c, arg);   /* warm caches, let zstd size its workspace */
	for (unsigned r = 0; r < RUNS; r++) {
		uint64_t t0 = dwcp_now_ns(), t, calls = 0;

		do {
			for (unsigned i = 0; i < BATCH; i++)
				fn(c, arg);
			calls += BATCH;
			t = dwcp_now_ns();
		} while (t - t0 < c->target_ns);
		gbs[r] = (double)calls * (double)bytes_per_call / (double)(t - t0);
	}
	qsort(gbs, RUNS, sizeof(gbs[0]), cmp_double);
	return gbs[RUNS / 2];
}

static void row(const char *name, double gbs)
{
	printf("  %-34s %8.2f GB/s\n", name, gbs);
}

static void ratio_row(const char *what, double num, double den)
{
	printf("  %-34s %8.2f x\n", what, den > 0 ? num / den : 0.0);
}

/* ---- the ops -------------------------------------------------------- */

static void op_memcpy(struct ctx *c, const void *arg)
{
	(void)arg;
	memcpy(c->dst, c->src, c->size);
	__asm__ volatile("" : : "r"(c->dst) : "memory");   /* keep the copy */
}

static void op_crc32c(struct ctx *c, const void *arg)
{
	(void)arg;
	c->sink += dwcp_crc32c(0, c->src, c->size);
}

static void op_xxh3_ours(struct ctx *c, const void *arg)
{
	c->sink += ((const struct dwcp_xxh3_impl *)arg)->h64(c->src, c->size, 0);
}

static void op_xxh3_so(struct ctx *c, const void *arg)
{
	(void)arg;
	c->sink += XXH3_64bits_withSeed(c->src, c->size, 0);   /* libxxhash.so */
}

static void op_is_zero(struct ctx *c, const void *arg)
{
	c->sink += ((const struct dwcp_delta_impl *)arg)->is_zero(c->zeros, c->size);
}

static void op_xor(struct ctx *c, const void *arg)
{
	((const struct dwcp_delta_impl *)arg)->xor_buf(c->dst, c->src, c->mixed, c->size);
	__asm__ volatile("" : : "r"(c->dst) : "memory");
}

static void op_delta_same(struct ctx *c, const void *arg)
{
	c->sink += (uint64_t)dwcp_delta_encode(arg, c->src, c->same, c->size, c->dst,
					       c->size + 64);
}

struct codec_arg {
	enum dwcp_codec codec;
	int level;
};

static void op_compress(struct ctx *c, const void *arg)
{
	const struct codec_arg *a = arg;

	c->sink += (uint64_t)dwcp_compress(c->cc, a->codec, a->level, c->mixed, c->size, c->comp,
					   c->comp_cap);
}

static void op_decompress(struct ctx *c, const void *arg)
{
	const struct codec_arg *a = arg;

	c->sink += (uint64_t)dwcp_decompress(c->cc, a->codec, c->comp, c->comp_len, c->dst, c->size);
}

static void op_seal(struct ctx *c, const void *arg)
{
	struct dwcp_aead_key *k = (struct dwcp_aead_key *)(uintptr_t)arg;

	c->sink += (uint64_t)dwcp_aead_seal(k, c->nonce, c->aad, AAD_LEN, c->src, c->size, c->dst,
					    c->tag);
}

static void op_open(struct ctx *c, const void *arg)
{
	struct dwcp_aead_key *k = (struct dwcp_aead_key *)(uintptr_t)arg;

	c->sink += (uint64_t)dwcp_aead_open(k, c->nonce, c->aad, AAD_LEN, c->comp, c->size, c->tag,
					    c->dst);
}

/* ---- sections ------------------------------------------------------- */

static double section_checksums(struct ctx *c)
{
	double mc = measure(c, op_memcpy, NULL, c->size), crc, so, ours[2] = { 0, 0 };

	printf("checksums (memcpy is the reference: what touching the bytes costs)\n");
	row("memcpy", mc);
	crc = measure(c, op_crc32c, NULL, c->size);
	row("crc32c (ISA-L)", crc);
	for (int i = 0; i < c->n_xx; i++) {
		char name[64];

		snprintf(name, sizeof(name), "xxh3-64 %s (ours)", c->xx[i].name);
		ours[i] = measure(c, op_xxh3_ours, &c->xx[i], c->size);
		row(name, ours[i]);
	}
	so = measure(c, op_xxh3_so, NULL, c->size);
	row("xxh3-64 libxxhash.so", so);
	ratio_row("crc32c / memcpy", crc, mc);
	ratio_row("xxh3 ours (best) / libxxhash.so", ours[c->n_xx - 1], so);
	return mc;
}

static void section_scans(struct ctx *c)
{
	char name[64];
	double z[3], x[3], d[3];

	printf("zero-page test, XOR, delta of an unchanged block\n");
	for (int i = 0; i < c->n_dl; i++) {
		snprintf(name, sizeof(name), "is_zero %s (zero page, full scan)", c->dl[i].name);
		row(name, z[i] = measure(c, op_is_zero, &c->dl[i], c->size));
	}
	for (int i = 0; i < c->n_dl; i++) {
		snprintf(name, sizeof(name), "xor %s", c->dl[i].name);
		row(name, x[i] = measure(c, op_xor, &c->dl[i], c->size));
	}
	for (int i = 0; i < c->n_dl; i++) {
		snprintf(name, sizeof(name), "delta encode %s (unchanged)", c->dl[i].name);
		row(name, d[i] = measure(c, op_delta_same, &c->dl[i], c->size));
	}
	snprintf(name, sizeof(name), "is_zero %s / scalar", c->dl[c->n_dl - 1].name);
	ratio_row(name, z[c->n_dl - 1], z[0]);
	snprintf(name, sizeof(name), "xor %s / scalar", c->dl[c->n_dl - 1].name);
	ratio_row(name, x[c->n_dl - 1], x[0]);
	snprintf(name, sizeof(name), "delta encode %s / scalar", c->dl[c->n_dl - 1].name);
	ratio_row(name, d[c->n_dl - 1], d[0]);
}

/* libzstd called as `zstd -1 -b1` calls it on a buffer of this size: its
 * own context, parameters set once, ZSTD_compress2 on the whole buffer as
 * one block (the CLI's benchmark splits its input only when asked to with
 * -B). The reference beside our ZSTD step, on the same bytes. */
static void op_zstd_cli(struct ctx *c, const void *arg)
{
	(void)arg;
	c->sink += (uint64_t)ZSTD_compress2(c->zref, c->comp, c->comp_cap, c->mixed, c->size);
}

/* Our zstd-1 on the HDE body of the buffer: what the pipeline's ZSTD step
 * really compresses (zero pages already gone), in GB/s of original bytes. */
static void op_zstd_hde(struct ctx *c, const void *arg)
{
	(void)arg;
	c->sink += (uint64_t)dwcp_compress(c->cc, DWCP_CODEC_ZSTD, 1, c->hde_body, c->hde_len,
					   c->comp, c->comp_cap);
}

static void section_zstd_reference(struct ctx *c)
{
	double ours = measure(c, op_compress, &(struct codec_arg){ DWCP_CODEC_ZSTD, 1 }, c->size);
	double cli = measure(c, op_zstd_cli, NULL, c->size);
	double hde = measure(c, op_zstd_hde, NULL, c->size);

	printf("zstd-1: our step beside libzstd called the way the zstd CLI calls it\n");
	row("zstd-1 ours (dwcp_compress)", ours);
	row("zstd-1 as `zstd -1 -b1` (compress2)", cli);
	row("zstd-1 ours on the HDE body", hde);
	ratio_row("zstd-1 ours / CLI's way", ours, cli);
	printf("  (HDE body: %.1f %% of the buffer, zero pages removed; GB/s of original bytes:\n"
	       "   the pipeline's ZSTD step sees only the pages that cost zstd time)\n",
	       100.0 * (double)c->hde_len / (double)c->size);
}

static void one_codec(struct ctx *c, const char *label, enum dwcp_codec codec, int level)
{
	struct codec_arg a = { codec, level };
	ssize_t n = dwcp_compress(c->cc, codec, level, c->mixed, c->size, c->comp, c->comp_cap);
	double comp, dec;

	if (n < 0) {
		printf("  %-10s compress failed: %s\n", label, strerror((int)-n));
		return;
	}
	c->comp_len = (size_t)n;
	comp = measure(c, op_compress, &a, c->size);
	dec = measure(c, op_decompress, &a, c->size);
	printf("  %-10s compress %7.2f GB/s   decompress %7.2f GB/s   size %5.1f %%\n", label,
	       comp, dec, 100.0 * (double)n / (double)c->size);
}

static void section_compress(struct ctx *c)
{
	printf("compression (VM-like buffer: 1/3 zero pages, 1/3 text, 1/3 random; GB/s of input)\n");
	one_codec(c, "lz4", DWCP_CODEC_LZ4, DWCP_LZ4_LEVEL_FAST);
	one_codec(c, "lz4hc-9", DWCP_CODEC_LZ4, DWCP_LZ4_LEVEL_HC_DEFAULT);
	one_codec(c, "zstd-1", DWCP_CODEC_ZSTD, 1);
	one_codec(c, "zstd-3", DWCP_CODEC_ZSTD, 3);
	section_zstd_reference(c);
}

static void section_aead(struct ctx *c)
{
	double so, si, oo, oi;
	const char *winner;
	char name[64];

	printf("AES-256-GCM (%u-byte AAD)\n", AAD_LEN);
	snprintf(name, sizeof(name), "seal %s", dwcp_aead_key_describe(c->ossl));
	row(name, so = measure(c, op_seal, c->ossl, c->size));
	snprintf(name, sizeof(name), "seal %s", dwcp_aead_key_describe(c->imb));
	row(name, si = measure(c, op_seal, c->imb, c->size));
	dwcp_aead_seal(c->imb, c->nonce, c->aad, AAD_LEN, c->src, c->size, c->comp, c->tag);
	snprintf(name, sizeof(name), "open %s", dwcp_aead_key_describe(c->ossl));
	row(name, oo = measure(c, op_open, c->ossl, c->size));
	snprintf(name, sizeof(name), "open %s", dwcp_aead_key_describe(c->imb));
	row(name, oi = measure(c, op_open, c->imb, c->size));
	ratio_row("seal ipsec-mb / openssl", si, so);
	ratio_row("open ipsec-mb / openssl", oi, oo);
	winner = si + oi > so + oo ? "ipsec-mb" : "openssl";
	printf("  faster backend: %s; built-in default (aead.h): %s\n", winner,
	       DWCP_AEAD_BACKEND_DEFAULT == DWCP_AEAD_IPSEC_MB ? "ipsec-mb" : "openssl");
}

/* ---- set-up --------------------------------------------------------- */

static uint8_t *buf(size_t n)
{
	uint8_t *p = aligned_alloc(64, (n + 63) & ~(size_t)63);

	if (p)
		memset(p, 0, n);
	return p;
}

static void pick_code_paths(struct ctx *c, const struct dwcp_cpu_features *cpu)
{
	if (dwcp_xxh3_select_variant(&c->xx[c->n_xx], DWCP_XXH3_SSE2, cpu) == 0)
		c->n_xx++;
	if (dwcp_xxh3_select_variant(&c->xx[c->n_xx], DWCP_XXH3_AVX2, cpu) == 0)
		c->n_xx++;
	if (dwcp_delta_select_variant(&c->dl[c->n_dl], DWCP_DELTA_SCALAR, cpu) == 0)
		c->n_dl++;
	if (dwcp_delta_select_variant(&c->dl[c->n_dl], DWCP_DELTA_SSE42, cpu) == 0)
		c->n_dl++;
	if (dwcp_delta_select_variant(&c->dl[c->n_dl], DWCP_DELTA_AVX2, cpu) == 0)
		c->n_dl++;
}

/* The HDE body of c->mixed with no base: what svc-mem hands the ZSTD step. */
static int hde_setup(struct ctx *c, const struct dwcp_cpu_features *cpu)
{
	struct dwcp_hde_codec hde;
	size_t chunk = DWCP_HDE_MAX_PAGES * DWCP_HDE_PAGE;

	dwcp_hde_codec_init(&hde, cpu);
	c->hde_body = malloc(DWCP_HDE_BOUND(chunk) * (c->size / chunk + 1));
	if (!c->hde_body)
		return -ENOMEM;
	for (size_t at = 0; at < c->size; at += chunk) {
		size_t n = c->size - at < chunk ? c->size - at : chunk;
		struct dwcp_hde_summary sum;
		ssize_t r = dwcp_hde_encode(&hde, c->mixed + at, n, NULL, c->hde_body + c->hde_len,
					    DWCP_HDE_BOUND(n), &sum);

		if (r < 0)
			return (int)r;
		c->hde_len += (size_t)r;
	}
	return 0;
}

static int setup(struct ctx *c, const struct opts *o, const struct dwcp_cpu_features *cpu)
{
	uint8_t key[DWCP_AEAD_KEY_LEN];
	uint64_t s = 42;

	c->size = o->size;
	c->target_ns = (uint64_t)o->ms * 1000000ull;
	c->comp_cap = dwcp_compress_bound(DWCP_CODEC_ZSTD, o->size) + o->size + 64;
	c->src = buf(o->size), c->dst = buf(o->size + 64), c->zeros = buf(o->size);
	c->mixed = buf(o->size), c->same = buf(o->size), c->comp = buf(c->comp_cap);
	if (!c->src || !c->dst || !c->zeros || !c->mixed || !c->same || !c->comp)
		return -ENOMEM;
	for (size_t i = 0; i < o->size; i++)
		c->src[i] = (uint8_t)(bench_rand(&s) >> 32);
	memcpy(c->same, c->src, o->size);
	bench_fill_vm_like(c->mixed, o->size);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	pick_code_paths(c, cpu);
	c->cc = dwcp_compress_ctx_create();
	c->zref = ZSTD_createCCtx();
	if (!c->zref || ZSTD_isError(ZSTD_CCtx_setParameter(c->zref, ZSTD_c_compressionLevel, 1)))
		return -ENOMEM;
	if (hde_setup(c, cpu))
		return -ENOMEM;
	c->ossl = dwcp_aead_key_create(DWCP_AEAD_OPENSSL, key, cpu);
	c->imb = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, key, cpu);
	return c->cc && c->ossl && c->imb ? 0 : -errno;
}

static void teardown(struct ctx *c)
{
	free(c->src), free(c->dst), free(c->zeros), free(c->mixed), free(c->same), free(c->comp);
	dwcp_compress_ctx_destroy(c->cc);
	ZSTD_freeCCtx(c->zref);
	free(c->hde_body);
	dwcp_aead_key_destroy(c->ossl);
	dwcp_aead_key_destroy(c->imb);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' }, { "ms", required_argument, NULL, 'm' },
		{ "no-avx512", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;

		if (c == 'n') {
			o->no_avx512 = 1;
			continue;
		}
		if (c != '?')
			v = strtoul(optarg, &end, 10);
		if (c == '?' || !end || *end || v == 0 || v > (1ul << 30)) {
			fprintf(stderr, "dwcp bench ops: bad option (want --size BYTES --ms N --no-avx512)\n");
			return -EINVAL;
		}
		if (c == 's')
			o->size = v;
		if (c == 'm')
			o->ms = (unsigned)v;
	}
	return 0;
}

int dwcp_cli_bench_ops(int argc, char **argv)
{
	struct opts o = { .size = 65536, .ms = 100, .no_avx512 = 0 };
	struct dwcp_cpu_features cpu;
	struct ctx c = { 0 };
	char desc[160];
	int rc;

	if (parse(argc, argv, &o))
		return 2;
	dwcp_cpu_detect(&cpu);
	if (o.no_avx512)
		cpu.avx512f = cpu.avx512bw = false;
	rc = setup(&c, &o, &cpu);
	if (rc < 0) {
		fprintf(stderr, "dwcp bench ops: set-up failed: %s\n", strerror(-rc));
		teardown(&c);
		return 1;
	}
	printf("dwcp bench ops: %zu-byte buffers, one thread, median of %u runs of %u ms\n", o.size,
	       RUNS, o.ms);
	printf("cpu (as our dispatch sees it): %s\n", dwcp_cpu_describe(&cpu, desc, sizeof(desc)));
	if (o.no_avx512)
		printf("(for OpenSSL also set OPENSSL_ia32cap=\":~0x600DC230000\" to hide AVX-512 and VAES)\n");
	section_checksums(&c);
	section_scans(&c);
	section_compress(&c);
	section_aead(&c);
	printf("(checksum of results, ignore: %llx)\n", (unsigned long long)c.sink);
	teardown(&c);
	return 0;
}
