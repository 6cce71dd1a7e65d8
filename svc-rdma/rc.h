/* svc-rdma's RC transport core: one reliable-connected queue pair per
 * peer connection (rdma_cm), chunks moved with RDMA WRITE WITH IMMEDIATE
 * straight into receive buffers the receiver granted.
 *
 * Memory: the node's region is registered once per device (one MR, local
 * access and memory-window binding only: no remote access by itself).
 *
 * Grants, and why memory windows: a receiver lends a buffer to a
 * connection by binding a type 2 memory window over exactly that buffer
 * to that connection's QP and sending the window's rkey in a GRANT
 * message. Only that QP can write through the window, only inside that
 * buffer. When the write's immediate arrives (the data is placed whole),
 * the receiver invalidates the window (LOCAL_INV) before it hands the
 * buffer on, so a peer that kept the rkey cannot write into a buffer
 * after it was returned. An rkey of the whole MR would let any connected
 * peer write anywhere in the node's memory, at any time.
 *
 * Ownership rule (crash safety): a granted buffer belongs to the
 * connection until (a) its immediate arrived and the invalidation
 * completed, or (b) the QP is destroyed (rdma_rc_conn_destroy, or the
 * process dies: the kernel destroys its QPs and windows before the death
 * is observable), after which no write can reach it. Until one of these,
 * the buffer must not be read or lent again. A sender keeps each chunk
 * until the receiver acknowledges it end to end, so a write lost with a
 * dead QP is sent again; a write whose immediate never came is never
 * trusted.
 *
 * Work requests: sends are signalled every RDMA_RC_SIGNAL_EVERY (selective
 * signalling); GRANT messages are small and go inline. Receives come from
 * one shared receive queue per device (a WRITE WITH IMMEDIATE consumes one,
 * as a GRANT does), kept full: RDMA_RC_SRQ_DEPTH for every connection
 * together rather than a queue each; a peer that outruns it is held back by
 * RNR retries, not failed.
 *
 * No DPDK here: the caller passes the region (the DPDK memzone in
 * svc-rdma, hugetlbfs memory in tests/rdma).
 */
#ifndef DWCP_SVC_RDMA_RC_H
#define DWCP_SVC_RDMA_RC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "common/err.h"
#include "rc_auth.h"

#define RDMA_RC_SIGNAL_EVERY 16u
#define RDMA_RC_MAX_SLOTS    1024u     /* grants a connection may have out at once */
#define RDMA_RC_SRQ_DEPTH    4096u     /* receives posted for all connections of a device */

struct rdma_rc_wire;

/* One device, the region registered on it, and its shared receive queue. */
struct rdma_rc_dev {
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	uint8_t *base;
	size_t len;
	struct ibv_srq *srq;
	struct rdma_rc_wire *rx;        /* [RDMA_RC_SRQ_DEPTH]: control messages land here */
	struct ibv_mr *rx_mr;
};

/* What the receiver lends: sent in a GRANT message. */
struct rdma_rc_grant {
	uint64_t addr;                  /* in the receiver's address space */
	uint32_t rkey;                  /* of the window bound over it */
	uint32_t len;
	uint32_t slot;                  /* comes back as the immediate */
};

enum rdma_rc_slot_state { RC_SLOT_FREE = 0, RC_SLOT_BINDING, RC_SLOT_GRANTED, RC_SLOT_INVALIDATING };

struct rdma_rc_slot {
	struct ibv_mw *mw;
	uint64_t off;                   /* of the buffer in the region */
	uint32_t len;
	uint32_t got;                   /* bytes the write placed (from its completion) */
	uint8_t state;                  /* enum rdma_rc_slot_state */
};

struct rdma_rc_conn {
	struct rdma_rc_dev *dev;
	struct rdma_cm_id *id;
	struct ibv_comp_channel *ch;    /* its fd becomes readable on a completion */
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	/* grants this end made (as the receiver of chunks) */
	struct rdma_rc_slot *slots;
	unsigned n_slots;
	/* grants this end holds (as the sender of chunks), FIFO */
	struct rdma_rc_grant *held;
	unsigned held_head, held_tail, held_cap;
	/* the send queue: unsignalled work requests count until a signalled one completes */
	unsigned sq_depth, sq_out, unsignalled;
	/* every work request posted, and those a completion accounted for
	 * (failed ones too): a write posted as number k is done once sq_done >= k */
	uint64_t sq_posted, sq_done;
	bool dead;
	/* accepting end: nothing is lent, and no message but AUTH taken, before
	 * the peer's proof checked out (rc_auth.h) */
	bool need_auth, authed;
	struct rdma_rc_auth auth;
};

