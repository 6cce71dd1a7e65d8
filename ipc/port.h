/* The DPDK port a node owns ([net] transport = dpdk), as the processes
 * that use it see it: names to look up and the page of its state.
 *
 * The supervisor (the EAL primary) probes, configures and starts the port
 * and runs its bursts on a thread of its own (docs/dpdk-port.md: a
 * secondary cannot burst on af_packet or af_xdp, and cannot re-take a port
 * after a kill -9). Consumers exchange frames with it over two rings of
 * struct rte_mbuf pointers:
 *   DWCP_PORT_RX  port thread -> the consumer (single producer, single consumer)
 *   DWCP_PORT_TX  consumers -> port thread (multi producer, single consumer)
 * A consumer takes mbufs for TX from DWCP_PORT_POOL and frees the RX mbufs
 * it has read (every dwcp binary links the same mempool driver: the ops
 * table is checked at attach).
 *
 * The RX ring has one consumer at a time (svc-net): a second would take
 * frames meant for the first. A consumer claims the port before it touches
 * either ring and releases it when it stops; a claim held by a live
 * process is refused, one held by a dead process is taken over. So an
 * upgrade or a hot standby of svc-net works only because its successor
 * initializes (and claims) after the old process has gone, and anything
 * else that opens the port while svc-net runs is told so.
 *
 * A consumer killed with mbufs in hand leaks them: a plain mbuf pool has no
 * owner record (measured, docs/dpdk-port.md item 2). The pool is sized so
 * that this takes many crashes to matter; `dwcpctl status` shows how many
 * are in use.
 *
 * Wake-ups: the port thread sleeps on tx_doorbell when idle (bounded by
 * its RX poll interval); a producer to DWCP_PORT_TX adds to it and
 * futex-wakes. The port thread adds to rx_doorbell after it enqueued
 * received frames; a consumer may sleep on it. Each sleeper says so
 * (tx_waiting, rx_waiting) before its last look, and a ringer makes the
 * wake syscall only when the flag is up: at ~100k frames a second that
 * syscall per burst was a tenth of the node's CPU.
 */
#ifndef DWCP_IPC_PORT_H
#define DWCP_IPC_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define DWCP_PORT_MZ    "dwcp_port"        /* struct dwcp_port_shm */
#define DWCP_PORT_RX    "dwcp_port_rx"
#define DWCP_PORT_TX    "dwcp_port_tx"
#define DWCP_PORT_POOL  "dwcp_port_pool"
#define DWCP_PORT_EXT   "dwcp_port_ext"      /* zero-copy TX: a shared-info record per pool buffer */
#define DWCP_PORT_EXTPOOL "dwcp_port_extpool"  /* mbufs without data room, to attach them */

struct dwcp_port_shm {
	uint32_t magic;                /* DWCP_PORT_MAGIC once the port runs */
	uint16_t port_id;
	uint16_t mtu;
	uint8_t  mac[6];
	uint16_t pad0;
	uint32_t link_up;
	uint32_t tx_doorbell;          /* futex word: producers add, the port thread waits */
	uint32_t rx_doorbell;          /* futex word: the port thread adds, the consumer waits */
	uint32_t consumer;             /* pid of the RX ring's one consumer, 0: none (dwcp_port_claim) */
	/* A consumer killed inside a ring operation leaves a reservation no
	 * one commits (a DPDK ring is not crash-safe): the supervisor asks
	 * (reset_req, at the death of svc-net), the port thread drains and
	 * resets both rings (reset_done = reset_req), and the next consumer
	 * waits for that before it touches them. */
	uint32_t reset_req;            /* writer: supervisor */
	uint32_t reset_done;           /* writer: port thread */
	char     driver[32];
	/* writer: the port thread */
	uint64_t rx_frames, tx_frames;
	uint64_t rx_ring_full;         /* received, dropped: the consumer's ring was full */
	uint64_t tx_refused;           /* given to tx_burst and not taken: freed */
	uint64_t sleeps;               /* timed waits of an idle port thread */
	/* writer: the consumer, svc-net's datagram transport (svc-net/dport.c) */
	uint64_t dg_frags_tx, dg_frags_rx;   /* DATA fragments sent (resends included), received */
	uint64_t dg_frags_resent;      /* fragments sent again: asked for by a NACK, or a probe */
	uint64_t dg_nacks_tx, dg_nacks_rx;
	uint64_t dg_bad_rx;            /* DWCP datagrams refused (header, state, no room) */
	uint64_t dg_tx_ring_full;      /* fragments not handed over: the TX ring was full */
	uint64_t dg_fault_drops;       /* dropped on purpose: [net] fault_drop_ppm */
	uint64_t dg_probes;            /* fragments resent because no answer came in time */
	uint64_t dg_rx_nobuf;          /* chunk fragments dropped: no pool buffer, or outputs held back */
	/* Who sleeps on a doorbell: a ringer makes the futex syscall only then. */
	uint32_t tx_waiting;           /* writer: the port thread, around its wait on tx_doorbell */
	uint32_t rx_waiting;           /* writer: the consumer, around its wait on rx_doorbell */
	uint64_t dg_frags_zc;          /* writer: the consumer: DATA fragments sent attached, not copied */
	uint64_t neigh_requests_tx;    /* writer: the consumer: ARP requests and IPv6 solicitations it sent for peers' MACs */
};

