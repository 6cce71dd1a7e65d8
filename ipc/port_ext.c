/* Zero-copy TX on the node's DPDK port: pool buffers attached to mbufs as
 * external buffers (ipc/port.h says how their ownership works). */
#include <errno.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_memzone.h>

#include "ipc/port.h"
#include "ipc/shm.h"

#define EXT_MAGIC     0x54584550u   /* "PEXT" */
#define EXT_MBUFS     8191u         /* as many as the port's own pool: a TX ring's worth and more */
#define EXT_CACHE     256u

struct ext_ent {
	struct rte_mbuf_ext_shared_info si;
	rte_iova_t iova;               /* of the buffer's first byte; the buffer is IOVA-contiguous */
};

struct dwcp_port_ext_shm {
	uint32_t magic;
	uint32_t n_bufs;
	struct ext_ent e[];
};

int dwcp_port_ext_create(const struct dwcp_shm *shm, bool by_cpu, void (*free_cb)(void *addr, void *opaque),
			 struct dwcp_err *err)
{
	const struct rte_memzone *mz;
	struct dwcp_port_ext_shm *x;
	struct rte_mempool *pool;

	mz = rte_memzone_reserve(DWCP_PORT_EXT, sizeof(*x) + (size_t)shm->n_bufs * sizeof(x->e[0]),
				 SOCKET_ID_ANY, 0);
	if (!mz)
		return dwcp_err_set(err, -ENOMEM, "no hugepage memory for its %u records (%s)", shm->n_bufs,
				    rte_strerror(rte_errno));
	x = mz->addr;
	memset(x, 0, sizeof(*x));
	x->n_bufs = shm->n_bufs;
	for (uint32_t i = 0; i < shm->n_bufs; i++) {
		const uint8_t *b = dwcp_shm_data(shm, i);
		rte_iova_t first = (rte_iova_t)(uintptr_t)b, last = first + shm->buf_size - 1;

		if (!by_cpu) {
			first = rte_mem_virt2iova(b);
			last = rte_mem_virt2iova(b + shm->buf_size - 1);
		}
		/* A buffer that straddles two physically apart hugepages cannot
		 * be handed to a NIC as one address (IOVA as PA without an IOMMU). */
		if (first == RTE_BAD_IOVA || last != first + shm->buf_size - 1) {
			rte_memzone_free(mz);
			return dwcp_err_set(err, -EFAULT, "pool buffer %u is not contiguous in IO addresses", i);
		}
		x->e[i].iova = first;
		x->e[i].si.free_cb = free_cb;
		x->e[i].si.fcb_opaque = NULL;
		rte_mbuf_ext_refcnt_set(&x->e[i].si, 1);
	}
	pool = rte_pktmbuf_pool_create(DWCP_PORT_EXTPOOL, EXT_MBUFS, EXT_CACHE, 0, 0, (int)SOCKET_ID_ANY);
	if (!pool) {
		rte_memzone_free(mz);
		return dwcp_err_set(err, -ENOMEM, "no hugepage memory for %u attach mbufs (%s)", EXT_MBUFS,
				    rte_strerror(rte_errno));
	}
	__atomic_store_n(&x->magic, EXT_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void dwcp_port_ext_reset(struct dwcp_port_ext_shm *ext, const struct dwcp_shm *shm, unsigned slot)
{
	if (!ext)
		return;
	for (uint32_t i = 0; i < ext->n_bufs; i++) {
		uint16_t cnt = __atomic_load_n(&ext->e[i].si.refcnt, __ATOMIC_ACQUIRE);
		uint64_t w = __atomic_load_n(&dwcp_shm_hdr(shm, i)->owner, __ATOMIC_ACQUIRE);
		enum dwcp_owner_kind kind = dwcp_owner_kind(w);

		/* Count read before owner: another consumer that took a free
		 * buffer since and attached it changed the count, and the CAS
		 * leaves its reference alone. */
		if (cnt > 1 && (kind == DWCP_OWNER_FREE ||
				((kind == DWCP_OWNER_HELD || kind == DWCP_OWNER_WORK) && dwcp_owner_id(w) == slot)))
			__atomic_compare_exchange_n(&ext->e[i].si.refcnt, &cnt, 1, false, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
	}
}

struct dwcp_port_ext_shm *dwcp_port_ext_lookup(void)
{
	const struct rte_memzone *mz = rte_memzone_lookup(DWCP_PORT_EXT);
	struct dwcp_port_ext_shm *x = mz ? mz->addr : NULL;

	return x && __atomic_load_n(&x->magic, __ATOMIC_ACQUIRE) == EXT_MAGIC ? x : NULL;
}

struct rte_mbuf *dwcp_port_ext_attach(struct dwcp_port *p, uint32_t idx, void *data, uint32_t off,
				      uint16_t len)
{
	struct ext_ent *e = &p->ext->e[idx];
	struct rte_mbuf *m = rte_pktmbuf_alloc(p->extpool);

	if (!m)
		return NULL;
	/* Counted before the mbuf can reach anyone who frees it. */
	rte_mbuf_ext_refcnt_update(&e->si, 1);
	rte_pktmbuf_attach_extbuf(m, (uint8_t *)data + off, e->iova + off, len, &e->si);
	m->data_len = len;
	m->pkt_len = len;
	return m;
}

unsigned dwcp_port_ext_held(const struct dwcp_port_ext_shm *ext)
{
	unsigned n = 0;

	for (uint32_t i = 0; ext && i < ext->n_bufs; i++)
		n += rte_mbuf_ext_refcnt_read(&ext->e[i].si) > 1;
	return n;
}

bool dwcp_port_ext_busy(const struct dwcp_port *p, uint32_t idx)
{
	return p->ext && rte_mbuf_ext_refcnt_read(&p->ext->e[idx].si) > 1;
}
