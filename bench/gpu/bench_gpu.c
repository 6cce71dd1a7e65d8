/* dwcp bench gpu (build/bin/dwcp-bench-gpu; `dwcp bench gpu` runs it): what
 * svc-gpu's engine does per op and for the chunk pipeline, in GB/s of input
 * end to end (host memory -> GPU -> host memory, as a node's chunks go),
 * beside one CPU core doing the same op and the PCIe copy rate, all
 * measured in the same run.
 *
 * The region is ordinary memory the engine registers (a node's is its
 * hugepages: the same cudaHostRegister path), filled with VM-like chunks:
 * of each three 4 KiB pages one zero, one text-like, one random. Each op
 * runs batches of 512 chunks of --chunk-kib, every batch slot in flight,
 * for --seconds (OPEN and UNLZ4 on blocks the CPU sealed and compressed
 * beforehand, the CPU rows on the same blocks). HDE encodes each chunk
 * against a previous version of it (its bases: the same pages, but one
 * in twenty with 16 bytes changed, and the zero pages), as a resend of a
 * VM image that changed a little does; the CPU row is svc-mem's codec.
 * The pipeline is HDE, then LZ4 of the HDE body, AES-256-GCM seal of the
 * LZ4 block, CRC32C of the sealed block, a batch of each after the other
 * on the same 512 chunks (the four visits are what the one-visit pipeline
 * of docs/gpu.md is to fold into one). CPU rows: ISA-L's CRC32C,
 * svc-simd's AEAD (ipsec-mb), liblz4, svc-mem's HDE, one thread, on the
 * same chunks.
 *
 * Without a CUDA device (or built without nvcc) it prints the CPU rows and
 * "skipped: no CUDA device", and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>

#include "bench/bench_data.h"
#include "common/cpu.h"
#include "common/ops/aead.h"
#include "common/ops/crc32c.h"
#include "common/ops/hde.h"
#include "common/timeutil.h"
#include "svc-gpu/gpu_cuda.h"

#define BATCH DWCP_GPU_BATCH_MAX

struct bench {
	unsigned seconds, chunk;
	size_t region_len;
	uint8_t *region;
	unsigned nchunks;              /* chunks of input; output slots follow them */
	struct dwcp_gpu *gpu;
	uint32_t woke;
	uint8_t key[32];
	uint8_t (*tag)[16];            /* per chunk: the tag of its sealed copy (area 1) */
	uint32_t *lz4_len;             /* per chunk: the length of its LZ4 block (area 1) */
	struct dwcp_hde_codec hde;     /* the CPU's HDE, and the bases' hashes */
	bool hde_ok;                   /* chunks of 64 pages or fewer: HDE rows */
};

static void wake(void *arg)
{
	__atomic_store_n((uint32_t *)arg, 1, __ATOMIC_RELEASE);
}

static uint64_t in_off(const struct bench *b, unsigned i)
{
	return (uint64_t)(i % b->nchunks) * b->chunk;
}

/* Room for a chunk's output: an LZ4 block's bound and more. */
static uint64_t out_room(const struct bench *b)
{
	return b->chunk + b->chunk / 128 + 64;
}

/* Each chunk's output slot @p area (0: an op's output, 1: the pipeline's
 * sealed block), after every input. */
static uint64_t out_off(const struct bench *b, unsigned i, unsigned area)
{
	return (uint64_t)b->nchunks * (b->chunk + area * out_room(b)) + (uint64_t)(i % b->nchunks) * out_room(b);
}

/* Chunk @p i's bases: its previous version, after the output areas. */
static uint64_t base_off(const struct bench *b, unsigned i)
{
	return (uint64_t)b->nchunks * (b->chunk + 2 * out_room(b)) + (uint64_t)(i % b->nchunks) * b->chunk;
}

