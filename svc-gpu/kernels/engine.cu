/* svc-gpu's CUDA engine (gpu_cuda.h): the region registered once, CRC32C
 * batches on a few streams. The arithmetic is crc32c_math.h, the same
 * source the host tests check against ISA-L.
 *
 * One block of CRC_THREADS threads per chunk: thread t takes the t-th
 * 16-byte-aligned segment, the block XORs the segments' shifted registers
 * (warp shuffles, then one word per warp in shared memory) and thread 0
 * finishes the CRC. The byte table sits in shared memory, x^(2^k) in
 * constant memory.
 *
 * Errors: a launch or copy error, or one a batch ends with, is sticky for
 * the context (illegal address, ECC, reset): every later call says -EIO
 * and the service exits, so the supervisor re-delivers its buffers to
 * the next generation, whose open runs the self-test again.
 */
#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc-gpu/crc32c_math.h"
#include "svc-gpu/gpu_cuda.h"
#include "svc-gpu/kernels/engine_pvt.cuh"

#define CRC_THREADS 256

__constant__ uint32_t c_x2n[32];
__constant__ uint32_t c_tab[256];

__global__ void crc_kernel(const uint8_t *base, const struct dwcp_gpu_crc_job *jobs, uint32_t *out)
{
	__shared__ uint32_t tab[256];
	__shared__ uint32_t warp_x[CRC_THREADS / 32];
	const struct dwcp_gpu_crc_job j = jobs[blockIdx.x];
	uint32_t x;

	for (unsigned i = threadIdx.x; i < 256; i += blockDim.x)
		tab[i] = c_tab[i];
	__syncthreads();
	x = dwcp_gpu_crc_thread(base + j.off, j.len, j.zero_off, threadIdx.x, blockDim.x, tab, c_x2n);
	for (int d = 16; d > 0; d >>= 1)
		x ^= __shfl_xor_sync(0xffffffffu, x, d);
	if ((threadIdx.x & 31) == 0)
		warp_x[threadIdx.x >> 5] = x;
	__syncthreads();
	if (threadIdx.x == 0) {
		x = 0;
		for (unsigned w = 0; w < blockDim.x / 32; w++)
			x ^= warp_x[w];
		out[blockIdx.x] = dwcp_gpu_crc_finish(x, j.len, c_x2n);
	}
}

int dwcp_gpu_fail(struct dwcp_gpu *g, cudaError_t rc, const char *what)
{
	snprintf(g->err, sizeof(g->err), "%s: %s (%s)", what, cudaGetErrorName(rc), cudaGetErrorString(rc));
	return -EIO;
}

void CUDART_CB dwcp_gpu_batch_done(void *arg)
{
	struct dwcp_gpu *g = (struct dwcp_gpu *)arg;

	if (g->wake)
		g->wake(g->wake_arg);
}

int dwcp_gpu_slot_open(struct dwcp_gpu *g, struct gpu_slot *s, size_t job_size, size_t out_size)
{
	cudaError_t rc;

	s->job_size = job_size;
	s->out_size = out_size;
	if ((rc = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking)) != cudaSuccess ||
	    (rc = cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming)) != cudaSuccess ||
	    (rc = cudaHostAlloc(&s->h_jobs, DWCP_GPU_BATCH_MAX * job_size, cudaHostAllocDefault)) != cudaSuccess ||
	    (rc = cudaHostAlloc(&s->h_out, DWCP_GPU_BATCH_MAX * out_size, cudaHostAllocDefault)) != cudaSuccess ||
	    (rc = cudaMalloc(&s->d_jobs, DWCP_GPU_BATCH_MAX * job_size)) != cudaSuccess ||
	    (rc = cudaMalloc(&s->d_out, DWCP_GPU_BATCH_MAX * out_size)) != cudaSuccess)
		return dwcp_gpu_fail(g, rc, "CUDA stream and batch buffers");
	return 0;
}

void dwcp_gpu_slot_close(struct gpu_slot *s)
{
	if (s->stream)
		cudaStreamSynchronize(s->stream);
	cudaFree(s->d_jobs);
	cudaFree(s->d_out);
	cudaFree(s->d_scratch);
	cudaFree(s->d_stage);
	cudaFreeHost(s->h_jobs);
	cudaFreeHost(s->h_out);
	if (s->done)
		cudaEventDestroy(s->done);
	if (s->stream)
		cudaStreamDestroy(s->stream);
	memset(s, 0, sizeof(*s));
}

int dwcp_gpu_slot_pick(const struct gpu_slot *slots)
{
	for (int k = 0; k < (int)DWCP_GPU_SLOTS; k++)
		if (!slots[k].busy)
			return k;
	return -EBUSY;
}

int dwcp_gpu_slot_send(struct dwcp_gpu *g, struct gpu_slot *s, const void *jobs, unsigned n)
{
	cudaError_t e;

	memcpy(s->h_jobs, jobs, n * s->job_size);
	e = cudaMemcpyAsync(s->d_jobs, s->h_jobs, n * s->job_size, cudaMemcpyHostToDevice, s->stream);
	return e == cudaSuccess ? 0 : dwcp_gpu_fail(g, e, "copying a batch's jobs");
}

