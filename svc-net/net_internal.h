/* svc-net's private state: the AMST kernel-TCP transport.
 *
 * One thread does all the work (the runtime loop calls net_poll and the
 * steps); a second thread, the waker, only blocks in epoll_wait on every
 * socket (edge-triggered) and, when one becomes ready, records the events
 * on the connection and wakes the loop through the slot's futex word
 * (svc_runtime.h: pending). So svc-net sleeps like every other service
 * when there is nothing to do, and no socket event is lost between the
 * loop's last look and its sleep.
 *
 * Sender side: TRANSMIT keeps the chunk buffer (WORK, so a crash hands it
 * to the next generation, which sends it again) in the in-flight table
 * until the receiver acknowledges (stream, seq, xfer) as written, then
 * passes it on to the client's DELIVER step. Chunks are striped round-robin
 * over the peer's N connections; a connection that drops gives its
 * unacknowledged chunks back to the peer's queue, and every chunk not
 * acknowledged after resend_ms is sent again. The receiver deduplicates.
 *
 * Receiver side: a CHUNK frame is read straight into a pool buffer (no
 * copy), given the program verify -> open -> decompress -> undelta ->
 * DELIVER to the `dwcp recv` registered for the stream, and submitted;
 * the client sends it back with an ACK or NACK step, which svc-net turns
 * into a frame on a connection of the peer the chunk came from.
 */
#ifndef DWCP_SVC_NET_INTERNAL_H
#define DWCP_SVC_NET_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/netaddr.h"
#include "ipc/streams.h"
#include "ipc/svc_runtime.h"
#include "ipc/waker.h"
#include "auth.h"
#include "frame.h"

#define NET_MAX_CONNS   256u        /* connection slots, listener excluded */
#define NET_MAX_PEERS   64u
#define NET_LISTEN_ID   NET_MAX_CONNS
#define NET_NO_BUF      UINT32_MAX
#define NET_SMALL_MAX   (DWCP_FRAME_HDR_LEN + 80u)   /* HELLO, the largest small frame */

/* One frame waiting to be written. */
struct txq_item {
	uint32_t idx;                   /* a chunk buffer, or NET_NO_BUF for a small frame */
	uint16_t small_len;
	uint8_t  small[NET_SMALL_MAX];  /* small frame bytes; for a chunk, its frame header */
};

enum conn_state { CONN_FREE = 0, CONN_CONNECTING, CONN_UP };

/* The handshake (auth.h), per connection. Until HS_DONE an incoming
 * connection has no peer and no CHUNK/ACK/NACK is taken from it, and no
 * chunk is queued on an outgoing one. */
enum conn_hs { HS_WAIT_HELLO = 0, HS_WAIT_AUTH, HS_DONE };

struct net_conn {
	enum conn_state state;
	int fd;
	int peer;                       /* index in net.peers, -1 before HELLO (incoming) */
	bool outgoing;
	bool tx_blocked;                /* last write hit EAGAIN: wait for EPOLLOUT */
	bool rx_stalled;                /* no pool buffer for the next chunk: retry later */
	uint32_t events;                /* writer: waker (atomic or); reader: loop (exchange) */
	struct dwcp_frame_dec dec;
	uint32_t rx_idx;                /* buffer the decoder is filling */
	struct txq_item *q;             /* ring of cap items */
	uint32_t q_head, q_tail, q_cap;
	size_t head_off;                /* bytes of the head item already written */
	uint64_t zc_sent;               /* MSG_ZEROCOPY sends issued on this socket */
	uint64_t zc_done;               /* ... and completed (all below this number) */
	bool zc_copied;                 /* the kernel copied them anyway (loopback, a NIC without
	                                 * scatter-gather): with zerocopy = auto, send with copies */
	enum conn_hs hs;
	uint64_t opened_ns;             /* the handshake deadline counts from here */
	struct dwcp_frame_hello hello_c, hello_s;   /* the transcript: connecting end's, accepting end's */
	struct dwcp_amst_ackmac ackmac; /* keyed: MACs of the answers on this connection */
	struct net_dconn *dg;           /* a datagram connection on the DPDK port (dport.c); NULL: TCP */
};

