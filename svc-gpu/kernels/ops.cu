/* svc-gpu's op batches (gpu_cuda.h: dwcp_gpu_op_*): AES-256-GCM seal and
 * open, LZ4 block compress and decompress, on byte ranges of the region
 * the engine registered (engine.cu). The arithmetic is gcm_math.h and
 * lz4_math.h, the sources the host tests hold to ipsec-mb, OpenSSL,
 * liblz4 and the published vectors.
 *
 * One block of OP_THREADS threads per job. GCM: the key schedule, H's
 * powers and the AES tables are copied into shared memory; threads take
 * counter blocks in turn (neighbouring threads, neighbouring 16 bytes),
 * then GHASH ranges that the block XORs together; thread 0 makes or
 * checks the tag (open decrypts only a message whose tag checks). LZ4:
 * the block's threads copy the job's input from host memory into device
 * memory (16 bytes a thread in turn: whole PCIe transactions), thread 0
 * codes the whole block there (the format is sequential; a batch's
 * hundreds of chunks are the parallelism), and the threads copy the
 * result back. Byte by byte over PCIe, each of thread 0's reads would be
 * a round trip. Each job has a 16 KiB hash table and a stage of the
 * batch's largest input plus output in device memory. HDE and UNHDE
 * (hde_math.h) the same way, with each page's base staged beside the
 * input: the delta cache's lookup stays svc-mem's, the job names the
 * bases by region offset.
 *
 * Not measured yet: no GPU was lent while this was written (svc-gpu's
 * self-test at start holds every op to the CPU before it is published).
 * GHASH reads the ciphertext a second time: the next cost to look at.
 */
#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "svc-gpu/gcm_math.h"
#include "svc-gpu/gpu_cuda.h"
#include "svc-gpu/hde_math.h"
#include "svc-gpu/kernels/engine_pvt.cuh"
#include "svc-gpu/lz4_math.h"

#define OP_THREADS 256
#define LZ4_TABLE  (1u << DWCP_GPU_LZ4_HASH_LOG)

__constant__ struct dwcp_gpu_gcm_key c_gcm;
__constant__ struct dwcp_gpu_aes_tables c_aes;

__device__ static void gcm_job(uint8_t *base, const struct dwcp_gpu_op_job *j, struct dwcp_gpu_op_result *r,
			       const struct dwcp_gpu_gcm_key *k, const struct dwcp_gpu_aes_tables *t)
{
	__shared__ uint64_t warp_y[OP_THREADS / 32][2];
	__shared__ int ok;
	const uint8_t *in = base + j->in_off, *aad = base + j->aad_off;
	uint8_t *out = base + j->out_off;
	const uint64_t len = j->in_len, nblk = (len + 15) / 16, m = dwcp_gpu_ghash_blocks(j->aad_len, len);
	const bool seal = j->op == DWCP_GPU_SEAL;
	uint64_t y[2];

	if (seal) {
		for (uint64_t b = threadIdx.x; b < nblk; b += blockDim.x)
			dwcp_gpu_gcm_ctr(k, j->nonce, in, out, b * 16, len - b * 16 < 16 ? len - b * 16 : 16, t);
		__threadfence();
		__syncthreads();
	}
	/* GHASH over the ciphertext: what sealing wrote, or what came to open. */
	dwcp_gpu_ghash_range(k, aad, j->aad_len, seal ? out : in, len, m * threadIdx.x / blockDim.x,
			     m * (threadIdx.x + 1) / blockDim.x, y);
	for (int d = 16; d > 0; d >>= 1) {
		y[0] ^= __shfl_xor_sync(0xffffffffu, y[0], d);
		y[1] ^= __shfl_xor_sync(0xffffffffu, y[1], d);
	}
	if ((threadIdx.x & 31) == 0) {
		warp_y[threadIdx.x >> 5][0] = y[0];
		warp_y[threadIdx.x >> 5][1] = y[1];
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		uint8_t tag[16], diff = 0;

		y[0] = y[1] = 0;
		for (unsigned w = 0; w < blockDim.x / 32; w++) {
			y[0] ^= warp_y[w][0];
			y[1] ^= warp_y[w][1];
		}
		dwcp_gpu_gcm_tag(k, j->nonce, y, tag, t);
		for (unsigned i = 0; i < 16; i++) {
			r->tag[i] = seal ? tag[i] : 0;
			diff |= (uint8_t)(tag[i] ^ j->tag[i]);
		}
		ok = seal || diff == 0;
		r->len = ok ? (int64_t)len : -1;
	}
	__syncthreads();
	if (!seal && ok)
		for (uint64_t b = threadIdx.x; b < nblk; b += blockDim.x)
			dwcp_gpu_gcm_ctr(k, j->nonce, in, out, b * 16, len - b * 16 < 16 ? len - b * 16 : 16, t);
}

