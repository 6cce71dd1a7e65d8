/* svc-rdma's connections to peers and the chunks on them (rdma_internal.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/link.h"
#include "ipc/route.h"
#include "ipc/stats.h"
#include "ipc/streams.h"
#include "rdma_internal.h"

static struct dwcp_peer_ent *peer_ent(struct rdma_svc *r, int ent)
{
	return ent >= 0 && ent < DWCP_MAX_PEERS ? &r->ctx->at.shm.node->peers[ent] : NULL;
}

/* This worker serves peer @p ent by RDMA now. */
static void publish_up(struct rdma_svc *r, int ent)
{
	struct dwcp_peer_ent *e = peer_ent(r, ent);

	if (!e)
		return;
	__atomic_store_n(&e->rdma_error, 0, __ATOMIC_RELAXED);
	__atomic_fetch_or(&e->rdma, dwcp_peer_rdma_bit(r->worker), __ATOMIC_RELEASE);
}

/* Connection @p c (of peer @p ent) is gone or never came, @p err why: this
 * worker no longer serves the peer unless another connection of its does
 * (a listener holds one from each of the sender's workers). */
static void publish_down(struct rdma_svc *r, const struct rconn *c, int ent, int err)
{
	struct dwcp_peer_ent *e = peer_ent(r, ent);

	if (!e)
		return;
	__atomic_store_n(&e->rdma_error, err, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++)
		if (&r->conns[i] != c && r->conns[i].state == RCONN_UP && r->conns[i].ent == ent)
			return;
	__atomic_fetch_and(&e->rdma, ~dwcp_peer_rdma_bit(r->worker), __ATOMIC_RELEASE);
}

static uint64_t region_off(const struct rdma_svc *r, uint32_t idx)
{
	return (uint64_t)((const uint8_t *)dwcp_shm_data(&r->ctx->at.shm, idx) - r->dev.base);
}

/* A chunk's detour is over: back to svc-net, @p err 0 = placed in the peer's memory. */
static void hand_back(struct rdma_svc *r, uint32_t idx, int err)
{
	dwcp_shm_hdr(&r->ctx->at.shm, idx)->result = (uint64_t)err;
	dwcp_svc_pass(r->ctx, idx, DWCP_BUF_OK);
}

/* The device's part of a teardown: after it the adapter neither reads a
 * chunk being sent nor writes into a lent buffer (rc.h), so both may move
 * on. A device may take its time (seconds on rxe when the peer died): the
 * reaper thread does it, off the loop. */
static void conn_teardown(struct rconn *c)
{
	if (c->rc_ready) {
		if (c->id && c->was_connected)
			rdma_disconnect(c->id);
		rdma_rc_conn_destroy(&c->rc, NULL);
	}
	if (c->id)
		rdma_destroy_id(c->id);
}

/* After the teardown: the chunks back to svc-net (@p give_back false: the
 * process ends, they stay WORK and the next generation hands them back),
 * the lent buffers to the pool, the slot free. */
static void conn_finish(struct rdma_svc *r, struct rconn *c, bool give_back)
{
	for (uint32_t i = c->wq_head; give_back && i != c->wq_tail; i++)
		hand_back(r, c->wq[i % RDMA_WQ_CAP].idx, c->wq[i % RDMA_WQ_CAP].err ? c->wq[i % RDMA_WQ_CAP].err : EIO);
	for (unsigned s = 0; s < RDMA_GRANTS; s++)
		if (c->lent[s] != RDMA_NO_BUF)
			dwcp_svc_free(r->ctx, c->lent[s]);
	memset(c, 0, sizeof(*c));
	c->ent = -1;
	for (unsigned s = 0; s < RDMA_GRANTS; s++)
		c->lent[s] = RDMA_NO_BUF;
}

/* Close connection @p c (@p err, @p why): svc-net stops handing this
 * worker the peer's chunks now; the rest happens once the QP is gone.
 * @p give_back false: all of it now, on this thread, and the chunks held
 * stay WORK (the process ends, or the connection never held any). */