struct net_peer {
	bool used;
	bool outgoing;
	char addr[DWCP_ADDR_MAX];       /* outgoing: as configured; incoming: as seen */
	char name[DWCP_FRAME_NAME_MAX]; /* incoming: the sender's instance (HELLO) */
	uint8_t session[DWCP_FRAME_SESSION_LEN];
	struct sockaddr_storage sa;
	socklen_t sa_len;
	unsigned n_conns;               /* outgoing: how many to keep */
	unsigned rr;                    /* striping cursor */
	uint32_t *pending;              /* chunk buffers waiting for a connection */
	uint32_t n_pending, cap_pending;
	uint64_t next_try_ns, backoff_ns;
	int last_error;                 /* errno of the last connect failure, 0 = fine */
	uint64_t streams;               /* bitmask of stream-table entries sending here */
	int stat;                       /* its entry in the peer table (ipc/peers.h), -1 = none */
	unsigned rdma_out;              /* its chunks with svc-rdma (FL_RDMA) */
};

_Static_assert(DWCP_PEER_NAME_MAX >= DWCP_FRAME_NAME_MAX, "an instance name fits the peer table");

/* FL_RDMA: handed to svc-rdma (rdma.c), which hands it back; not ours meanwhile. */
enum fl_state { FL_FREE = 0, FL_QUEUED, FL_SENT, FL_WAIT_ZC, FL_RDMA, FL_N_STATES };

/* A chunk this svc-net transmitted and keeps until acknowledged; indexed
 * by buffer index. */
struct inflight {
	uint8_t state;                  /* enum fl_state */
	bool acked;
	int16_t conn;                   /* where it was last sent, -1 = none */
	int8_t stream_ent;              /* stream-table index */
	uint8_t peer;
	uint16_t resends;
	uint16_t rdma_nack;             /* FL_RDMA: the receiver's NACK that came meanwhile, 0 = none */
	/* The buffer's last MSG_ZEROCOPY send: the kernel may read the buffer
	 * until that send completes, whatever was sent since (a copied rest of
	 * the frame, a copied resend on another connection), so the buffer
	 * leaves only then, or when that connection is reset (its queue purged). */
	int16_t zc_conn;                /* -1 = none outstanding */
	uint64_t zc_seq;                /* zerocopy send number on zc_conn */
	uint16_t done_status;           /* FL_WAIT_ZC: how it leaves, once the kernel is done */
	uint64_t done_result;
	uint64_t sent_ns;
	uint32_t l_prev, l_next;        /* on the list of its state (net_fl_set_state) */
};

