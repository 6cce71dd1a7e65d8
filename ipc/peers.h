/* The peer table: what svc-net did with each peer, for operators
 * (`dwcpctl status`, `dwcpctl top`, svc-prof's /metrics).
 *
 * One entry per peer svc-net talked to: an outgoing peer by the HOST:PORT
 * a `dwcp send` named, an incoming one by the instance name its HELLO gave
 * and the host it connects from (not the port: every connection has its
 * own). Entries are made only for peers past the handshake, so nobody who
 * lacks the key can fill the table or choose its labels.
 *
 * Writer: svc-net (atomic adds, so the two generations of an upgrade may
 * both count). Readers copy an entry and keep the copy only if its key and
 * ready flag did not change meanwhile. The counters survive a restart of
 * svc-net (the next generation finds its peers' entries again); a full
 * table reuses the entry idle the longest (one with no connection).
 */
#ifndef DWCP_IPC_PEERS_H
#define DWCP_IPC_PEERS_H

#include <stdint.h>

#include "common/netaddr.h"
#include "ipc/shm.h"

#define DWCP_MAX_PEERS      64
#define DWCP_PEER_NAME_MAX  32   /* an instance name, NUL included */

enum dwcp_peer_dir { DWCP_PEER_OUT = 1, DWCP_PEER_IN = 2 };

struct dwcp_peer_ent {
	uint64_t key;                    /* 0 = free; else the hash of (dir, addr, name) */
	uint32_t ready;                  /* 1 once dir, addr and name are written */
	uint32_t dir;                    /* enum dwcp_peer_dir */
	char     addr[DWCP_ADDR_MAX];    /* out: HOST:PORT; in: the host it connects from */
	char     name[DWCP_PEER_NAME_MAX];   /* in: its instance (HELLO); out: "" */
	/* Connections past the handshake now, one byte per svc-net worker
	 * (byte k: the worker with sup.worker k, which alone writes it, so
	 * a worker that restarts clears its own count and no other's). Read
	 * them with dwcp_peer_conns(), or take dwcp_peers_read()'s copy,
	 * whose conns is their sum. A svc-net without workers wrote the
	 * whole word: its count is byte 0's. */
	union {
		uint64_t conns;          /* != 0: some worker has one */
		uint8_t  conns_w[8];
	};
	uint64_t connects;               /* connections that passed the handshake */
	uint64_t connect_failures;       /* out: attempts refused, failed or not authenticated */
	int32_t  last_error;             /* out: errno of the last failure, 0 after a success */
	uint32_t net_slot;               /* in: an svc-net worker whose peer holds `session`,
	                                  * where svc-rdma hands the peer's chunks; 0 = svc-net's
	                                  * first slot */
	uint64_t tx_bytes, rx_bytes;     /* bytes written to and read from its sockets */
	uint64_t chunks_sent;            /* chunk frames queued to it, resends included */
	uint64_t chunks_acked;           /* out: acknowledged as written */
	uint64_t chunks_resent;          /* out: sent again (lost connection, timeout, damage) */
	uint64_t chunks_refused;         /* out: answered with a NACK */
	uint64_t ack_wait_ns;            /* out: sum over acked chunks of last send -> ACK */
	uint64_t chunks_received;        /* in: chunk frames read from it */
	uint64_t last_ns;                /* CLOCK_MONOTONIC of its last connect or close */
	/* RDMA (docs/rdma.md). session: svc-net's, of the peer's connections
	 * now (written before conns goes up); the RDMA connections of that
	 * session carry its chunks. With several svc-net workers, each has
	 * its own session per peer and RDMA carries the first worker's only:
	 * an outgoing entry names the first worker's session, an incoming
	 * one the session of a sender's first worker (a further worker's
	 * session carries a mark, svc-net/frame.h), and net_slot a worker
	 * that has it (the last to find it; one that no longer has it
	 * passes the chunk to the next worker). rdma: one bit per svc-rdma
	 * worker (bit k: the worker with sup.worker k) that has an RDMA
	 * connection up for this peer, set and cleared by that worker
	 * (atomic or/and). */
	uint8_t  session[16];
	uint32_t rdma;                   /* 0: TCP carries every chunk */
	int32_t  rdma_error;             /* errno of the last RDMA connect failure or loss, 0 = none */
	uint64_t rdma_chunks;            /* out: chunks written by RDMA; in: chunks received by it */
	uint64_t rdma_bytes;             /* ... and their bytes */
};

/* Chunks svc-net hands svc-rdma for one peer at once (twice what the
 * receiver lends a connection, so the next wait on a grant, not on svc-net). */
#define DWCP_PEER_RDMA_INFLIGHT 64u

/** Connections past the handshake, all svc-net workers together. */
static inline unsigned dwcp_peer_conns(const struct dwcp_peer_ent *e)
{
	unsigned n = 0;

	for (unsigned k = 0; k < sizeof(e->conns_w); k++)
		n += __atomic_load_n(&e->conns_w[k], __ATOMIC_RELAXED);
	return n;
}

/** svc-rdma worker @p k's bit in dwcp_peer_ent.rdma. */
static inline uint32_t dwcp_peer_rdma_bit(unsigned k)
{
	return k < 32 ? 1u << k : 0;
}

_Static_assert(sizeof(struct dwcp_peer_ent) == 256, "peer entry size is ABI");

/**
 * The entry of the peer (@p dir, @p addr, @p name), made if there is none.
 * @return its index, or -ENOSPC when every entry has a connection.
 */
int dwcp_peers_claim(const struct dwcp_shm *shm, enum dwcp_peer_dir dir, const char *addr,
		     const char *name, uint64_t now_ns);

/**
 * A consistent copy of entry @p i, its conns the count of all svc-net
 * workers together.
 * @return 0, or -ENOENT when it is free or changed while it was read.
 */
int dwcp_peers_read(const struct dwcp_shm *shm, int i, struct dwcp_peer_ent *out);

/**
 * A worker of @p service (worker index @p worker) died: what it alone
 * wrote of every peer goes — svc-net's connection count, svc-rdma's bit.
 * Its next generation clears them too, but a worker waiting out a restart
 * backoff would otherwise show connections it no longer has, and svc-net
 * would keep handing chunks to a dead svc-rdma. Supervisor only, after the
 * death and before any successor runs.
 */
void dwcp_peers_forget_worker(const struct dwcp_shm *shm, unsigned service, unsigned worker);

/** Add @p v to the counter at @p field of entry @p i (no-op for i < 0). */
static inline void dwcp_peers_add(uint64_t *field, uint64_t v)
{
	__atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}

#endif
