/* The DPDK port a node owns ([net] transport = dpdk), as the processes
 * that use it see it: names to look up and the page of its state.
 *
 * The supervisor (the EAL primary) probes, configures and starts the port
 * and runs its bursts, one thread per queue pair (docs/dpdk-port.md: a
 * secondary cannot burst on af_packet or af_xdp, and cannot re-take a port
 * after a kill -9). Consumers — svc-net's workers, consumer k being worker
 * k — exchange frames with the threads over rings of struct rte_mbuf
 * pointers, every one with a single producer and a single consumer:
 *   RX ring (q, k)  queue q's thread -> consumer k (dwcp_port_steer says which k)
 *   TX ring k       consumer k -> the thread of queue k % n_queues
 * so that a consumer's death disturbs no other consumer's rings (the reset
 * below touches only its own). A consumer takes mbufs for TX from
 * DWCP_PORT_POOL and frees the RX mbufs it has read (every dwcp binary
 * links the same mempool driver: the ops table is checked at attach).
 *
 * Consumer k's rings have one consumer at a time: a second would take
 * frames meant for the first. A consumer claims its place before it
 * touches its rings and releases it when it stops; a claim held by a live
 * process is refused, one held by a dead process is taken over. So an
 * upgrade or a hot standby of a svc-net worker works only because its
 * successor initializes (and claims) after the old process has gone, and
 * anything else that opens the port while svc-net runs is told so.
 *
 * A consumer killed with mbufs in hand leaks them: a plain mbuf pool has no
 * owner record (measured, docs/dpdk-port.md item 2). The pool is sized so
 * that this takes many crashes to matter; `dwcpctl status` shows how many
 * are in use.
 *
 * Wake-ups: a queue's thread sleeps on its queue's tx_doorbell when idle
 * (bounded by its RX poll interval); a consumer that filled its TX ring
 * adds to it and futex-wakes. A port thread adds to consumer k's
 * rx_doorbell after it enqueued frames for k; the consumer may sleep on it. Each sleeper says so
 * (tx_waiting, rx_waiting) before its last look, and a ringer makes the
 * wake syscall only when the flag is up: at ~100k frames a second that
 * syscall per burst was a tenth of the node's CPU.
 */
#ifndef DWCP_IPC_PORT_H
#define DWCP_IPC_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DWCP_PORT_MZ    "dwcp_port"        /* struct dwcp_port_shm */
#define DWCP_PORT_RX_FMT "dwcp_port_rx%u_%u"  /* queue q's thread -> consumer k (SP/SC) */
#define DWCP_PORT_TX_FMT "dwcp_port_tx%u"     /* consumer k -> its queue's thread (SP/SC) */
#define DWCP_PORT_POOL  "dwcp_port_pool"
#define DWCP_PORT_EXT   "dwcp_port_ext"      /* zero-copy TX: a shared-info record per pool buffer */
#define DWCP_PORT_EXTPOOL "dwcp_port_extpool"  /* mbufs without data room, to attach them */

#define DWCP_PORT_MAX_QUEUES    8u
#define DWCP_PORT_MAX_CONSUMERS 8u    /* svc-net workers: DWCP_CFG_MAX_NET_WORKERS */
#define DWCP_PORT_STEER_ALL     (-1)  /* dwcp_port_steer: a copy to every consumer */

/* One queue pair of the port and the supervisor thread that bursts it. */
struct dwcp_port_queue {
	uint32_t tx_doorbell;          /* futex word: its consumers add, the thread waits */
	uint32_t tx_waiting;           /* writer: the thread, around its wait on tx_doorbell */
	uint64_t rx_frames, tx_frames; /* writer: the thread */
	uint64_t tx_refused;           /* given to tx_burst and not taken: freed */
	uint64_t sleeps;               /* timed waits of the idle thread */
} __attribute__((aligned(64)));

/* One consumer (svc-net worker k is consumer k). Its frames come from
 * every queue's thread, each over a ring of its own (RX ring (q, k)), and
 * leave over its TX ring, which the thread of queue k % n_queues takes. */
struct dwcp_port_consumer {
	uint32_t pid;                  /* its claim, 0: none (dwcp_port_claim) */
	uint32_t slot;                 /* the claimer's slot: its pool buffers (zero-copy reset) */
	/* A consumer killed inside a ring operation leaves a reservation no
	 * one commits (a DPDK ring is not crash-safe): the supervisor asks
	 * (reset_req, at its death), each queue's thread drains and resets
	 * that consumer's rings (reset_done[q] = reset_req), and the next
	 * consumer k waits for all of them before it touches its rings. */
	uint32_t reset_req;            /* writer: supervisor */
	uint32_t reset_done[DWCP_PORT_MAX_QUEUES];  /* writer: queue q's thread */
	uint32_t rx_doorbell;          /* futex word: port threads add, the consumer waits */
	uint32_t rx_waiting;           /* writer: the consumer, around its wait on rx_doorbell */
	uint64_t rx_frames;            /* steered to it (port threads, atomic adds) */
	uint64_t rx_ring_full;         /* ... and dropped: its ring was full */
	uint64_t tx_frames;            /* taken from its TX ring (its queue's thread) */
} __attribute__((aligned(64)));

