/* Layout of the dwcp region. Parts are placed in the order a cold reader
 * needs them (control block, stats, links, headers, free map, payload),
 * each aligned to 4 KiB so that payload buffers start page-aligned for
 * DMA and O_DIRECT (and stay so: the config only accepts buf_size in
 * multiples of 4096). All offsets are written into the control block, which
 * is the only thing a reader must trust the layout of.
 */
#include <errno.h>
#include <string.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "common/timeutil.h"
#include "ipc/shm.h"
#include "ipc/streams.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define PART_ALIGN 4096u

struct layout {
	uint64_t off_stats, off_node, off_links, link_stride, off_hdrs, off_free_map, off_data, off_dcache, total;
};

static int compute_layout(const struct dwcp_shm_params *p, struct layout *l)
{
	ssize_t ring_size;

	if (p->n_bufs == 0 || p->buf_size == 0 || p->buf_size % 64 ||
	    p->link_depth < 2 || (p->link_depth & (p->link_depth - 1)))
		return -EINVAL;
	ring_size = rte_ring_get_memsize_elem(sizeof(uint32_t), p->link_depth);
	if (ring_size < 0)
		return -EINVAL;
	l->off_stats = ALIGN_UP(sizeof(struct dwcp_ctl_block), PART_ALIGN);
	l->off_node = ALIGN_UP(l->off_stats + sizeof(struct dwcp_stats) * DWCP_MAX_SLOTS, PART_ALIGN);
	l->off_links = ALIGN_UP(l->off_node + sizeof(struct dwcp_node_part), PART_ALIGN);
	l->link_stride = ALIGN_UP((uint64_t)ring_size, 64);
	l->off_hdrs = ALIGN_UP(l->off_links + l->link_stride * DWCP_MAX_LINKS, PART_ALIGN);
	l->off_free_map = ALIGN_UP(l->off_hdrs + sizeof(struct dwcp_buf_hdr) * (uint64_t)p->n_bufs,
				   PART_ALIGN);
	l->off_data = ALIGN_UP(l->off_free_map + 8ull * (((uint64_t)p->n_bufs + 63) / 64), PART_ALIGN);
	if (p->n_bufs > (1u << 30) || p->dcache_size > (1ull << 40) ||
	    __builtin_add_overflow(l->off_data, (uint64_t)p->n_bufs * p->buf_size, &l->off_dcache) ||
	    __builtin_add_overflow(l->off_dcache, p->dcache_size, &l->total) ||
	    l->total > SIZE_MAX)
		return -EINVAL;
	return 0;
}

size_t dwcp_shm_size(const struct dwcp_shm_params *p)
{
	struct layout l;

	return compute_layout(p, &l) ? 0 : (size_t)l.total;
}

static void fill_view(void *base, struct dwcp_shm *v)
{
	struct dwcp_ctl_block *c = base;
	uint8_t *b = base;

	v->ctl = c;
	v->stats = (struct dwcp_stats *)(b + c->off_stats);
	v->links = b + c->off_links;
	v->link_stride = c->link_stride;
	v->hdrs = (struct dwcp_buf_hdr *)(b + c->off_hdrs);
	v->free_map = (uint64_t *)(b + c->off_free_map);
	v->data = b + c->off_data;
	v->n_bufs = c->n_bufs;
	v->buf_size = c->buf_size;
	v->link_depth = c->link_depth;
	v->dcache_size = c->dcache_size;
	v->dcache = c->dcache_size ? b + c->off_dcache : NULL;
	v->node = (struct dwcp_node_part *)(b + c->off_node);
}