/* @p n bytes from @p src to @p dst by the block's threads, 16 bytes
 * each in turn where both are 16-byte aligned. */
__device__ static void block_copy(uint8_t *dst, const uint8_t *src, uint64_t n)
{
	uint64_t i = 0;

	if ((((uintptr_t)dst | (uintptr_t)src) & 15) == 0) {
		for (i = threadIdx.x; i < n / 16; i += blockDim.x)
			((uint4 *)dst)[i] = ((const uint4 *)src)[i];
		i = n / 16 * 16;
	}
	for (uint64_t b = i + threadIdx.x; b < n; b += blockDim.x)
		dst[b] = src[b];
}

/* LZ4 or UNLZ4: input staged in device memory at @p stage (its output
 * after it, 16-byte aligned), coded by thread 0, the result copied out. */
__device__ static void lz4_job(uint8_t *base, const struct dwcp_gpu_op_job *j, struct dwcp_gpu_op_result *r,
			       uint8_t *stage, uint32_t *table)
{
	__shared__ int64_t len;
	uint8_t *in = stage, *out = stage + (j->in_len + 15) / 16 * 16;

	block_copy(in, base + j->in_off, j->in_len);
	__syncthreads();
	if (threadIdx.x == 0) {
		if (j->op == DWCP_GPU_LZ4) {
			uint64_t c = dwcp_gpu_lz4_compress(in, j->in_len, out, j->out_cap, table);

			len = c ? (int64_t)c : -1;
		} else {
			len = dwcp_gpu_lz4_decompress(in, j->in_len, out, j->out_cap);
		}
		r->len = len;
	}
	__syncthreads();
	if (len > 0)
		block_copy(base + j->out_off, out, (uint64_t)len);
}

/* The staging room an HDE or UNHDE job needs: its input, every page's
 * base, its output, each 16-byte aligned. */
#define HDE_BASES ((uint64_t)DWCP_GPU_HDE_MAX_PAGES * DWCP_GPU_HDE_PAGE)

/* HDE or UNHDE: the input and the bases staged in device memory, coded by
 * thread 0 (hde_math.h, one chunk a thread as for LZ4), the result copied
 * out. dwcp_gpu_op_start checked every base lies in the region. */
__device__ static void hde_job(uint8_t *base, const struct dwcp_gpu_op_job *j, struct dwcp_gpu_op_result *r,
			       uint8_t *stage)
{
	__shared__ struct dwcp_gpu_hde_base bases[DWCP_GPU_HDE_MAX_PAGES];
	__shared__ int64_t len;
	const struct dwcp_gpu_hde_ref *refs = (const struct dwcp_gpu_hde_ref *)(base + j->aad_off);
	const uint32_t pages = (uint32_t)(j->aad_len / sizeof(struct dwcp_gpu_hde_ref));
	uint8_t *in = stage, *held = in + (j->in_len + 15) / 16 * 16, *out = held + HDE_BASES;

	block_copy(in, base + j->in_off, j->in_len);
	for (uint32_t i = 0; i < pages; i++) {
		const struct dwcp_gpu_hde_ref ref = refs[i];

		if (ref.off != DWCP_GPU_NO_BASE)
			block_copy(held + (uint64_t)i * DWCP_GPU_HDE_PAGE, base + ref.off, ref.len);
		if (threadIdx.x == 0)
			bases[i] = (struct dwcp_gpu_hde_base){
				ref.off == DWCP_GPU_NO_BASE ? NULL : held + (uint64_t)i * DWCP_GPU_HDE_PAGE,
				ref.len, ref.hash };
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		if (j->op == DWCP_GPU_HDE)
			len = dwcp_gpu_hde_encode(in, (uint32_t)j->in_len, bases, out, j->out_cap);
		else
			len = dwcp_gpu_hde_decode(in, j->in_len, (uint32_t)j->out_cap, bases, out) ?
				      -1 : (int64_t)j->out_cap;
		r->len = len;
	}
	__syncthreads();
	if (len > 0)
		block_copy(base + j->out_off, out, (uint64_t)len);
}