static void conn_close(struct rdma_svc *r, struct rconn *c, int err, const char *why, bool give_back)
{
	const char *dir = c->outgoing ? "to" : "from";
	struct dwcp_peer_ent *e = peer_ent(r, c->ent);

	if (c->state == RCONN_UP)
		DWCP_INFO("svc-rdma: connection %s %s closed: %s", dir, e ? e->addr : "?", why);
	else
		DWCP_DEBUG("svc-rdma: connection %s %s not made: %s", dir, e ? e->addr : "?", why);
	if (c->rc_ready)
		rdma_waker_unwatch(r, c->rc.ch->fd);
	c->was_connected = c->state == RCONN_UP || c->state == RCONN_WAIT_AUTH || c->state == RCONN_CONNECTING;
	if (c->state == RCONN_WAIT_AUTH && r->n_unauth)
		r->n_unauth--;
	if (c->ent >= 0 && (c->outgoing || c->state == RCONN_UP)) {
		publish_down(r, c, c->ent, err);
		if (c->outgoing) {
			uint64_t *b = &r->backoff_ns[c->ent];

			*b = !err ? 0 : *b ? (*b * 2 > RDMA_BACKOFF_MAX_NS ? RDMA_BACKOFF_MAX_NS : *b * 2)
					   : RDMA_BACKOFF_MIN_NS;
			r->next_try_ns[c->ent] = dwcp_now_ns() + *b;
		}
	}
	c->state = RCONN_REAPING;
	if (give_back && r->reaper_running) {
		pthread_mutex_lock(&r->reap_mu);
		r->reap_q[r->reap_tail++ % RDMA_MAX_CONNS] = (uint32_t)(c - r->conns);
		pthread_cond_signal(&r->reap_cv);
		pthread_mutex_unlock(&r->reap_mu);
		return;
	}
	conn_teardown(c);
	conn_finish(r, c, give_back);
	dwcp_svc_heartbeat(r->ctx);
}

static void *reaper_main(void *arg)
{
	struct rdma_svc *r = arg;

	pthread_mutex_lock(&r->reap_mu);
	for (;;) {
		while (r->reap_head == r->reap_tail && !r->reap_stop)
			pthread_cond_wait(&r->reap_cv, &r->reap_mu);
		if (r->reap_head == r->reap_tail)
			break;   /* stopping, and nothing left to tear down */
		{
			struct rconn *c = &r->conns[r->reap_q[r->reap_head++ % RDMA_MAX_CONNS]];

			pthread_mutex_unlock(&r->reap_mu);
			conn_teardown(c);
			__atomic_store_n(&c->reaped, 1, __ATOMIC_RELEASE);
			__atomic_store_n(&r->pending, 1, __ATOMIC_SEQ_CST);
			dwcp_link_notify(&r->ctx->at.shm, r->ctx->at.slot);
			pthread_mutex_lock(&r->reap_mu);
		}
	}
	pthread_mutex_unlock(&r->reap_mu);
	return NULL;
}

int rdma_reaper_start(struct rdma_svc *r)
{
	pthread_mutex_init(&r->reap_mu, NULL);
	pthread_cond_init(&r->reap_cv, NULL);
	if (pthread_create(&r->reaper, NULL, reaper_main, r))
		return -1;
	r->reaper_running = true;
	return 0;
}

/* Torn down by the reaper: finish on the loop's thread. */
static unsigned reaped(struct rdma_svc *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++) {
		struct rconn *c = &r->conns[i];

		if (c->state == RCONN_REAPING && __atomic_load_n(&c->reaped, __ATOMIC_ACQUIRE)) {
			conn_finish(r, c, true);
			n++;
		}
	}
	return n;
}

static struct rconn *conn_new(struct rdma_svc *r)
{
	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++)
		if (r->conns[i].state == RCONN_FREE) {
			struct rconn *c = &r->conns[i];

			memset(c, 0, sizeof(*c));
			c->ent = -1;
			for (unsigned s = 0; s < RDMA_GRANTS; s++)
				c->lent[s] = RDMA_NO_BUF;
			return c;
		}
	return NULL;
}

static int conn_watch(struct rdma_svc *r, struct rconn *c)
{
	c->rc_ready = true;
	return rdma_waker_watch(r, c->rc.ch->fd, 1u + (uint64_t)(c - r->conns));
}

