/* One process's view of the dwcp region: typed pointers derived from the
 * offsets the control block publishes. The region itself is a DPDK
 * memzone (the supervisor reserves it; everyone else looks it up), but
 * formatting and mapping take plain memory, so unit tests exercise the
 * same code on malloc'd memory.
 */
#ifndef DWCP_IPC_SHM_H
#define DWCP_IPC_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ipc/buf_hdr.h"
#include "ipc/ctl_block.h"
#include "ipc/stats.h"

struct rte_ring;
struct dwcp_node_part;

struct dwcp_shm {
	struct dwcp_ctl_block *ctl;
	struct dwcp_stats *stats;    /* [DWCP_MAX_SLOTS] */
	uint8_t *links;              /* DWCP_MAX_LINKS rings, link_stride apart */
	uint64_t link_stride;
	struct dwcp_buf_hdr *hdrs;   /* [n_bufs] */
	uint64_t *free_map;          /* [(n_bufs + 63) / 64] */
	uint8_t *data;               /* n_bufs * buf_size */
	uint32_t n_bufs;
	uint32_t buf_size;
	uint32_t link_depth;
	uint8_t *dcache;             /* the HDE delta cache (ipc/dcache.h), dcache_size bytes */
	uint64_t dcache_size;
	struct dwcp_node_part *node; /* transport config and stream table (ipc/streams.h) */
};

struct dwcp_shm_params {
	uint32_t n_bufs;
	uint32_t buf_size;          /* multiple of 64 */
	uint32_t link_depth;        /* power of two */
	uint32_t heartbeat_ms;
	uint32_t spin_us;
	uint32_t poll_mode;
	uint64_t dcache_size;       /* bytes for the delta cache; 0 = none */
	const char *instance;
};

/** Bytes a region with these parameters needs (0 if they overflow). */
size_t dwcp_shm_size(const struct dwcp_shm_params *p);

/**
 * Lay out and initialise a region at @p base (@p size from dwcp_shm_size):
 * control block with magic/version, empty rings, every buffer FREE.
 * The mempool-ops order is published separately (ipc/eal.h) because it
 * needs DPDK. Only the supervisor calls this, before anyone attaches.
 * @return 0 or -EINVAL (bad parameters, message in @p err).
 */
int dwcp_shm_format(void *base, size_t size, const struct dwcp_shm_params *p,
		    struct dwcp_shm *view, struct dwcp_err *err);

/**
 * Check the ABI of a region and build a view of it.
 * @return 0; -EPROTO with a message naming both versions when the region
 *         was made by another ABI version or is not a dwcp region;
 *         -EINVAL when its layout does not fit @p size.
 */
int dwcp_shm_map(void *base, size_t size, struct dwcp_shm *view, struct dwcp_err *err);

static inline struct dwcp_buf_hdr *dwcp_shm_hdr(const struct dwcp_shm *shm, uint32_t idx)
{
	return &shm->hdrs[idx];
}

static inline void *dwcp_shm_data(const struct dwcp_shm *shm, uint32_t idx)
{
	return shm->data + (size_t)idx * shm->buf_size;
}

static inline struct rte_ring *dwcp_shm_link(const struct dwcp_shm *shm, unsigned src, unsigned dst)
{
	return (struct rte_ring *)(shm->links + shm->link_stride * dwcp_abi_link_id(src, dst));
}

#endif