int dwcp_gpu_slot_finish(struct dwcp_gpu *g, struct gpu_slot *s, unsigned n)
{
	cudaError_t e;

	if ((e = cudaGetLastError()) != cudaSuccess)
		return dwcp_gpu_fail(g, e, "launching a batch's kernel");
	if ((e = cudaMemcpyAsync(s->h_out, s->d_out, n * s->out_size, cudaMemcpyDeviceToHost, s->stream)) !=
		    cudaSuccess ||
	    (e = cudaEventRecord(s->done, s->stream)) != cudaSuccess ||
	    (e = cudaLaunchHostFunc(s->stream, dwcp_gpu_batch_done, g)) != cudaSuccess)
		return dwcp_gpu_fail(g, e, "queueing a batch's results");
	s->n = n;
	s->busy = true;
	return 0;
}

int dwcp_gpu_slot_done(struct dwcp_gpu *g, struct gpu_slot *s, void *out)
{
	cudaError_t e = cudaEventQuery(s->done);

	if (e == cudaErrorNotReady)
		return 0;
	if (e != cudaSuccess)
		return dwcp_gpu_fail(g, e, "a batch");
	memcpy(out, s->h_out, s->n * s->out_size);
	s->busy = false;
	return 1;
}

extern "C" int dwcp_gpu_open(struct dwcp_gpu **out, int device, void *base, size_t size,
			     void (*wake)(void *), void *wake_arg, char *why, size_t why_len)
{
	struct dwcp_gpu *g = (struct dwcp_gpu *)calloc(1, sizeof(*g));
	uint32_t tab[256], x2n[32];
	struct cudaDeviceProp prop;
	int n = 0, rc = 0;
	cudaError_t e;

	*out = NULL;
	if (!g) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	g->base = (uint8_t *)base;
	g->size = size;
	g->wake = wake;
	g->wake_arg = wake_arg;
	e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess || n <= device || device < 0) {
		/* Without a driver the runtime says "insufficient driver". */
		snprintf(why, why_len, "no CUDA device %d or no driver (CUDA runtime: %s)", device,
			 e != cudaSuccess ? cudaGetErrorString(e) : n ? "fewer devices" : "0 devices");
		free(g);
		return -ENODEV;
	}
	if ((e = cudaSetDevice(device)) != cudaSuccess ||
	    (e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) {
		rc = dwcp_gpu_fail(g, e, "setting the CUDA device");
		goto out;
	}
	e = cudaHostRegister(base, size, cudaHostRegisterMapped | cudaHostRegisterPortable);
	if (e != cudaSuccess) {
		rc = dwcp_gpu_fail(g, e, "cudaHostRegister of the region");
		goto out;
	}
	g->registered = true;
	if ((e = cudaHostGetDevicePointer((void **)&g->d_base, base, 0)) != cudaSuccess) {
		rc = dwcp_gpu_fail(g, e, "the region's device address");
		goto out;
	}
	dwcp_gpu_crc_table(tab);
	dwcp_gpu_crc_x2n_table(x2n);
	if ((e = cudaMemcpyToSymbol(c_tab, tab, sizeof(tab))) != cudaSuccess ||
	    (e = cudaMemcpyToSymbol(c_x2n, x2n, sizeof(x2n))) != cudaSuccess) {
		rc = dwcp_gpu_fail(g, e, "the CRC tables");
		goto out;
	}
	for (unsigned i = 0; i < DWCP_GPU_SLOTS && !rc; i++)
		rc = dwcp_gpu_slot_open(g, &g->slot[i], sizeof(struct dwcp_gpu_crc_job), sizeof(uint32_t));
	if (!rc)
		rc = dwcp_gpu_ops_open(g);
	snprintf(g->desc, sizeof(g->desc), "%.96s (sm_%d%d, %d SMs)", prop.name, prop.major,
		 prop.minor, prop.multiProcessorCount);
out:
	if (rc) {
		snprintf(why, why_len, "%s", g->err);
		dwcp_gpu_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

extern "C" const char *dwcp_gpu_describe(const struct dwcp_gpu *g)
{
	return g->desc;
}

extern "C" const char *dwcp_gpu_error(const struct dwcp_gpu *g)
{
	return g->err;
}

extern "C" int dwcp_gpu_crc_start(struct dwcp_gpu *g, const struct dwcp_gpu_crc_job *jobs, unsigned n)
{
	struct gpu_slot *s;
	int k, rc;

	if (n == 0 || n > DWCP_GPU_BATCH_MAX)
		return -EINVAL;
	if ((k = dwcp_gpu_slot_pick(g->slot)) < 0)
		return k;
	s = &g->slot[k];
	if ((rc = dwcp_gpu_slot_send(g, s, jobs, n)))
		return rc;
	crc_kernel<<<n, CRC_THREADS, 0, s->stream>>>(g->d_base, (const struct dwcp_gpu_crc_job *)s->d_jobs,
						      (uint32_t *)s->d_out);
	rc = dwcp_gpu_slot_finish(g, s, n);
	return rc ? rc : k;
}

extern "C" int dwcp_gpu_crc_done(struct dwcp_gpu *g, int slot, uint32_t *out)
{
	return dwcp_gpu_slot_done(g, &g->slot[slot], out);
}

extern "C" void dwcp_gpu_close(struct dwcp_gpu *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < DWCP_GPU_SLOTS; i++) {
		dwcp_gpu_slot_close(&g->slot[i]);
		dwcp_gpu_slot_close(&g->op_slot[i]);
	}
	if (g->registered)
		cudaHostUnregister(g->base);
	free(g);
}