int rdma_conn_listen(struct rdma_svc *r, char *reason, size_t reason_len)
{
	const char *listen = r->ctx->at.shm.node->conf.listen;
	struct sockaddr_storage ss;
	struct dwcp_err err = { 0 };
	socklen_t len;

	if (!listen[0])
		return 0;   /* svc-net takes no connections either */
	r->listen_wanted = true;
	if (dwcp_addr_resolve(listen, &ss, &len, &err)) {
		snprintf(reason, reason_len, "[net] listen %s: %s", listen, err.msg);
		return err.code;
	}
	if (rdma_create_id(r->ec, &r->listen_id, NULL, RDMA_PS_TCP) ||
	    rdma_bind_addr(r->listen_id, (struct sockaddr *)&ss) || rdma_listen(r->listen_id, 16)) {
		int e = errno;

		snprintf(reason, reason_len, "cannot listen for RDMA connections on %s: %s (peers send to this node over TCP)",
			 listen, strerror(e));
		if (r->listen_id)
			rdma_destroy_id(r->listen_id);
		r->listen_id = NULL;
		return -e;
	}
	DWCP_INFO("svc-rdma: listening for RDMA connections on %s", listen);
	return 0;
}

/* ---- connection set-up ---- */

static void connect_out(struct rdma_svc *r, int ent, const struct dwcp_peer_ent *e, uint64_t now)
{
	struct rconn *c = conn_new(r);
	struct sockaddr_storage ss;
	struct dwcp_err err = { 0 };
	socklen_t len;

	if (!c)
		return;
	c->outgoing = true;
	c->ent = ent;
	c->opened_ns = now;
	memcpy(c->session, e->session, sizeof(c->session));
	c->state = RCONN_RESOLVING;
	if (dwcp_addr_resolve(e->addr, &ss, &len, &err)) {
		conn_close(r, c, -err.code, err.msg, true);
		return;
	}
	if (rdma_create_id(r->ec, &c->id, c, RDMA_PS_TCP) ||
	    rdma_resolve_addr(c->id, NULL, (struct sockaddr *)&ss, 2000)) {
		int e2 = errno;

		conn_close(r, c, e2, "cannot resolve the peer's address on an RDMA device", true);
	}
}

/* Route resolved: the QP, then rdma_connect with the auth HELLO. */
static int connect_route(struct rdma_svc *r, struct rconn *c, const char **why)
{
	uint8_t hello[RDMA_RC_HELLO_LEN];
	struct rdma_conn_param cp = { .responder_resources = 1, .initiator_depth = 1, .retry_count = 7,
				      .rnr_retry_count = 7, .private_data = hello,
				      .private_data_len = sizeof(hello) };
	struct dwcp_err err = { 0 };

	if (c->id->verbs != r->dev.verbs) {
		*why = "the route to the peer is on another RDMA device than the one svc-rdma registered";
		return ENODEV;
	}
	if (rdma_rc_conn_setup(&c->rc, &r->dev, c->id, 0, RDMA_GRANTS, &err)) {
		*why = "cannot set up a queue pair";
		return -err.code;
	}
	if (conn_watch(r, c) || rdma_rc_auth_init(&c->auth, r->key) || rdma_rc_auth_hello(&c->auth, hello)) {
		*why = "cannot start the handshake";
		return EIO;
	}
	memcpy(c->auth.session, c->session, sizeof(c->session));
	if (rdma_connect(c->id, &cp)) {
		*why = "rdma_connect failed";
		return errno;
	}
	c->state = RCONN_CONNECTING;
	return 0;
}

/* Connecting end, ESTABLISHED: check the accepting end's proof, send ours. */
static int connect_established(struct rdma_svc *r, struct rconn *c, const void *priv, size_t len,
			       const char **why)
{
	uint8_t mac[RDMA_RC_MAC_LEN];
	int rc = rdma_rc_auth_established(&c->auth, priv, len, mac);

	if (rc) {
		*why = rc == -EACCES ? "the peer did not prove it holds this node's key ([crypto] key_file)"
				     : "the peer's accept is not a DWCP one";
		return -rc;
	}
	if (rdma_rc_send_auth(&c->rc, mac, c->session)) {
		*why = "cannot send the proof";
		return EIO;
	}
	c->state = RCONN_UP;
	r->backoff_ns[c->ent] = 0;
	publish_up(r, c->ent);
	DWCP_INFO("svc-rdma: connected to %s on %s: chunks to it travel by RDMA",
		  peer_ent(r, c->ent)->addr, r->dev_name);
	return 0;
}

