/* The dwcp shared-memory ABI: its version, its limits, the identity of
 * each slot, and the rendezvous names a process looks up to find it.
 *
 * Everything another process reads lives in ONE DPDK memzone
 * (DWCP_MZ_SHM) created by the supervisor; its parts are found by the
 * offsets the control block publishes (ipc/ctl_block.h), never by raw
 * pointers, so a process that maps it elsewhere (a future non-DPDK client)
 * can still read it.
 *
 * A binary built against another DWCP_ABI_VERSION refuses to attach: bump
 * the version whenever any shared struct or the meaning of a field changes.
 */
#ifndef DWCP_IPC_ABI_H
#define DWCP_IPC_ABI_H

#include <stdint.h>

#define DWCP_ABI_MAGIC   0x50435744u          /* "DWCP" little-endian */
#ifdef DWCP_ABI_VERSION_OVERRIDE              /* tests build a mismatching binary */
#define DWCP_ABI_VERSION ((uint32_t)DWCP_ABI_VERSION_OVERRIDE)
#else
#define DWCP_ABI_VERSION 11u  /* 4: the slot's drain flag; 5: finished transfers in the node part;
                               * 6: [crypto] insecure, [net] handshake limits in the node part;
                               * 7: worker slots and the route table (48 slots);
                               * 8: the peer table in the node part;
                               * 9: RDMA: the peer's session and transport, the RDMA ops
                               *    and the saved program in the buffer header;
                               * 10: the op table, which services publish (ipc/route.h);
                               * 11: the DPDK port's queues and consumers (ipc/port.h) */
#endif

/* Rendezvous: the memzone every process looks up after rte_eal_init. */
#define DWCP_MZ_SHM      "dwcp_shm"

/* Slots: 0 is the supervisor, 1..6 the services (each one's first
 * worker), 7..15 clients (`dwcp send`, benchmarks, agents using the client
 * API), 16..47 the further workers of services that run more than one
 * ([simd] workers). A program step names a service by its first slot; the
 * route table (ipc/route.h) says which slots serve it. */
#define DWCP_MAX_SLOTS    48u
#define DWCP_SLOT_SUP     0u
#define DWCP_SLOT_NET     1u
#define DWCP_SLOT_RDMA    2u
#define DWCP_SLOT_GPU     3u
#define DWCP_SLOT_SIMD    4u
#define DWCP_SLOT_MEM     5u
#define DWCP_SLOT_PROF    6u
#define DWCP_N_SERVICES   6u
#define DWCP_SLOT_CLIENT0 7u
#define DWCP_SLOT_WORKER0 16u
#define DWCP_MAX_WORKERS  (1u + DWCP_MAX_SLOTS - DWCP_SLOT_WORKER0)   /* per service */
#define DWCP_SLOT_NONE    0xffu

/* Places in the control block's op table (ipc/route.h): ops are < 32. */
#define DWCP_OP_TABLE     32u

/* One link per directed slot pair (src != dst). */
#define DWCP_MAX_LINKS    (DWCP_MAX_SLOTS * DWCP_MAX_SLOTS)

/* DPDK lcore ids: the supervisor runs on lcore 0; slot s generation g runs
 * on 1 + 2*s + (g & 1), so two generations of one slot alive at once (an
 * upgrade) never share an lcore id, and no two slots ever do. */
#define DWCP_LCORE_SUP    0u
static inline unsigned dwcp_abi_lcore(unsigned slot, uint32_t generation)
{
	return 1u + 2u * slot + (generation & 1u);
}

/** Link id of the directed pair src -> dst. */
static inline unsigned dwcp_abi_link_id(unsigned src, unsigned dst)
{
	return src * DWCP_MAX_SLOTS + dst;
}
static inline unsigned dwcp_abi_link_src(unsigned link) { return link / DWCP_MAX_SLOTS; }
static inline unsigned dwcp_abi_link_dst(unsigned link) { return link % DWCP_MAX_SLOTS; }

/** Slot @p slot is one of the further workers (not a service's first). */
static inline int dwcp_abi_is_worker_slot(unsigned slot)
{
	return slot >= DWCP_SLOT_WORKER0 && slot < DWCP_MAX_SLOTS;
}

/** Service name of a slot ("svc-simd"), "supervisor", "client", "worker" or NULL. */
const char *dwcp_abi_slot_name(unsigned slot);
/** Slot of a service name; -EINVAL if @p name is not one of the six. */
int dwcp_abi_service_slot(const char *name);

#endif