/* Chunk @p i's base references (struct dwcp_gpu_hde_ref, one per page), after the bases. */
static uint64_t refs_off(const struct bench *b, unsigned i)
{
	return (uint64_t)b->nchunks * (2 * b->chunk + 2 * out_room(b)) +
	       (uint64_t)(i % b->nchunks) * DWCP_HDE_MAX_PAGES * sizeof(struct dwcp_gpu_hde_ref);
}

/* The bases: each chunk's pages, one in twenty with 16 bytes changed;
 * their references and hashes. */
static void make_bases(struct bench *b)
{
	const unsigned pages = b->chunk / DWCP_HDE_PAGE;

	for (unsigned i = 0; i < b->nchunks; i++) {
		struct dwcp_gpu_hde_ref *refs = (struct dwcp_gpu_hde_ref *)(b->region + refs_off(b, i));
		uint8_t *base = b->region + base_off(b, i);

		memcpy(base, b->region + in_off(b, i), b->chunk);
		for (unsigned p = 0; p < pages; p++) {
			uint8_t *pg = base + (size_t)p * DWCP_HDE_PAGE;

			if ((i * pages + p) % 20 == 0)
				for (unsigned q = 0; q < 16; q++)
					pg[q * 251] ^= 0x5a;
			refs[p] = (struct dwcp_gpu_hde_ref){ .off = base_off(b, i) + (uint64_t)p * DWCP_HDE_PAGE,
							     .len = DWCP_HDE_PAGE,
							     .hash = b->hde.xxh3.h64(pg, DWCP_HDE_PAGE, 0) };
		}
	}
}

/* ---- one CPU core ---------------------------------------------------- */

/* Chunk @p i's nonce: the same for the CPU's seal and the GPU's open. */
static void nonce_of(const struct bench *b, unsigned i, uint8_t nonce[12])
{
	memset(nonce, 0, 12);
	nonce[0] = (uint8_t)(i % b->nchunks);
	nonce[1] = (uint8_t)((i % b->nchunks) >> 8);
}

/* Area 1 of every chunk: its sealed copy (@p op DWCP_GPU_OPEN) or its LZ4
 * block (DWCP_GPU_UNLZ4), made by the CPU, for the rows that undo them.
 * @return 0, or -1 (said why). */
static int prepare(struct bench *b, int op)
{
	struct dwcp_aead_key *k = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, b->key, NULL);
	int rc = 0;

	for (unsigned i = 0; k && i < b->nchunks && !rc; i++) {
		const uint8_t *in = b->region + in_off(b, i);
		uint8_t *out = b->region + out_off(b, i, 1), nonce[12];
		int n;

		nonce_of(b, i, nonce);
		if (op == DWCP_GPU_OPEN) {
			rc = dwcp_aead_seal(k, nonce, NULL, 0, in, b->chunk, out, b->tag[i]);
		} else {
			n = LZ4_compress_default((const char *)in, (char *)out, (int)b->chunk, (int)out_room(b));
			b->lz4_len[i] = n > 0 ? (uint32_t)n : 0;
			rc = n > 0 ? 0 : -1;
		}
	}
	dwcp_aead_key_destroy(k);
	if (!k || rc)
		fprintf(stderr, "dwcp bench gpu: the CPU could not prepare the %s inputs\n",
			op == DWCP_GPU_OPEN ? "sealed" : "LZ4");
	return k && !rc ? 0 : -1;
}