/* Accepting end, CONNECT_REQUEST: bounded, keyed, on our device. @return 0 accepted. */
static int accept_in(struct rdma_svc *r, struct rdma_cm_event *ev)
{
	uint8_t acc[RDMA_RC_ACCEPT_LEN];
	struct rdma_conn_param cp = { .responder_resources = 1, .initiator_depth = 1, .rnr_retry_count = 7,
				      .private_data = acc, .private_data_len = sizeof(acc) };
	struct dwcp_err err = { 0 };
	struct rconn *c;

	if (r->n_unauth >= RDMA_MAX_UNAUTH || ev->id->verbs != r->dev.verbs || !(c = conn_new(r)))
		return -EBUSY;
	if (rdma_rc_conn_setup(&c->rc, &r->dev, ev->id, RDMA_GRANTS, 0, &err))
		return err.code;
	c->id = ev->id;
	c->opened_ns = dwcp_now_ns();
	c->state = RCONN_WAIT_AUTH;   /* (counted below: conn_close uncounts it) */
	r->n_unauth++;
	if (conn_watch(r, c) || rdma_rc_auth_init(&c->auth, r->key) ||
	    rdma_rc_auth_accept(&c->auth, ev->param.conn.private_data, ev->param.conn.private_data_len, acc)) {
		c->id = NULL;   /* the caller rejects and destroys it, so its QP goes first, here */
		conn_close(r, c, EPROTO, "not a DWCP connection request", false);
		return -EPROTO;
	}
	rdma_rc_conn_require_auth(&c->rc, &c->auth);
	ev->id->context = c;
	if (rdma_accept(ev->id, &cp)) {
		c->id = NULL;
		conn_close(r, c, errno, "rdma_accept failed", false);
		return -EIO;
	}
	return 0;
}

/* Accepting end: the peer proved the key for a session; tie the
 * connection to svc-net's incoming peer of that session. */
static int bind_session(struct rdma_svc *r, struct rconn *c)
{
	const struct dwcp_shm *shm = &r->ctx->at.shm;

	memcpy(c->session, c->rc.auth.session, sizeof(c->session));
	for (int i = 0; i < DWCP_MAX_PEERS; i++) {
		struct dwcp_peer_ent e;

		if (dwcp_peers_read(shm, i, &e) == 0 && e.dir == DWCP_PEER_IN && e.conns &&
		    memcmp(e.session, c->session, sizeof(c->session)) == 0) {
			c->ent = i;
			c->state = RCONN_UP;
			if (r->n_unauth)
				r->n_unauth--;
			publish_up(r, i);
			DWCP_INFO("svc-rdma: %s (%s) connected: its chunks arrive by RDMA", e.name, e.addr);
			return 0;
		}
	}
	return -ENOENT;
}

static void on_cm_event(struct rdma_svc *r, struct rdma_cm_event *ev)
{
	struct rconn *c = ev->event == RDMA_CM_EVENT_CONNECT_REQUEST ? NULL : ev->id->context;

	if (c && c->state == RCONN_REAPING)
		c = NULL;   /* being torn down: nothing more to do with it */
	struct rdma_cm_id *reject = NULL;
	const char *why = NULL;
	int err = 0;

	switch (ev->event) {
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		if (accept_in(r, ev)) {
			rdma_reject(ev->id, NULL, 0);
			reject = ev->id;
		}
		break;
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (c && rdma_resolve_route(c->id, 2000)) {
			err = errno;
			why = "cannot resolve a route to the peer";
		}
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		if (c)
			err = connect_route(r, c, &why);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (c && c->outgoing)
			err = connect_established(r, c, ev->param.conn.private_data,
						  ev->param.conn.private_data_len, &why);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
		err = EHOSTUNREACH;
		why = "no RDMA route to the peer";
		break;
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		err = ETIMEDOUT;
		why = "the peer's RDMA device does not answer";
		break;
	case RDMA_CM_EVENT_REJECTED:
		err = ECONNREFUSED;
		why = "the peer refused (no svc-rdma listening there, or it is full)";
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		err = ECONNRESET;
		why = "the peer disconnected";
		break;
	default:
		break;
	}
	rdma_ack_cm_event(ev);
	if (reject)
		rdma_destroy_id(reject);
	if (c && (err || why))
		conn_close(r, c, err ? err : EIO, why ? why : "failed", true);
}