struct dwcp_port_shm {
	uint32_t magic;                /* DWCP_PORT_MAGIC once the port runs */
	uint16_t port_id;
	uint16_t mtu;
	uint8_t  mac[6];
	uint16_t n_queues;             /* queue pairs, each with its thread */
	uint16_t n_consumers;          /* consumers the port steers to: [net] workers */
	uint16_t steer_port;           /* UDP port (host order) spread by flow: [net] listen's */
	uint32_t link_up;
	char     driver[32];
	/* writer: the consumers (atomic adds), svc-net's datagram transport (svc-net/dport.c) */
	uint64_t dg_frags_tx, dg_frags_rx;   /* DATA fragments sent (resends included), received */
	uint64_t dg_frags_resent;      /* fragments sent again: asked for by a NACK, or a probe */
	uint64_t dg_nacks_tx, dg_nacks_rx;
	uint64_t dg_bad_rx;            /* DWCP datagrams refused (header, state, no room) */
	uint64_t dg_tx_ring_full;      /* fragments not handed over: the TX ring was full */
	uint64_t dg_fault_drops;       /* dropped on purpose: [net] fault_drop_ppm */
	uint64_t dg_probes;            /* fragments resent because no answer came in time */
	uint64_t dg_rx_nobuf;          /* chunk fragments dropped: no pool buffer, or outputs held back */
	uint64_t dg_frags_zc;          /* DATA fragments sent attached, not copied */
	uint64_t neigh_requests_tx;    /* ARP requests and IPv6 solicitations sent for peers' MACs */
	struct dwcp_port_queue q[DWCP_PORT_MAX_QUEUES];
	struct dwcp_port_consumer c[DWCP_PORT_MAX_CONSUMERS];
};

#define DWCP_PORT_MAGIC 0x32545250u   /* "PRT2": per-consumer rings (ABI 11) */

struct rte_ring;
struct rte_mempool;
struct rte_mbuf;
struct dwcp_shm;
struct dwcp_port_ext_shm;

/* A consumer's view of the port, after dwcp_port_lookup. */
struct dwcp_port {
	unsigned consumer;             /* k */
	unsigned n_rx;                 /* the port's queues: one RX ring from each */
	unsigned next_rx;              /* the ring dwcp_port_rx_burst starts with */
	struct rte_ring *rx[DWCP_PORT_MAX_QUEUES];
	struct rte_ring *tx;
	struct rte_mempool *pool;
	struct dwcp_port_shm *shm;
	struct dwcp_port_consumer *c;  /* &shm->c[k] */
	struct dwcp_port_queue *q;     /* the queue its TX goes out on */
	/* Zero-copy TX, where the supervisor offers it (dwcp_port_ext_*): NULL otherwise */
	struct dwcp_port_ext_shm *ext;
	struct rte_mempool *extpool;
};

/**
 * Find the port of the node this process is attached to, as consumer
 * @p consumer (svc-net worker k is consumer k; tools use 0).
 * @return 0, -ENODEV when the node owns none ([net] transport is not
 * dpdk), or -ERANGE when the port has fewer consumers.
 */
int dwcp_port_lookup(struct dwcp_port *p, unsigned consumer, struct dwcp_err *err);

/**
 * Become the port's consumer k: wait (at most 1 s) for the port threads
 * to finish a ring reset the supervisor asked for after the last consumer
 * k's death, then take the claim. @p slot: the caller's slot (its pool
 * buffers are the ones a reset after its death looks at).
 * @return 0, or -EBUSY (a live process is consumer k; @p err names it).
 */
int dwcp_port_claim(struct dwcp_port *p, unsigned slot, struct dwcp_err *err);

/** Give the claim up (a consumer that stops cleanly). */
void dwcp_port_release(struct dwcp_port *p);

/** Up to @p n received frames, from each queue's ring in turn. */
unsigned dwcp_port_rx_burst(struct dwcp_port *p, struct rte_mbuf **b, unsigned n);

/** Whether any received frame waits for this consumer. */
bool dwcp_port_rx_ready(const struct dwcp_port *p);

/** Tell the consumer's queue thread that its TX ring has frames (it may sleep). */
void dwcp_port_kick(struct dwcp_port *p);

/**
 * Wait until a port thread signals received frames after @p seq (a value
 * of the consumer's rx_doorbell read before its rings were found empty),
 * at most @p timeout_ns.
 */
void dwcp_port_wait_rx(struct dwcp_port *p, uint32_t seq, uint64_t timeout_ns);

/**
 * The consumer a received frame goes to, of @p n: every frame of a DWCP
 * datagram connection must reach the one svc-net worker that holds it.
 * Worker k opens its connections from UDP port @p steer_port + 1 + k
 * (when @p n > 1), so answers to them (destination port steer_port + 1 +
 * k) go to k; a datagram to @p steer_port itself (a peer's connection to
 * us) goes to (its source address folded + its source port) mod n, the
 * same worker for the life of the flow, and consecutive source ports (a
 * peer's workers) to consecutive workers. ARP and ICMPv6 (neighbour
 * discovery) go to every consumer; anything else to consumer 0, which
 * counts it. Pure: reads at most the frame's headers.
 * @return 0..n-1, or DWCP_PORT_STEER_ALL.
 */
int dwcp_port_steer(const uint8_t *frame, size_t len, uint16_t steer_port, unsigned n);

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
 * nothing will lower: the reset after its death (reset_req), by the
 * thread of the queue its TX went out on, puts the counts of its buffers
 * back to 1 (dwcp_port_ext_reset), once its TX ring is drained and the
 * PMD has given back every mbuf it held (freed at tx_burst, or
 * tx_done_cleanup), before its successor may claim its place.
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

/**
 * Port thread, in its reset after consumer k's death: the count of every
 * buffer that consumer could have attached back to 1 — those its slot
 * @p slot holds (the supervisor re-delivers a dead service's buffers to
 * the same slot) and free ones (a dead tool's, reclaimed). No other
 * consumer attaches a buffer it does not hold.
 */
void dwcp_port_ext_reset(struct dwcp_port_ext_shm *ext, const struct dwcp_shm *shm, unsigned slot);

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