struct net {
	struct dwcp_svc_ctx *ctx;
	const struct dwcp_node_conf *conf;
	int epfd;
	int listen_fd;
	struct dwcp_waker waker;        /* blocks in epoll_wait on epfd (ipc/waker.h) */
	uint32_t pending;               /* writer: waker; the loop's "do not sleep" flag */
	uint32_t listen_events;
	/* Connections with events: writer the waker (atomic or, after the
	 * connection's own events), reader the loop (exchange), so a poll
	 * visits those, not all NET_MAX_CONNS slots, every turn. */
	uint64_t ev_ready[NET_MAX_CONNS / 64];
	struct net_conn conns[NET_MAX_CONNS];
	struct net_peer peers[NET_MAX_PEERS];
	struct inflight *fl;            /* [n_bufs] */
	uint32_t *fl_hash;              /* (stream, seq) -> 1 + buffer index; 0 empty, TOMB */
	uint32_t fl_mask;
	/* Every entry not FREE is on the list of its state, so the timer,
	 * a lost connection and a zerocopy completion visit what is in
	 * flight, never the whole pool. */
	uint32_t fl_head[FL_N_STATES], fl_tail[FL_N_STATES], fl_count[FL_N_STATES];
	uint32_t fl_tombs;              /* FL_TOMB slots in fl_hash: rebuilt past a quarter */
	uint64_t next_timer_ns;
	bool congestion_warned;
	bool zerocopy;
	bool zc_auto;                   /* [net] zerocopy = auto: a connection stops once the
	                                 * kernel says it copied (net_conn.zc_copied) */
	unsigned n_connections;
	/* trust (auth.h) */
	bool keyed;                     /* [crypto] key_file read: handshakes prove it */
	uint8_t ka[DWCP_AMST_KEY_LEN];  /* handshake key derived from it */
	unsigned n_unauth;              /* connections not yet past their handshake */
	/* receiver quotas: chunks submitted and not yet answered, per stream-table
	 * entry (its claim tells a reused entry) and per peer, so that one stream
	 * or peer that never completes cannot hold the whole pool */
	struct { uint64_t claim; uint32_t held; int16_t peer; } rxq[DWCP_MAX_STREAMS];
	uint32_t rx_held;               /* the sum of rxq[].held (DWCP_STAT_RX_HELD) */
	uint32_t quota_stream, quota_peer;
	struct net_dport *dport;        /* [net] transport = dpdk: peers over datagrams (dport.c) */
	/* Workers (ipc/route.h): each svc-net worker has its own connections
	 * to every peer, its own sessions, in-flight table and quotas; the
	 * kernel spreads incoming connections over the workers' listening
	 * sockets (SO_REUSEPORT), and an answer goes back to the worker that
	 * received its chunk (the origin's slot). */
	unsigned worker;                /* sup.worker: 0 = the first, alone on a DPDK port and
	                                 * alone in handing chunks to svc-rdma */
	unsigned n_workers;
	unsigned max_unauth;            /* [net] max_unauthenticated, this worker's share */
	bool in_step;                   /* inside step(): a buffer is not passed on from here */
	bool rdma_kick;                 /* chunks wait for svc-rdma: dispatch from the poll loop */
};

/** The peer table entry of @p p, or NULL (no peer, or the table was full). */
static inline struct dwcp_peer_ent *net_peer_stat(struct net *n, int p)
{
	return p >= 0 && n->peers[p].stat >= 0 ? &n->ctx->at.shm.node->peers[n->peers[p].stat] : NULL;
}

/* conn.c: sockets and the bytes on them */
int net_listen_open(struct net *n, char *reason, size_t reason_len);
int net_conn_open_out(struct net *n, int peer);
void net_conn_close(struct net *n, int c, const char *why);
int net_conn_accept(struct net *n);
void net_conn_queue_small(struct net *n, int c, const void *bytes, size_t len);
void net_conn_queue_chunk(struct net *n, int c, uint32_t idx);
unsigned net_conn_flush(struct net *n, int c);
unsigned net_conn_read(struct net *n, int c);
void net_conn_zc_complete(struct net *n, int c);
int net_waker_start(struct net *n);

/** A connection slot for a datagram connection (no socket; dport.c fills k->dg). */
int net_conn_new_dgram(struct net *n, int peer, bool outgoing);
void net_conn_evict_unauthenticated(struct net *n);
void net_conn_item_sent(struct net *n, int c, const struct txq_item *it);

/* dport.c: the datagram transport on the node's DPDK port ([net] transport = dpdk) */
/** @return 0 (also when the node has no port), or -errno with @p reason. */
int net_dport_init(struct net *n, char *reason, size_t reason_len);
void net_dport_fini(struct net *n);
/** Frames from the port, ARP, datagram timers and pacing. @return work done. */
unsigned net_dport_poll(struct net *n, uint64_t now);
/** Whether the port may still read chunk buffer @p idx: a zero-copy fragment of it is out. */
bool net_dport_buf_busy(const struct net *n, uint32_t idx);
int net_dconn_open_out(struct net *n, int peer);
void net_dconn_free(struct net *n, int c);
unsigned net_dconn_flush(struct net *n, int c);
/** The peer's address as seen ("IP:PORT"), for an incoming connection. */
void net_dconn_addr(const struct net *n, int c, char out[DWCP_ADDR_MAX]);