/* ---- data ---- */

int rdma_conn_write(struct rdma_svc *r, uint32_t idx, struct dwcp_buf_hdr *h)
{
	const struct dwcp_peer_ent *e;
	int ent = (int)h->result;

	if (!r || !(e = peer_ent(r, ent)))
		return h->result = ENOTCONN, DWCP_BUF_OK;
	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++) {
		struct rconn *c = &r->conns[i];

		if (c->state != RCONN_UP || !c->outgoing || c->ent != ent)
			continue;
		/* chunks of another svc-net session would land at a peer that no longer waits for them */
		if (memcmp(e->session, c->session, sizeof(c->session)))
			break;
		if (c->wq_tail - c->wq_head >= RDMA_WQ_CAP)
			return h->result = ENOBUFS, DWCP_BUF_OK;
		c->wq[c->wq_tail++ % RDMA_WQ_CAP] = (struct rconn_item){ .idx = idx };
		return DWCP_SVC_KEEP;
	}
	return h->result = ENOTCONN, DWCP_BUF_OK;
}

/* Post what waits while grants and send-queue room last. */
static unsigned pump(struct rdma_svc *r, struct rconn *c)
{
	unsigned n = 0;

	while (c->wq_post != c->wq_tail) {
		struct rconn_item *it = &c->wq[c->wq_post % RDMA_WQ_CAP];
		const struct dwcp_buf_hdr *h = dwcp_shm_hdr(&r->ctx->at.shm, it->idx);
		/* signal the last write that can go now, or its end is never seen */
		bool last = c->wq_post + 1 == c->wq_tail || c->rc.held_tail - c->rc.held_head == 1;
		int rc = rdma_rc_write(&c->rc, region_off(r, it->idx), h->len, last);

		if (rc == -EMSGSIZE) {
			/* larger than the peer lends: it goes by TCP (keep the ring's order) */
			it->err = EMSGSIZE;
			it->ticket = c->rc.sq_posted;
		} else if (rc) {
			break;
		} else {
			it->ticket = c->rc.sq_posted;
			n++;
			/* A post is work done, and on Soft-RoCE it is the write
			 * itself (the kernel moves the bytes before the call
			 * returns): a turn that posts a send queue's worth took
			 * over the 1 s heartbeat limit in the TCG guest, and the
			 * supervisor killed a svc-rdma that was busy, not hung. */
			dwcp_svc_heartbeat(r->ctx);
		}
		c->wq_post++;
	}
	return n;
}

/* Chunks whose writes completed go back to svc-net. */
static unsigned sent_back(struct rdma_svc *r, struct rconn *c)
{
	struct dwcp_peer_ent *e = peer_ent(r, c->ent);
	unsigned n = 0;

	while (c->wq_head != c->wq_post && c->wq[c->wq_head % RDMA_WQ_CAP].ticket <= c->rc.sq_done) {
		const struct rconn_item *it = &c->wq[c->wq_head++ % RDMA_WQ_CAP];
		uint32_t idx = it->idx, len = dwcp_shm_hdr(&r->ctx->at.shm, idx)->len;

		if (it->err) {
			hand_back(r, idx, it->err);
			continue;
		}
		if (e) {
			dwcp_peers_add(&e->rdma_chunks, 1);
			dwcp_peers_add(&e->rdma_bytes, len);
		}
		hand_back(r, idx, 0);
		n++;
	}
	return n;
}

/* The svc-net worker that has the incoming peer of entry @p e: the one
 * the entry names when that slot works for svc-net, else the first. */
static unsigned net_slot_of(const struct rdma_svc *r, const struct dwcp_peer_ent *e)
{
	unsigned s = e ? __atomic_load_n(&e->net_slot, __ATOMIC_RELAXED) : 0;

	return s && s < DWCP_MAX_SLOTS && dwcp_route_service_of(&r->ctx->at.shm, s) == DWCP_SLOT_NET ?
	       s : DWCP_SLOT_NET;
}