enum rdma_rc_ev_type {
	RDMA_RC_EV_DATA = 1,            /* a chunk is in slot ev.slot, ev.len bytes: the buffer is the caller's again */
	RDMA_RC_EV_GRANT,               /* the peer lent a buffer: held (rdma_rc_write may use it) */
	RDMA_RC_EV_SENT,                /* signalled sends completed: ev.len writes are off the send queue */
	RDMA_RC_EV_DEAD,                /* a work request failed, or the peer broke the protocol: unusable (ev.status) */
	RDMA_RC_EV_AUTHED,              /* accepting end: the peer proved it holds the key; grants may go */
};

struct rdma_rc_ev {
	uint8_t type;                   /* enum rdma_rc_ev_type */
	uint32_t slot, len;
	int status;                     /* RDMA_RC_EV_DEAD: enum ibv_wc_status */
};

/** Register @p len bytes at @p base on @p verbs (a device rdma_cm chose), and its receive queue. */
int rdma_rc_dev_open(struct rdma_rc_dev *d, struct ibv_context *verbs, void *base, size_t len,
		     struct dwcp_err *err);
void rdma_rc_dev_close(struct rdma_rc_dev *d);

/**
 * Queue pair and completion queue for cm id @p id (before rdma_connect or
 * rdma_accept), @p n_slots windows for grants it will make, room for
 * @p held grants from the peer.
 */
int rdma_rc_conn_setup(struct rdma_rc_conn *c, struct rdma_rc_dev *d, struct rdma_cm_id *id, unsigned n_slots,
		       unsigned held, struct dwcp_err *err);

/** Accepting end: take no message but the peer's AUTH, and lend nothing, until it checks out against @p auth. */
void rdma_rc_conn_require_auth(struct rdma_rc_conn *c, const struct rdma_rc_auth *auth);

/** Connecting end: send the proof rdma_rc_auth_established gave, for the session it covers. */
int rdma_rc_send_auth(struct rdma_rc_conn *c, const uint8_t mac_c[RDMA_RC_MAC_LEN],
		      const uint8_t session[RDMA_RC_SESSION_LEN]);

/**
 * Tear the connection down: after this no write of the peer can reach a
 * buffer it was granted. @p granted (may be NULL) gets the offsets of the
 * buffers still lent, which are the caller's again; @return their count.
 */
unsigned rdma_rc_conn_destroy(struct rdma_rc_conn *c, uint64_t *granted);

/**
 * Lend the buffer of @p len bytes at @p off in the region to the peer
 * through window @p slot (free): bind it to this QP, then send the GRANT.
 * @return 0; -EACCES before the peer authenticated (rdma_rc_conn_require_auth).
 */
int rdma_rc_grant(struct rdma_rc_conn *c, unsigned slot, uint64_t off, uint32_t len);

/** The oldest grant held, or NULL. rdma_rc_write consumes it. */
const struct rdma_rc_grant *rdma_rc_held(const struct rdma_rc_conn *c);

/**
 * Write @p len bytes at @p off of the local region into the oldest held
 * grant, with its slot as the immediate; @p signal: ask for a completion
 * now (the last write of a burst: with selective signalling an unsignalled
 * write's end is seen only through a later signalled one). The write is
 * number c->sq_posted afterwards. @return 0; -ENOBUFS (no grant held, or
 * the send queue is full: poll first); -EMSGSIZE (larger than the grant);
 * -EIO (the connection is dead).
 */
int rdma_rc_write(struct rdma_rc_conn *c, uint64_t off, uint32_t len, bool signal);

/**
 * Completions to events, at most @p max. @return how many, or -EIO when
 * the completion queue itself failed.
 */
int rdma_rc_poll(struct rdma_rc_conn *c, struct rdma_rc_ev *ev, unsigned max);

/**
 * Sleep until the connection has a completion (or @p timeout_ms), then
 * re-arm: for loops that must not spin. @return 1 (woken), 0 (timeout), -errno.
 */
int rdma_rc_wait(struct rdma_rc_conn *c, int timeout_ms);

#endif