__global__ void op_kernel(uint8_t *base, const struct dwcp_gpu_op_job *jobs, struct dwcp_gpu_op_result *res,
			  uint32_t *scratch, uint8_t *stage, uint64_t stage_stride)
{
	__shared__ struct dwcp_gpu_gcm_key k;
	__shared__ struct dwcp_gpu_aes_tables t;
	const struct dwcp_gpu_op_job j = jobs[blockIdx.x];
	struct dwcp_gpu_op_result *r = &res[blockIdx.x];

	if (j.op == DWCP_GPU_LZ4 || j.op == DWCP_GPU_UNLZ4) {
		lz4_job(base, &j, r, stage + blockIdx.x * stage_stride, scratch + (size_t)blockIdx.x * LZ4_TABLE);
		return;
	}
	if (j.op == DWCP_GPU_HDE || j.op == DWCP_GPU_UNHDE) {
		hde_job(base, &j, r, stage + blockIdx.x * stage_stride);
		return;
	}
	if ((j.op != DWCP_GPU_SEAL && j.op != DWCP_GPU_OPEN) || j.in_len > j.out_cap) {
		if (threadIdx.x == 0)
			r->len = -1;
		return;
	}
	/* Field by field: constant memory is read by name, not through a pointer. */
	for (unsigned i = threadIdx.x; i < 60; i += blockDim.x)
		k.rk[i] = c_gcm.rk[i];
	for (unsigned i = threadIdx.x; i < DWCP_GPU_GCM_HPOW; i += blockDim.x) {
		k.hpow[i][0] = c_gcm.hpow[i][0];
		k.hpow[i][1] = c_gcm.hpow[i][1];
	}
	for (unsigned i = threadIdx.x; i < 256; i += blockDim.x) {
		t.te0[i] = c_aes.te0[i];
		t.sbox[i] = c_aes.sbox[i];
	}
	__syncthreads();
	gcm_job(base, &j, r, &k, &t);
}

extern "C" int dwcp_gpu_set_key(struct dwcp_gpu *g, const uint8_t key[32])
{
	struct dwcp_gpu_aes_tables t;
	struct dwcp_gpu_gcm_key k;
	cudaError_t e;

	dwcp_gpu_aes_tables(&t);
	dwcp_gpu_gcm_key_init(&k, key, &t);
	/* A batch in flight reads the key it started with. */
	for (unsigned i = 0; i < DWCP_GPU_SLOTS; i++)
		if (g->op_slot[i].stream && (e = cudaStreamSynchronize(g->op_slot[i].stream)) != cudaSuccess)
			return dwcp_gpu_fail(g, e, "waiting for op batches before a new key");
	e = cudaMemcpyToSymbol(c_gcm, &k, sizeof(k));
	if (e == cudaSuccess)
		e = cudaMemcpyToSymbol(c_aes, &t, sizeof(t));
	memset(&k, 0, sizeof(k));
	if (e != cudaSuccess)
		return dwcp_gpu_fail(g, e, "loading the AES-256-GCM key");
	g->has_key = true;
	return 0;
}

/* Whether HDE or UNHDE job @p j is whole: a chunk of at most 64 pages,
 * one base reference per page, every base a page or less inside the
 * region (the host reads the references here, before the device does). */
static bool hde_job_ok(const struct dwcp_gpu *g, const struct dwcp_gpu_op_job *j)
{
	const uint64_t data = j->op == DWCP_GPU_HDE ? j->in_len : j->out_cap;
	const uint64_t pages = (data + DWCP_GPU_HDE_PAGE - 1) / DWCP_GPU_HDE_PAGE;
	const struct dwcp_gpu_hde_ref *refs = (const struct dwcp_gpu_hde_ref *)((const uint8_t *)g->base + j->aad_off);

	if (pages > DWCP_GPU_HDE_MAX_PAGES || j->aad_len != pages * sizeof(*refs) ||
	    j->aad_off % alignof(struct dwcp_gpu_hde_ref))
		return false;
	for (uint64_t i = 0; i < pages; i++)
		if (refs[i].off != DWCP_GPU_NO_BASE &&
		    (refs[i].len > DWCP_GPU_HDE_PAGE || refs[i].off > g->size ||
		     refs[i].len > g->size - refs[i].off))
			return false;
	return true;
}

/* Room for every LZ4 job of the batch in @p s's stage: @p stride bytes a
 * job. Grown (rarely: the largest chunk is soon seen) while the slot is
 * idle, which it is when a batch is being started on it. */
static int stage_fit(struct dwcp_gpu *g, struct gpu_slot *s, uint64_t stride, unsigned n)
{
	size_t need = (size_t)stride * n;
	cudaError_t e;

	if (need <= s->stage_size)
		return 0;
	cudaFree(s->d_stage);
	s->d_stage = NULL;
	s->stage_size = 0;
	need = (size_t)stride * DWCP_GPU_BATCH_MAX;
	if ((e = cudaMalloc((void **)&s->d_stage, need)) != cudaSuccess)
		return dwcp_gpu_fail(g, e, "LZ4 staging memory");
	s->stage_size = need;
	return 0;
}