/* A chunk landed in lent buffer @p idx: svc-net gives it the receive program. */
static void deliver(struct rdma_svc *r, struct rconn *c, uint32_t idx, uint32_t len)
{
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(&r->ctx->at.shm, idx);
	struct dwcp_peer_ent *e = peer_ent(r, c->ent);

	memset((uint8_t *)h + sizeof(h->owner), 0, sizeof(*h) - sizeof(h->owner));
	h->len = len;
	h->wire_len = len;
	h->t_submit_ns = dwcp_now_ns();
	h->origin = (uint64_t)c->ent;
	memcpy(&h->result, c->session, sizeof(h->result));
	/* To the svc-net worker whose peer has the session (ipc/peers.h). */
	h->prog[0] = dwcp_prog_step_pinned(net_slot_of(r, e), DWCP_OP_RDMA_RX);
	h->prog_len = 1;
	if (e) {
		dwcp_peers_add(&e->rdma_chunks, 1);
		dwcp_peers_add(&e->rdma_bytes, len);
	}
	dwcp_svc_submit(r->ctx, idx);
}

/* Keep RDMA_GRANTS buffers lent; not while svc-net's link is full (what
 * lands must be handed on, and the runtime parks only so much). */
static unsigned refill(struct rdma_svc *r, struct rconn *c)
{
	unsigned n = 0;

	for (unsigned s = 0; s < RDMA_GRANTS && c->n_lent < RDMA_GRANTS && !dwcp_svc_backlog(r->ctx); s++) {
		uint32_t idx;

		if (c->lent[s] != RDMA_NO_BUF)
			continue;
		if (dwcp_svc_alloc(r->ctx, &idx))
			break;
		if (rdma_rc_grant(&c->rc, s, region_off(r, idx), r->ctx->at.shm.buf_size)) {
			dwcp_svc_free(r->ctx, idx);
			break;
		}
		c->lent[s] = idx;
		c->n_lent++;
		n++;
	}
	return n;
}

/* Completions of one connection (the waker saw its channel fire).
 * @return work done, or -1 when it was closed. */