#define DWCP_PORT_MAGIC 0x54524f50u   /* "PORT" */

struct rte_ring;
struct rte_mempool;
struct rte_mbuf;
struct dwcp_shm;
struct dwcp_port_ext_shm;

/* A consumer's view of the port, after dwcp_port_lookup. */
struct dwcp_port {
	struct rte_ring *rx, *tx;
	struct rte_mempool *pool;
	struct dwcp_port_shm *shm;
	/* Zero-copy TX, where the supervisor offers it (dwcp_port_ext_*): NULL otherwise */
	struct dwcp_port_ext_shm *ext;
	struct rte_mempool *extpool;
};

/**
 * Find the port of the node this process is attached to.
 * @return 0, or -ENODEV when the node owns none ([net] transport is not dpdk).
 */
int dwcp_port_lookup(struct dwcp_port *p, struct dwcp_err *err);

/**
 * Become the port's one consumer: wait (at most 1 s) for the port thread
 * to finish a ring reset the supervisor asked for after a consumer's
 * death, then take the claim.
 * @return 0, or -EBUSY (a live process consumes the port; @p err names it).
 */
int dwcp_port_claim(struct dwcp_port *p, struct dwcp_err *err);

/** Give the claim up (a consumer that stops cleanly). */
void dwcp_port_release(struct dwcp_port *p);

/** Tell the port thread that the TX ring has frames (it may sleep). */
void dwcp_port_kick(struct dwcp_port *p);

/**
 * Wait until the port thread signals received frames after @p seq (a
 * value of shm->rx_doorbell read before the ring was found empty), at
 * most @p timeout_ns.
 */
void dwcp_port_wait_rx(struct dwcp_port *p, uint32_t seq, uint64_t timeout_ns);

/*
 * Zero-copy TX: a chunk fragment leaves as a chain of two mbufs, the
 * headers copied into one from DWCP_PORT_POOL and the payload attached to
 * the other as an external buffer (rte_pktmbuf_attach_extbuf) that points
 * into the chunk's pool buffer. Nothing copies payload in the node; the
 * PMD copies it into its ring (af_packet) or the NIC reads it by DMA.
 *
 * Ownership: each pool buffer has one rte_mbuf_ext_shared_info in the
 * DWCP_PORT_EXT memzone. Its count is 1 at rest (the buffer's owner's
 * reference) plus one per attached mbuf not yet freed. The owner never
 * gives its reference up, so the count never reaches 0 and DPDK never
 * calls the record's free callback (a function pointer, which would be
 * meaningless in another process); instead, whoever holds the buffer
 * hands it on only when dwcp_port_ext_busy says no mbuf refers to it any
 * more. A consumer killed with attached mbufs in hand leaves counts that
 * nothing will lower: the port thread's reset after its death (reset_req)
 * puts every count back to 1, once the TX ring is drained and the PMD has
 * given back every mbuf it held (freed at tx_burst, or tx_done_cleanup),
 * before the next consumer may claim the port.
 *
 * The supervisor offers zero-copy TX only for a driver that takes chained
 * mbufs and gives them back (so that a buffer is not held forever) and,
 * for a NIC that reads them by DMA, only when every pool buffer is
 * IOVA-contiguous (IOVA as VA, or buffers that do not straddle hugepages).
 */

/**
 * Supervisor: create the records and the attach pool for @p shm's pool
 * buffers. @p by_cpu: the driver reads frames with the CPU (af_packet
 * copies them into its kernel ring), so IO addresses do not matter; else
 * every buffer must be IOVA-contiguous. @p free_cb is called only if a
 * count ever reaches 0 (a bug: it should log it); it runs in the process
 * that freed the mbuf.
 * @return 0, or negative errno with @p err saying why zero-copy TX is off.
 */
int dwcp_port_ext_create(const struct dwcp_shm *shm, bool by_cpu, void (*free_cb)(void *addr, void *opaque),
			 struct dwcp_err *err);

/** Port thread, in its reset after a consumer's death: every count back to 1. */
void dwcp_port_ext_reset(struct dwcp_port_ext_shm *ext);

/** The records of the node's port, or NULL (an older supervisor, or not offered). */
struct dwcp_port_ext_shm *dwcp_port_ext_lookup(void);

/**
 * Consumer: an mbuf holding @p len bytes at @p off of pool buffer @p idx
 * (at @p data in this process), its count raised. Chain it after a
 * header mbuf; freeing it (here or in the port thread) lowers the count.
 * @return the mbuf, or NULL (no mbuf free in the attach pool).
 */
struct rte_mbuf *dwcp_port_ext_attach(struct dwcp_port *p, uint32_t idx, void *data, uint32_t off,
				      uint16_t len);

/** Whether an mbuf attached to pool buffer @p idx is still out. */
bool dwcp_port_ext_busy(const struct dwcp_port *p, uint32_t idx);

/** How many pool buffers have an attached mbuf out (for status). */
unsigned dwcp_port_ext_held(const struct dwcp_port_ext_shm *ext);

#endif