extern "C" int dwcp_gpu_op_start(struct dwcp_gpu *g, const struct dwcp_gpu_op_job *jobs, unsigned n)
{
	struct gpu_slot *s;
	uint64_t stride = 0;
	int k, rc;

	if (n == 0 || n > DWCP_GPU_BATCH_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (!g->has_key && (jobs[i].op == DWCP_GPU_SEAL || jobs[i].op == DWCP_GPU_OPEN))
			return -EINVAL;
		if (jobs[i].in_off > g->size || jobs[i].in_len > g->size - jobs[i].in_off ||
		    jobs[i].out_off > g->size || jobs[i].out_cap > g->size - jobs[i].out_off ||
		    jobs[i].aad_off > g->size || jobs[i].aad_len > g->size - jobs[i].aad_off)
			return -EINVAL;   /* outside the region: never handed to the device */
		if (jobs[i].op == DWCP_GPU_LZ4 || jobs[i].op == DWCP_GPU_UNLZ4) {
			uint64_t need = (jobs[i].in_len + 15) / 16 * 16 + (jobs[i].out_cap + 15) / 16 * 16;

			stride = need > stride ? need : stride;
		}
		if (jobs[i].op == DWCP_GPU_HDE || jobs[i].op == DWCP_GPU_UNHDE) {
			uint64_t need = (jobs[i].in_len + 15) / 16 * 16 + HDE_BASES + (jobs[i].out_cap + 15) / 16 * 16;

			if (!hde_job_ok(g, &jobs[i]))
				return -EINVAL;
			stride = need > stride ? need : stride;
		}
	}
	if ((k = dwcp_gpu_slot_pick(g->op_slot)) < 0)
		return k;
	s = &g->op_slot[k];
	if ((rc = stage_fit(g, s, stride, n)) || (rc = dwcp_gpu_slot_send(g, s, jobs, n)))
		return rc;
	op_kernel<<<n, OP_THREADS, 0, s->stream>>>(g->d_base, (const struct dwcp_gpu_op_job *)s->d_jobs,
						    (struct dwcp_gpu_op_result *)s->d_out, s->d_scratch, s->d_stage,
						    stride);
	rc = dwcp_gpu_slot_finish(g, s, n);
	return rc ? rc : k;
}

extern "C" int dwcp_gpu_op_done(struct dwcp_gpu *g, int slot, struct dwcp_gpu_op_result *out)
{
	return dwcp_gpu_slot_done(g, &g->op_slot[slot], out);
}

extern "C" int dwcp_gpu_copy_rate(struct dwcp_gpu *g, size_t bytes, unsigned reps, double *h2d, double *d2h)
{
	cudaEvent_t t0 = NULL, t1 = NULL;
	void *dev = NULL;
	float ms[2] = { 0, 0 };
	cudaError_t e;

	*h2d = *d2h = 0;
	if (bytes > g->size)
		bytes = g->size;
	if ((e = cudaMalloc(&dev, bytes)) != cudaSuccess || (e = cudaEventCreate(&t0)) != cudaSuccess ||
	    (e = cudaEventCreate(&t1)) != cudaSuccess)
		goto out;
	for (int dir = 0; dir < 2 && e == cudaSuccess; dir++) {
		/* One untimed copy first: the first touch maps pages. */
		for (unsigned r = 0; r <= reps && e == cudaSuccess; r++) {
			if (r == 1)
				e = cudaEventRecord(t0, 0);
			if (e == cudaSuccess)
				e = dir == 0 ? cudaMemcpy(dev, g->base, bytes, cudaMemcpyHostToDevice)
					     : cudaMemcpy(g->base, dev, bytes, cudaMemcpyDeviceToHost);
		}
		if (e == cudaSuccess && (e = cudaEventRecord(t1, 0)) == cudaSuccess &&
		    (e = cudaEventSynchronize(t1)) == cudaSuccess)
			e = cudaEventElapsedTime(&ms[dir], t0, t1);
	}
out:
	if (dev)
		cudaFree(dev);
	if (t0)
		cudaEventDestroy(t0);
	if (t1)
		cudaEventDestroy(t1);
	if (e != cudaSuccess)
		return dwcp_gpu_fail(g, e, "measuring the copy rate");
	*h2d = ms[0] > 0 ? (double)bytes * reps / (ms[0] / 1e3) / 1e9 : 0;
	*d2h = ms[1] > 0 ? (double)bytes * reps / (ms[1] / 1e3) / 1e9 : 0;
	return 0;
}

int dwcp_gpu_ops_open(struct dwcp_gpu *g)
{
	for (unsigned i = 0; i < DWCP_GPU_SLOTS; i++) {
		struct gpu_slot *s = &g->op_slot[i];
		cudaError_t e;
		int rc = dwcp_gpu_slot_open(g, s, sizeof(struct dwcp_gpu_op_job), sizeof(struct dwcp_gpu_op_result));

		if (rc)
			return rc;
		e = cudaMalloc((void **)&s->d_scratch, (size_t)DWCP_GPU_BATCH_MAX * LZ4_TABLE * sizeof(uint32_t));
		if (e != cudaSuccess)
			return dwcp_gpu_fail(g, e, "LZ4 hash tables");
	}
	return 0;
}