static int conn_completions(struct rdma_svc *r, struct rconn *c)
{
	struct rdma_rc_ev ev[64];
	struct ibv_cq *cq;
	void *cq_ctx;
	int n, work = 0;

	/* Take the channel's events and re-arm before polling, so a
	 * completion after the poll wakes the waker again. */
	while (ibv_get_cq_event(c->rc.ch, &cq, &cq_ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
	}
	while ((n = rdma_rc_poll(&c->rc, ev, 64)) > 0) {
		dwcp_svc_heartbeat(r->ctx);   /* as in pump(): busy, not hung */
		for (int i = 0; i < n; i++) {
			switch (ev[i].type) {
			case RDMA_RC_EV_DEAD:
				conn_close(r, c, EPIPE, c->state == RCONN_WAIT_AUTH ?
					   "the peer did not prove it holds this node's key" :
					   "a work request failed (the peer died or broke the protocol)", true);
				return -1;
			case RDMA_RC_EV_AUTHED:
				if (bind_session(r, c)) {
					conn_close(r, c, ENOENT, "no TCP connection of the session it names", true);
					return -1;
				}
				break;
			case RDMA_RC_EV_DATA:
				if (ev[i].slot < RDMA_GRANTS && c->lent[ev[i].slot] != RDMA_NO_BUF) {
					deliver(r, c, c->lent[ev[i].slot], ev[i].len);
					c->lent[ev[i].slot] = RDMA_NO_BUF;
					c->n_lent--;
				}
				break;
			default:
				break;
			}
			work++;
		}
	}
	if (n < 0) {
		conn_close(r, c, EIO, "its completion queue failed", true);
		return -1;
	}
	return work;
}

/* What an up connection can do without a completion: chunks that came
 * from svc-net written, buffers lent again once svc-net's link has room. */
static unsigned conn_work(struct rdma_svc *r, struct rconn *c)
{
	unsigned work = 0;

	if (c->state != RCONN_UP)
		return 0;
	if (!c->outgoing)
		return refill(r, c);
	work += sent_back(r, c);
	work += pump(r, c);
	/* EMSGSIZE items were skipped by pump: hand back in order */
	return work + sent_back(r, c);
}

/* Every 100 ms: connect to peers svc-net talks to, drop stale or slow connections. */
static unsigned timers(struct rdma_svc *r, uint64_t now)
{
	const struct dwcp_shm *shm = &r->ctx->at.shm;
	bool has[DWCP_MAX_PEERS] = { false };
	unsigned work = 0;

	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++) {
		struct rconn *c = &r->conns[i];
		const struct dwcp_peer_ent *e;

		if (c->state == RCONN_FREE)
			continue;
		if (c->state == RCONN_REAPING) {
			if (c->outgoing)
				has[c->ent] = true;   /* no second connection before this one is gone */
			continue;
		}
		if (c->state != RCONN_UP && now - c->opened_ns > RDMA_DEADLINE_NS) {
			conn_close(r, c, ETIMEDOUT, c->outgoing ? "connecting took too long" :
				   "the peer did not prove it holds the key in time", true);
			work++;
			continue;
		}
		if (!c->outgoing)
			continue;
		has[c->ent] = true;
		e = peer_ent(r, c->ent);
		if (c->state == RCONN_UP && memcmp(e->session, c->session, sizeof(c->session))) {
			/* svc-net restarted (a new session): connect again for it */
			conn_close(r, c, 0, "svc-net's session changed", true);
			work++;
		}
	}
	if (!r->keyed)
		return work;
	/* An upgrade's old generation may still hold the port: listen once it is gone. */
	if (!r->listen_id && r->listen_wanted && now >= r->next_listen_ns) {
		char why[256];

		r->next_listen_ns = now + RDMA_BACKOFF_MIN_NS;
		if (rdma_conn_listen(r, why, sizeof(why)) == 0)
			work++;
	}
	for (int i = 0; i < DWCP_MAX_PEERS; i++) {
		struct dwcp_peer_ent e;
		static const uint8_t zero[RDMA_RC_SESSION_LEN];

		if (has[i] || now < r->next_try_ns[i] || dwcp_peers_read(shm, i, &e) ||
		    e.dir != DWCP_PEER_OUT || !e.conns || !memcmp(e.session, zero, sizeof(zero)))
			continue;
		connect_out(r, i, &e, now);
		work++;
	}
	return work;
}

unsigned rdma_conn_poll(struct rdma_svc *r, uint64_t now)
{
	struct rdma_cm_event *ev;
	unsigned work = 0;
	uint64_t ready;

	while (r->ec && rdma_get_cm_event(r->ec, &ev) == 0) {
		on_cm_event(r, ev);
		work++;
	}
	/* Completion channels only where the waker saw one fire: no read
	 * of every channel every turn. */
	ready = __atomic_exchange_n(&r->cq_ready, 0, __ATOMIC_ACQ_REL);
	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++) {
		struct rconn *c = &r->conns[i];
		int w = 0;

		if (c->state == RCONN_FREE || c->state == RCONN_REAPING || !c->rc_ready)
			continue;
		if (ready & (1ull << i))
			w = conn_completions(r, c);
		if (w >= 0)
			work += (unsigned)w + conn_work(r, c);
	}
	work += reaped(r);
	if (now >= r->next_timer_ns) {
		r->next_timer_ns = now + RDMA_TIMER_NS;
		work += timers(r, now);
	}
	return work;
}

void rdma_conn_close_all(struct rdma_svc *r)
{
	if (r->reaper_running) {
		/* it tears down what it was given, then ends */
		pthread_mutex_lock(&r->reap_mu);
		r->reap_stop = true;
		pthread_cond_signal(&r->reap_cv);
		pthread_mutex_unlock(&r->reap_mu);
		pthread_join(r->reaper, NULL);
		r->reaper_running = false;
	}
	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++) {
		struct rconn *c = &r->conns[i];

		if (c->state == RCONN_REAPING)
			conn_finish(r, c, false);
		else if (c->state != RCONN_FREE)
			conn_close(r, c, ECONNRESET, "svc-rdma stops", false);
	}
	if (r->listen_id)
		rdma_destroy_id(r->listen_id);
	r->listen_id = NULL;
}