static int init_links(struct dwcp_shm *v, struct dwcp_err *err)
{
	for (unsigned src = 0; src < DWCP_MAX_SLOTS; src++) {
		for (unsigned dst = 0; dst < DWCP_MAX_SLOTS; dst++) {
			char name[RTE_RING_NAMESIZE];
			int rc;

			snprintf(name, sizeof(name), "dwcp_l%02u_%02u", src, dst);
			rc = rte_ring_init(dwcp_shm_link(v, src, dst), name, v->link_depth,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (rc < 0)
				return dwcp_err_set(err, rc, "cannot initialise link %s: %s",
						    name, strerror(-rc));
		}
	}
	return 0;
}

int dwcp_shm_format(void *base, size_t size, const struct dwcp_shm_params *p,
		    struct dwcp_shm *view, struct dwcp_err *err)
{
	struct dwcp_ctl_block *c = base;
	struct layout l;

	if (compute_layout(p, &l) || size < l.total)
		return dwcp_err_set(err, -EINVAL,
				    "bad region parameters: %u buffers of %u bytes, link depth %u, %zu bytes",
				    p->n_bufs, p->buf_size, p->link_depth, size);
	memset(base, 0, l.off_data);  /* payload and cache are left as the kernel zeroed them */
	c->n_bufs = p->n_bufs;
	c->buf_size = p->buf_size;
	c->link_depth = p->link_depth;
	c->heartbeat_ms = p->heartbeat_ms;
	c->spin_us = p->spin_us;
	c->poll_mode = p->poll_mode;
	c->total_size = l.total;
	c->off_stats = l.off_stats;
	c->off_node = l.off_node;
	c->off_links = l.off_links;
	c->link_stride = l.link_stride;
	c->off_hdrs = l.off_hdrs;
	c->off_free_map = l.off_free_map;
	c->off_data = l.off_data;
	c->off_dcache = l.off_dcache;
	c->dcache_size = p->dcache_size;
	c->sup_start_ns = dwcp_now_ns();
	snprintf(c->instance, sizeof(c->instance), "%s", p->instance ? p->instance : "");
	fill_view(base, view);
	for (unsigned s = 0; s < DWCP_MAX_SLOTS; s++)
		dwcp_hist_reset(&view->stats[s].step_ns);
	for (uint32_t i = 0; i < p->n_bufs; i++)
		view->free_map[i / 64] |= 1ull << (i % 64);
	if (init_links(view, err))
		return err ? err->code : -EINVAL;
	c->abi_version = DWCP_ABI_VERSION;
	/* Magic last: a reader that sees it sees a fully formatted region. */
	__atomic_store_n(&c->magic, DWCP_ABI_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

int dwcp_shm_map(void *base, size_t size, struct dwcp_shm *view, struct dwcp_err *err)
{
	const struct dwcp_ctl_block *c = base;
	struct dwcp_shm_params p;
	struct layout l;

	if (size < sizeof(*c) || __atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) != DWCP_ABI_MAGIC)
		return dwcp_err_set(err, -EPROTO,
				    "the shared region is not a dwcp region (bad magic): is another program using this DPDK file-prefix?");
	if (c->abi_version != DWCP_ABI_VERSION)
		return dwcp_err_set(err, -EPROTO,
				    "ABI mismatch: this binary speaks dwcp ABI %u, the running supervisor of instance '%s' speaks ABI %u: install binaries from the same build as the supervisor (make) or restart the node with this build",
				    DWCP_ABI_VERSION, c->instance, c->abi_version);
	p = (struct dwcp_shm_params){ .n_bufs = c->n_bufs, .buf_size = c->buf_size,
				      .link_depth = c->link_depth, .dcache_size = c->dcache_size };
	if (compute_layout(&p, &l) || l.total != c->total_size || c->total_size > size ||
	    l.off_data != c->off_data || l.off_hdrs != c->off_hdrs || l.off_links != c->off_links)
		return dwcp_err_set(err, -EINVAL,
				    "the dwcp region's layout does not match its parameters (%u buffers of %u bytes): the region is corrupt; restart the node",
				    c->n_bufs, c->buf_size);
	fill_view(base, view);
	return 0;
}
