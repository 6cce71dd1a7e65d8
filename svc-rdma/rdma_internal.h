/* svc-rdma's private state: the RDMA transport of chunks between nodes.
 *
 * svc-net stays the control plane (handshake, acknowledgements, the
 * sender's in-flight table, resends); svc-rdma only moves chunk bytes.
 *
 * Sender: svc-net hands a chunk over with DWCP_OP_RDMA_WRITE, the peer's
 * peer-table entry in `result` (ipc/buf_hdr.h). svc-rdma queues it on its
 * connection to that peer, writes it into the oldest grant the receiver
 * made (rc.h), and once the write's completion came back (placed in the
 * receiver's memory) passes the buffer back to svc-net with result 0. A
 * chunk it could not write (no connection, the connection died, this
 * process is a new generation) goes back at once with result = errno, and
 * svc-net sends it over TCP. The buffer stays this process's (WORK) while
 * the adapter may read it: a connection is torn down (the QP destroyed)
 * before its chunks are handed back.
 *
 * Receiver: each connection keeps RDMA_GRANTS pool buffers lent to the
 * peer through memory windows. A chunk that landed goes to svc-net
 * (DWCP_OP_RDMA_RX) with the peer's entry and session, and svc-net gives
 * it the receive program a chunk from a TCP connection gets. Lent
 * buffers are HELD by this process: if it dies the supervisor frees them,
 * and the kernel destroyed the QPs (and with them every window) first.
 *
 * Connections: the sender's svc-rdma connects (rdma_cm) to the host and
 * port of an outgoing peer once svc-net has a TCP connection to it, and
 * proves the key for svc-net's session of that peer (rc_auth.h); the
 * receiver ties the connection to the incoming peer with that session.
 * A peer without a device, route or listener stays on TCP, tried again
 * with a backoff; the peer table says why (ipc/peers.h: rdma, rdma_error).
 *
 * One thread does the work; a waker thread blocks in epoll_wait on the
 * rdma_cm channel and every completion channel and wakes the loop, as in
 * svc-net, so the service sleeps when there is nothing to do.
 */
#ifndef DWCP_SVC_RDMA_INTERNAL_H
#define DWCP_SVC_RDMA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/peers.h"
#include "ipc/svc_runtime.h"
#include "ipc/waker.h"
#include "rc.h"

#define RDMA_MAX_CONNS     64u       /* both directions together (one bit each in cq_ready) */
#define RDMA_GRANTS        32u       /* buffers lent per connection: with RDMA_MAX_CONNS
                                      * the chunks that can land at once stay below what the
                                      * runtime parks when svc-net's link is full */
#define RDMA_WQ_CAP        128u      /* chunks a sending connection holds (svc-net hands
                                      * it at most DWCP_RDMA_PEER_INFLIGHT) */
#define RDMA_MAX_UNAUTH    8u        /* accepted connections not past their proof yet */
#define RDMA_DEADLINE_NS   (5ull * 1000000000ull)   /* to connect, or to prove the key */
#define RDMA_BACKOFF_MIN_NS (1ull * 1000000000ull)
#define RDMA_BACKOFF_MAX_NS (30ull * 1000000000ull)
#define RDMA_TIMER_NS      (100ull * 1000000ull)
#define RDMA_NO_BUF        UINT32_MAX

_Static_assert(RDMA_WQ_CAP >= DWCP_PEER_RDMA_INFLIGHT, "a connection holds what svc-net hands it");

enum rconn_state {
	RCONN_FREE = 0,
	RCONN_RESOLVING,                 /* out: address, then route */
	RCONN_CONNECTING,                /* out: rdma_connect sent */
	RCONN_WAIT_AUTH,                 /* in: accepted, the peer's proof not yet checked */
	RCONN_UP,
	RCONN_REAPING,                   /* closed: the reaper thread is tearing it down */
};

struct rconn_item {
	uint32_t idx;
	int err;                         /* not written (goes back with this errno) */
	uint64_t ticket;                 /* rc.sq_posted after its write */
};

struct rconn {
	enum rconn_state state;
	bool outgoing;
	bool rc_ready;                   /* rc set up: it has a QP and completion channel */
	bool was_connected;              /* REAPING: rdma_disconnect it first */
	uint32_t reaped;                 /* REAPING: writer the reaper (release), reader the loop */
	int ent;                         /* peer-table entry (in: once authenticated) */
	uint8_t session[RDMA_RC_SESSION_LEN];
	uint64_t opened_ns;
	struct rdma_cm_id *id;
	struct rdma_rc_conn rc;
	struct rdma_rc_auth auth;
	/* sender: a ring of chunks, [head, post) written and not yet
	 * completed, [post, tail) waiting for a grant (free-running) */
	struct rconn_item wq[RDMA_WQ_CAP];
	uint32_t wq_head, wq_post, wq_tail;
	/* receiver: the pool buffer lent through each window, RDMA_NO_BUF = none */
	uint32_t lent[RDMA_GRANTS];
	unsigned n_lent;
};

struct rdma_svc {
	struct dwcp_svc_ctx *ctx;
	unsigned worker;                 /* this process's index among svc-rdma's workers */
	struct ibv_context *verbs;
	struct rdma_rc_dev dev;
	char dev_name[64];
	bool keyed;
	uint8_t key[RDMA_RC_KEY_LEN];
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id;
	bool listen_wanted;              /* [net] listen is set: retried while it fails */
	uint64_t next_listen_ns;
	struct rconn conns[RDMA_MAX_CONNS];
	unsigned n_unauth;
	uint64_t next_try_ns[DWCP_MAX_PEERS], backoff_ns[DWCP_MAX_PEERS];
	uint64_t next_timer_ns;
	/* the reaper thread: connection teardowns, off the loop (a device may
	 * take seconds over one, longer than a heartbeat) */
	pthread_t reaper;
	bool reaper_running, reap_stop;
	pthread_mutex_t reap_mu;
	pthread_cond_t reap_cv;
	uint32_t reap_q[RDMA_MAX_CONNS];   /* connection indices; each is queued once */
	uint32_t reap_head, reap_tail;
	int epfd;
	struct dwcp_waker waker;         /* blocks in epoll_wait on epfd (ipc/waker.h) */
	uint32_t pending;                /* writer: waker; the loop's "do not sleep" flag */
	uint64_t cq_ready;               /* writer: waker (or); reader: loop (exchange): bit i =
	                                  * connection i's completion channel fired */
};

/* conn.c */
/** Listen where svc-net listens (rdma_cm's own port space). @return 0 or -errno, @p reason. */
int rdma_conn_listen(struct rdma_svc *r, char *reason, size_t reason_len);
/** rdma_cm events, completions, writes, grants and timers. @return work done. */
unsigned rdma_conn_poll(struct rdma_svc *r, uint64_t now);
/** DWCP_OP_RDMA_WRITE: @return DWCP_SVC_KEEP (queued) or DWCP_BUF_OK (result says why not). */
int rdma_conn_write(struct rdma_svc *r, uint32_t idx, struct dwcp_buf_hdr *h);
/** Start the reaper thread. @return 0 or -1 (teardowns then run on the loop). */
int rdma_reaper_start(struct rdma_svc *r);
/** Tear every connection down (the process ends): chunks stay WORK for the next generation, lent buffers go to the pool. */
void rdma_conn_close_all(struct rdma_svc *r);
/** Watch @p fd in the waker's epoll set under @p id (0: the rdma_cm channel; 1 + connection). */
int rdma_waker_watch(struct rdma_svc *r, int fd, uint64_t id);
void rdma_waker_unwatch(struct rdma_svc *r, int fd);

#endif