static double cpu_rate(struct bench *b, int op)
{
	struct dwcp_aead_key *k = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, b->key, NULL);
	uint8_t nonce[12] = { 1 }, tag[16];
	uint64_t t0 = dwcp_now_ns(), end = t0 + (uint64_t)b->seconds * 1000000000u, bytes = 0;
	volatile uint32_t sink = 0;
	struct dwcp_hde_base bases[DWCP_HDE_MAX_PAGES];

	if (!k)
		return -1;
	for (unsigned i = 0; dwcp_now_ns() < end; i++) {
		const uint8_t *in = b->region + in_off(b, i);
		uint8_t *out = b->region + out_off(b, i, 0);

		switch (op) {
		case 0:
			sink ^= dwcp_crc32c(0, in, b->chunk);
			break;
		case DWCP_GPU_SEAL:
			dwcp_aead_seal(k, nonce, NULL, 0, in, b->chunk, out, tag);
			break;
		case DWCP_GPU_LZ4:
			sink ^= (uint32_t)LZ4_compress_default((const char *)in, (char *)out, (int)b->chunk,
								LZ4_compressBound((int)b->chunk));
			break;
		case DWCP_GPU_OPEN:
			nonce_of(b, i, nonce);
			if (dwcp_aead_open(k, nonce, NULL, 0, b->region + out_off(b, i, 1), b->chunk,
					   b->tag[i % b->nchunks], out)) {
				fprintf(stderr, "dwcp bench gpu: the CPU does not open its own seal\n");
				dwcp_aead_key_destroy(k);
				return -1;
			}
			break;
		case DWCP_GPU_HDE: {
			const struct dwcp_gpu_hde_ref *refs =
				(const struct dwcp_gpu_hde_ref *)(b->region + refs_off(b, i));

			for (unsigned p = 0; p < b->chunk / DWCP_HDE_PAGE; p++)
				bases[p] = (struct dwcp_hde_base){ .data = b->region + refs[p].off,
								   .len = refs[p].len, .hash = refs[p].hash };
			if (dwcp_hde_encode(&b->hde, in, b->chunk, bases, out, out_room(b), NULL) <= 0) {
				fprintf(stderr, "dwcp bench gpu: the CPU's HDE failed\n");
				dwcp_aead_key_destroy(k);
				return -1;
			}
			break;
		}
		case DWCP_GPU_UNLZ4:
			if (LZ4_decompress_safe((const char *)b->region + out_off(b, i, 1), (char *)out,
						(int)b->lz4_len[i % b->nchunks], (int)b->chunk) != (int)b->chunk) {
				fprintf(stderr, "dwcp bench gpu: liblz4 does not decode its own block\n");
				dwcp_aead_key_destroy(k);
				return -1;
			}
			break;
		}
		bytes += b->chunk;
	}
	dwcp_aead_key_destroy(k);
	(void)sink;
	return (double)bytes / ((dwcp_now_ns() - t0) / 1e9) / 1e9;
}

/* ---- the GPU ------------------------------------------------------------ */

static void op_jobs(const struct bench *b, struct dwcp_gpu_op_job *j, unsigned first, uint32_t op)
{
	for (unsigned k = 0; k < BATCH; k++) {
		unsigned i = first + k;

		j[k] = (struct dwcp_gpu_op_job){ .op = op, .in_off = in_off(b, i), .in_len = b->chunk,
						 .out_off = out_off(b, i, 0), .out_cap = out_room(b) };
		nonce_of(b, i, j[k].nonce);
		if (op == DWCP_GPU_OPEN) {
			j[k].in_off = out_off(b, i, 1);
			memcpy(j[k].tag, b->tag[i % b->nchunks], 16);
		} else if (op == DWCP_GPU_UNLZ4) {
			j[k].in_off = out_off(b, i, 1);
			j[k].in_len = b->lz4_len[i % b->nchunks];
			j[k].out_cap = b->chunk;
		} else if (op == DWCP_GPU_HDE) {
			j[k].aad_off = refs_off(b, i);
			j[k].aad_len = b->chunk / DWCP_HDE_PAGE * sizeof(struct dwcp_gpu_hde_ref);
		}
	}
}

/* Batches of @p op (0: CRC32C) with every slot in flight for the run's
 * seconds. @return GB/s of input, or -1 (the reason on stderr). */
