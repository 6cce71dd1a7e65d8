/* svc-mem's own files: its per-process state and its steps. */
#ifndef DWCP_MEM_INTERNAL_H
#define DWCP_MEM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "svc-mem/dcache.h"
#include "common/ops/hde.h"
#include "ipc/svc_runtime.h"

struct mem_state {
	struct dwcp_dcache cache;    /* valid only when have_cache */
	bool have_cache;             /* false: [mem] delta_cache_mb = 0 (or too small) */
	struct dwcp_hde_codec codec;
};

/**
 * Take the delta cache in the region's bytes (kept across restarts of
 * svc-mem, formatted otherwise) and pick the codec's code paths.
 * No cache configured is not an error: steps then work without bases.
 */
void mem_delta_init(struct dwcp_svc_ctx *ctx, struct mem_state *st);

/** Log the cache figures (at exit). */
void mem_delta_report(const struct mem_state *st);

/* The HDE steps (delta.c); each returns a DWCP_BUF_* status or -EAGAIN
 * when no output buffer is free. Neither modifies its input. */
int mem_delta(struct dwcp_svc_ctx *ctx, struct mem_state *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out);
int mem_undelta(struct dwcp_svc_ctx *ctx, struct mem_state *st, uint32_t idx,
		struct dwcp_buf_hdr *h, uint32_t *out);

#endif