/* rdma.c: chunks through svc-rdma (docs/rdma.md) */
/** Whether outgoing peer @p p's new chunks go by RDMA now. */
bool net_rdma_usable(struct net *n, int p);
/** Hand @p p's first sends to svc-rdma while it takes them. @return how many. */
unsigned net_rdma_dispatch(struct net *n, int p);
/**
 * Put back the program a detour saved in @p h (the saved one's TRANSMIT
 * step is then at pc). @return false: nothing (valid) saved.
 */
bool net_rdma_restore(struct dwcp_buf_hdr *h);
/** DWCP_OP_RDMA_RETURN: svc-rdma is done with a chunk (placed, or not: then TCP). */
int net_rdma_return(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h);
/** DWCP_OP_RDMA_RX: a chunk svc-rdma received for an incoming peer. */
int net_rdma_rx(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h);
/** Peers whose chunks wait for svc-rdma: dispatch them (outside step()). @return work. */
unsigned net_rdma_kick(struct net *n);

/* amst.c: peers, the in-flight table, frames */
/** A connection of @p p past its handshake, or -1. */
int net_peer_ready_conn(const struct net *n, int p);
void net_pending_push(struct net *n, int p, uint32_t idx);
void net_resend(struct net *n, uint32_t idx);
void net_fl_finish(struct net *n, uint32_t idx, int status, uint64_t result);
/** Take @p idx out of the in-flight table (the caller passes it on). */
void net_fl_forget(struct net *n, uint32_t idx);
void net_on_ack(struct net *n, const struct dwcp_frame_ack *a, bool ok);
int net_rx_prepare(struct net *n, int c, uint32_t idx, uint32_t len, uint32_t wire, unsigned first);
int net_peer_in(struct net *n, int c, const struct dwcp_frame_hello *h);
unsigned net_peer_dispatch(struct net *n, int p);
/** Publish @p p's connection count (and, outgoing, its last error) in the peer table. */
void net_peer_stat_update(struct net *n, int p);

/* handshake.c: authentication, the keyless policy */
void net_hello_out(struct net *n, int c);
void net_on_hello(struct net *n, int c, const struct dwcp_frame_hello *h);
void net_on_auth(struct net *n, int c, const struct dwcp_frame_auth *a);
unsigned net_handshake_timers(struct net *n, uint64_t now);
int net_peer_out(struct net *n, const char *addr, struct dwcp_err *err);
void net_on_frame(struct net *n, int c, struct dwcp_frame *f);
void net_on_chunk(struct net *n, int c, uint32_t idx, uint32_t len);
void net_on_conn_lost(struct net *n, int c);
/**
 * Hand on every buffer that waited for the kernel or the port and no
 * longer needs to. @return how many wait for the DPDK port alone (it
 * wakes no one when it lets them go: net_dport_poll looks again soon).
 */
unsigned net_fl_release_waiting(struct net *n);
int net_transmit(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h);
/**
 * A receiver's answer to a chunk (@p op: DWCP_OP_ACK, DWCP_OP_NACK with
 * the reason in h->result, or DWCP_OP_RELEASE for a copy it holds
 * already): the quota the chunk took is given back, and an ACK or NACK
 * goes to the peer it came from.
 */
int net_answer(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op);
unsigned net_timers(struct net *n, uint64_t now);
int net_trust_init(struct net *n, char *reason, size_t reason_len);
int net_fl_init(struct net *n);
/** Move in-flight entry @p idx to state @p st (and onto that state's list). */
void net_fl_set_state(struct net *n, uint32_t idx, enum fl_state st);

#endif