static double gpu_rate(struct bench *b, int op)
{
	static struct dwcp_gpu_op_job j[BATCH];
	static struct dwcp_gpu_crc_job cj[BATCH];
	static struct dwcp_gpu_op_result r[BATCH];
	static uint32_t crc[BATCH];
	int slot[DWCP_GPU_SLOTS];
	unsigned next = 0, inflight = 0;
	uint64_t t0 = dwcp_now_ns(), end = t0 + (uint64_t)b->seconds * 1000000000u, bytes = 0;

	for (unsigned s = 0; s < DWCP_GPU_SLOTS; s++)
		slot[s] = -1;
	while (dwcp_now_ns() < end || inflight) {
		for (unsigned s = 0; s < DWCP_GPU_SLOTS; s++) {
			int rc;

			if (slot[s] < 0 && dwcp_now_ns() < end) {
				if (op == 0) {
					for (unsigned k = 0; k < BATCH; k++)
						cj[k] = (struct dwcp_gpu_crc_job){ .off = in_off(b, next + k), .len = b->chunk,
										   .zero_off = UINT64_MAX };
					slot[s] = dwcp_gpu_crc_start(b->gpu, cj, BATCH);
				} else {
					op_jobs(b, j, next, (uint32_t)op);
					slot[s] = dwcp_gpu_op_start(b->gpu, j, BATCH);
				}
				if (slot[s] < 0) {
					fprintf(stderr, "dwcp bench gpu: a batch did not start: %d %s\n", slot[s],
						dwcp_gpu_error(b->gpu));
					return -1;
				}
				next += BATCH;
				inflight++;
				continue;
			}
			if (slot[s] < 0)
				continue;
			rc = op == 0 ? dwcp_gpu_crc_done(b->gpu, slot[s], crc) : dwcp_gpu_op_done(b->gpu, slot[s], r);
			if (rc < 0) {
				fprintf(stderr, "dwcp bench gpu: %s\n", dwcp_gpu_error(b->gpu));
				return -1;
			}
			if (rc == 1) {
				for (unsigned k = 0; op != 0 && k < BATCH; k++)
					if (r[k].len < 0) {
						fprintf(stderr, "dwcp bench gpu: op %d refused chunk %u\n", op, k);
						return -1;
					}
				slot[s] = -1;
				inflight--;
				bytes += (uint64_t)BATCH * b->chunk;
			}
		}
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
	return (double)bytes / ((dwcp_now_ns() - t0) / 1e9) / 1e9;
}

/* Wait for one batch (its op results into @p r; NULL: a CRC batch).
 * @return 1, or -1 (said why; an op that refused a chunk too). */
static int gpu_wait(struct bench *b, int slot, struct dwcp_gpu_op_result *r)
{
	static uint32_t out[BATCH];

	if (slot < 0) {
		fprintf(stderr, "dwcp bench gpu: a batch did not start: %d %s\n", slot, dwcp_gpu_error(b->gpu));
		return -1;
	}
	for (;;) {
		int rc = r ? dwcp_gpu_op_done(b->gpu, slot, r) : dwcp_gpu_crc_done(b->gpu, slot, out);

		if (rc < 0)
			fprintf(stderr, "dwcp bench gpu: %s\n", dwcp_gpu_error(b->gpu));
		for (unsigned k = 0; rc == 1 && r && k < BATCH; k++)
			if (r[k].len < 0) {
				fprintf(stderr, "dwcp bench gpu: a pipeline op refused chunk %u\n", k);
				return -1;
			}
		if (rc)
			return rc;
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
}

/* HDE against the bases, LZ4 of the body, seal of the compressed block,
 * CRC of the sealed one: four batches in a row per 512 chunks, one group
 * at a time. */
static double gpu_pipeline(struct bench *b)
{
	static struct dwcp_gpu_op_job j[BATCH];
	static struct dwcp_gpu_crc_job cj[BATCH];
	static struct dwcp_gpu_op_result r[BATCH];
	uint64_t t0 = dwcp_now_ns(), end = t0 + (uint64_t)b->seconds * 1000000000u, bytes = 0;

	for (unsigned next = 0; dwcp_now_ns() < end; next += BATCH) {
		op_jobs(b, j, next, DWCP_GPU_HDE);
		if (gpu_wait(b, dwcp_gpu_op_start(b->gpu, j, BATCH), r) < 0)
			return -1;
		/* LZ4 of the body into area 1, where the seal's output was; the
		 * seal then goes to area 0. */
		for (unsigned k = 0; k < BATCH; k++) {
			j[k].op = DWCP_GPU_LZ4;
			j[k].in_off = j[k].out_off;
			j[k].in_len = (uint64_t)r[k].len;
			j[k].out_off = out_off(b, next + k, 1);
			j[k].out_cap = out_room(b);
			j[k].aad_off = j[k].aad_len = 0;
		}
		if (gpu_wait(b, dwcp_gpu_op_start(b->gpu, j, BATCH), r) < 0)
			return -1;
		for (unsigned k = 0; k < BATCH; k++) {
			j[k].op = DWCP_GPU_SEAL;
			j[k].in_off = j[k].out_off;
			j[k].in_len = (uint64_t)r[k].len;
			j[k].out_off = out_off(b, next + k, 0);
			j[k].out_cap = out_room(b);
		}
		if (gpu_wait(b, dwcp_gpu_op_start(b->gpu, j, BATCH), r) < 0)
			return -1;
		for (unsigned k = 0; k < BATCH; k++)
			cj[k] = (struct dwcp_gpu_crc_job){ .off = j[k].out_off, .len = j[k].in_len, .zero_off = UINT64_MAX };
		if (gpu_wait(b, dwcp_gpu_crc_start(b->gpu, cj, BATCH), NULL) < 0)
			return -1;
		bytes += (uint64_t)BATCH * b->chunk;
	}
	return (double)bytes / ((dwcp_now_ns() - t0) / 1e9) / 1e9;
}

static int parse(int argc, char **argv, struct bench *b)
{
	static const struct option lo[] = { { "seconds", required_argument, NULL, 't' },
					    { "chunk-kib", required_argument, NULL, 'c' },
					    { NULL, 0, NULL, 0 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *e;
		unsigned long v = ch == '?' ? 0 : strtoul(optarg, &e, 10);

		if (ch == '?' || *e || (ch == 't' && (v < 1 || v > 60)) || (ch == 'c' && (v < 4 || v > 1024))) {
			fprintf(stderr, "dwcp bench gpu: bad option (want --seconds 1..60 --chunk-kib 4..1024)\n");
			return -1;
		}
		if (ch == 't')
			b->seconds = (unsigned)v;
		else
			b->chunk = (unsigned)v << 10;
	}
	return optind < argc ? -1 : 0;
}

static void row(const char *what, double gpu, double cpu)
{
	if (gpu >= 0 && cpu > 0)
		printf("%-44s %9.2f %9.2f %8.1fx\n", what, gpu, cpu, gpu / cpu);
	else if (cpu > 0)
		printf("%-44s %9s %9.2f\n", what, "-", cpu);
	else
		printf("%-44s %9.2f %9s\n", what, gpu, "-");
}

int main(int argc, char **argv)
{
	struct bench b = { .seconds = 2, .chunk = 256u << 10 };
	char why[256] = "";
	static const int ops[] = { 0, DWCP_GPU_SEAL, DWCP_GPU_LZ4, DWCP_GPU_OPEN, DWCP_GPU_UNLZ4, DWCP_GPU_HDE };
	static const char *const names[] = { "CRC32C", "AES-256-GCM seal", "LZ4 compress (one block a chunk)",
					     "AES-256-GCM open", "LZ4 decompress (GB/s of its output)",
					     "HDE against a 5 %-changed version" };
	double cpu[6] = { 0 }, gpu[6] = { -1, -1, -1, -1, -1, -1 }, h2d = 0, d2h = 0, pipe = -1;
	struct dwcp_cpu_features features;
	uint64_t s = 7;
	int rc;

	if (parse(argc, argv, &b)) {
		fprintf(stderr, "usage: dwcp bench gpu [--seconds 1..60] [--chunk-kib 4..1024]\n");
		return 2;
	}
	b.nchunks = 2048;   /* 512 MiB of input at 256 KiB: more than the GPU's caches */
	b.hde_ok = b.chunk <= DWCP_HDE_MAX_DATA && b.chunk % DWCP_HDE_PAGE == 0;
	dwcp_cpu_detect(&features);
	dwcp_hde_codec_init(&b.hde, &features);
	/* Inputs, two output areas, the bases, their references. */
	b.region_len = (size_t)b.nchunks * (2 * b.chunk + 2u * out_room(&b) +
					    DWCP_HDE_MAX_PAGES * sizeof(struct dwcp_gpu_hde_ref));
	b.region_len = (b.region_len + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	b.region = aligned_alloc(2u << 20, b.region_len);
	b.tag = calloc(b.nchunks, sizeof(*b.tag));
	b.lz4_len = calloc(b.nchunks, sizeof(*b.lz4_len));
	if (!b.region || !b.tag || !b.lz4_len) {
		fprintf(stderr, "dwcp bench gpu: cannot allocate %zu MiB\n", b.region_len >> 20);
		return 1;
	}
	bench_fill_vm_like(b.region, (size_t)b.nchunks * b.chunk);
	/* Touch the output areas too: first-touch faults are not the ops' cost. */
	memset(b.region + (size_t)b.nchunks * b.chunk, 0, b.region_len - (size_t)b.nchunks * b.chunk);
	if (b.hde_ok)
		make_bases(&b);
	for (unsigned i = 0; i < sizeof(b.key); i++)
		b.key[i] = (uint8_t)bench_rand(&s);
	printf("dwcp bench gpu: %u chunks of %u KiB (VM-like: zero, text, random pages), batches of %u, %u s each\n\n",
	       b.nchunks, b.chunk >> 10, BATCH, b.seconds);
	rc = dwcp_gpu_open(&b.gpu, 0, b.region, b.region_len, wake, &b.woke, why, sizeof(why));
	if (rc == 0 && dwcp_gpu_set_key(b.gpu, b.key) == 0)
		dwcp_gpu_copy_rate(b.gpu, 256u << 20, 8, &h2d, &d2h);
	/* Each op on one core, then on the GPU, over the same chunks; OPEN
	 * and UNLZ4 over what prepare() made of them. */
	for (unsigned i = 0; i < 6; i++) {
		if ((ops[i] == DWCP_GPU_OPEN || ops[i] == DWCP_GPU_UNLZ4) && prepare(&b, ops[i]))
			continue;
		if (ops[i] == DWCP_GPU_HDE && !b.hde_ok)
			continue;
		cpu[i] = cpu_rate(&b, ops[i]);
		if (rc == 0)
			gpu[i] = gpu_rate(&b, ops[i]);
	}
	if (rc == 0 && b.hde_ok)
		pipe = gpu_pipeline(&b);
	printf("%-44s %9s %9s %9s\n", "GB/s of input, end to end", "GPU", "1 core", "ratio");
	for (unsigned i = 0; i < 6; i++)
		if (cpu[i] > 0 || gpu[i] >= 0)
			row(names[i], gpu[i], cpu[i]);
	if (rc) {
		printf("GPU: skipped: no CUDA device (%s)\n", why);
		free(b.tag);
		free(b.lz4_len);
		free(b.region);
		return 1;
	}
	printf("%-44s %9.2f\n", "pipeline: HDE + LZ4 + seal + CRC32C", pipe);
	printf("%-44s %9.2f  H2D, %.2f D2H\n", "PCIe copy, pinned region", h2d, d2h);
	if (pipe > 0 && h2d > 0)
		printf("ratio pipeline / PCIe H2D                    %.2fx\n", pipe / h2d);
	printf("(%s)\n", dwcp_gpu_describe(b.gpu));
	dwcp_gpu_close(b.gpu);
	free(b.tag);
	free(b.lz4_len);
	free(b.region);
	return 0;
}
