/* svc-gpu's CUDA engine, as C sees it (kernels/engine.cu; without nvcc,
 * gpu_nocuda.c answers every call with "built without nvcc").
 *
 * The node's whole region is registered with the CUDA driver once
 * (cudaHostRegister, mapped), so kernels read chunk buffers where they
 * lie, over PCIe, with no staging copy. Work goes in batches: one job per
 * chunk, one thread block per job, a few batches in flight on streams of
 * their own. A batch that finishes calls the caller's wake function (from
 * a CUDA thread), so the service sleeps while the GPU works.
 *
 * Concurrency: one service thread makes every call; the wake function
 * runs on a CUDA thread and must only set a flag and wake that thread.
 */
#ifndef DWCP_SVC_GPU_GPU_CUDA_H
#define DWCP_SVC_GPU_GPU_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DWCP_GPU_BATCH_MAX 512u   /* jobs in one batch */
#define DWCP_GPU_SLOTS     4u     /* batches in flight */

struct dwcp_gpu;

/* The CRC32C of the @p len bytes at @p off of the region (a chunk's
 * header and body), the four bytes at @p zero_off of them read as zero
 * (the chunk's crc field). */
struct dwcp_gpu_crc_job {
	uint64_t off;
	uint64_t len;
	uint64_t zero_off;
};

/**
 * Take CUDA device @p device (0, 1, ... as the runtime numbers them) and
 * register [@p base, @p base + @p size) with it. Every later call on
 * @p g must come from the thread that opened it (the device is that
 * thread's current one).
 * @return 0; -ENODEV (no such device, no driver, or built without nvcc)
 *         or -EIO, with the reason in @p why.
 */
int dwcp_gpu_open(struct dwcp_gpu **g, int device, void *base, size_t size, void (*wake)(void *),
		  void *wake_arg, char *why, size_t why_len);

/** The device: its name, compute capability and SMs, for the status line. */
const char *dwcp_gpu_describe(const struct dwcp_gpu *g);

/**
 * Start a batch of @p n (1..DWCP_GPU_BATCH_MAX) CRC jobs.
 * @return the batch's slot (0..DWCP_GPU_SLOTS-1); -EBUSY when every slot
 *         is in flight; -EIO on a device error (the context is lost: the
 *         caller exits, its buffers are re-delivered).
 */
int dwcp_gpu_crc_start(struct dwcp_gpu *g, const struct dwcp_gpu_crc_job *jobs, unsigned n);

/**
 * Whether the batch in @p slot finished. @return 1 (its n CRCs are in
 * @p out, the slot is free), 0 (still running), -EIO (device error).
 */
int dwcp_gpu_crc_done(struct dwcp_gpu *g, int slot, uint32_t *out);

/*
 * The chunk ops besides CRC32C (kernels/ops.cu), each on byte ranges of
 * the region, with the arithmetic the host tests hold to svc-simd's
 * (gcm_math.h, lz4_math.h): AES-256-GCM seal and open under the key of
 * dwcp_gpu_set_key, LZ4 block compress and decompress. One thread block
 * per job; a batch may mix ops. Not yet routed to by svc-gpu: the chunk
 * pipeline's GPU visit is next (docs/gpu.md).
 */
enum dwcp_gpu_op {
	DWCP_GPU_SEAL = 1,    /* in -> out (ciphertext), tag into the result */
	DWCP_GPU_OPEN = 2,    /* in (ciphertext) -> out, when job.tag checks */
	DWCP_GPU_LZ4 = 3,     /* in -> one LZ4 block at out */
	DWCP_GPU_UNLZ4 = 4,   /* one LZ4 block in -> out */
	DWCP_GPU_HDE = 5,     /* in (a chunk's data) -> its HDE body (version 1) at out */
	DWCP_GPU_UNHDE = 6,   /* an HDE body in -> out_cap bytes of data at out */
};

/*
 * HDE, UNHDE: the bases, one struct per page of the chunk's data (in_len
 * bytes for HDE, out_cap for UNHDE), at aad_off (aad_len = pages x its
 * size): a page's base is the cached version at region offset off, len
 * bytes (at most 4096), with XXH3-64 hash; off DWCP_GPU_NO_BASE: none.
 * Which base a page has is the delta cache's answer, the host's (svc-mem).
 */
struct dwcp_gpu_hde_ref {
	uint64_t off;
	uint32_t len;
	uint32_t pad;
	uint64_t hash;
};
#define DWCP_GPU_NO_BASE UINT64_MAX

struct dwcp_gpu_op_job {
	uint32_t op;                 /* enum dwcp_gpu_op */
	uint32_t pad;
	uint64_t in_off, in_len;     /* the input: region offset, bytes */
	uint64_t out_off, out_cap;   /* the output and its room (in and out may not overlap) */
	uint64_t aad_off, aad_len;   /* SEAL, OPEN: the associated data */
	uint8_t nonce[12];           /* SEAL, OPEN */
	uint8_t tag[16];             /* OPEN: the tag to check */
	uint8_t pad2[4];
};

struct dwcp_gpu_op_result {
	int64_t len;                 /* bytes written at out_off; -1: refused (tag, bad block, no room, bad op) */
	uint8_t tag[16];             /* SEAL: the tag */
};

/**
 * Load the AES-256-GCM key SEAL and OPEN use (waits for batches in flight).
 * @return 0, or -EIO on a device error.
 */
int dwcp_gpu_set_key(struct dwcp_gpu *g, const uint8_t key[32]);

/**
 * Start a batch of @p n (1..DWCP_GPU_BATCH_MAX) op jobs.
 * @return the batch's slot (0..DWCP_GPU_SLOTS-1); -EBUSY when every op
 *         slot is in flight; -EINVAL (bad n, or SEAL/OPEN before a key);
 *         -EIO on a device error.
 */
int dwcp_gpu_op_start(struct dwcp_gpu *g, const struct dwcp_gpu_op_job *jobs, unsigned n);

/**
 * Whether the op batch in @p slot finished. @return 1 (its n results are
 * in @p out, the slot is free), 0 (still running), -EIO (device error).
 */
int dwcp_gpu_op_done(struct dwcp_gpu *g, int slot, struct dwcp_gpu_op_result *out);

/**
 * The PCIe copy rate from and to the registered region: @p bytes (at most
 * the region) copied host to device and back @p reps times each.
 * @return 0 with GB/s (10^9 bytes/s) in @p h2d and @p d2h, or -EIO.
 */
int dwcp_gpu_copy_rate(struct dwcp_gpu *g, size_t bytes, unsigned reps, double *h2d, double *d2h);

/** The last device error, for the log. */
const char *dwcp_gpu_error(const struct dwcp_gpu *g);

void dwcp_gpu_close(struct dwcp_gpu *g);

#ifdef __cplusplus
}
#endif

#endif
