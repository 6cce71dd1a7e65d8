/* svc-rdma's RC transport core (rc.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "rc.h"

#define WIRE_GRANT 0x47524e54u         /* "GRNT" */
#define WIRE_AUTH  0x41555448u         /* "AUTH" */

/* A control message as it travels (big-endian fields). */
struct rdma_rc_wire {
	uint32_t type;
	uint32_t slot;
	uint64_t addr;
	uint32_t rkey;
	uint32_t len;
	uint8_t session[RDMA_RC_SESSION_LEN];   /* AUTH */
	uint8_t mac[RDMA_RC_MAC_LEN];   /* AUTH */
};

/* wr_id of a send-queue work request: what it was, its slot, and how many
 * posted work requests its completion accounts for (selective signalling). */
enum wr_kind { WR_BIND = 1, WR_MSG, WR_WRITE, WR_INV };

static uint64_t wr_id(enum wr_kind k, unsigned covers, uint32_t slot)
{
	return (uint64_t)k << 56 | (uint64_t)covers << 32 | slot;
}

/* 0 for a receive (its wr_id is a receive buffer's index) */
static enum wr_kind wr_kind(uint64_t id) { return (enum wr_kind)(id >> 56); }
static unsigned wr_covers(uint64_t id) { return (unsigned)(id >> 32) & 0xffffu; }
static uint32_t wr_slot(uint64_t id) { return (uint32_t)id; }

static int post_recv(struct rdma_rc_dev *d, unsigned i)
{
	struct ibv_sge sge = { (uintptr_t)&d->rx[i], sizeof(d->rx[i]), d->rx_mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_srq_recv(d->srq, &wr, &bad) ? -EIO : 0;
}

int rdma_rc_dev_open(struct rdma_rc_dev *d, struct ibv_context *verbs, void *base, size_t len,
		     struct dwcp_err *err)
{
	struct ibv_device_attr attr;

	memset(d, 0, sizeof(*d));
	if (ibv_query_device(verbs, &attr))
		return dwcp_err_set(err, -errno, "RDMA device %s: cannot query it: %s",
				    ibv_get_device_name(verbs->device), strerror(errno));
	if (!(attr.device_cap_flags & (IBV_DEVICE_MEM_WINDOW_TYPE_2A | IBV_DEVICE_MEM_WINDOW_TYPE_2B)))
		return dwcp_err_set(err, -EOPNOTSUPP,
				    "RDMA device %s has no type 2 memory windows: a receiver could not lend one buffer alone, so RDMA stays off (TCP is used)",
				    ibv_get_device_name(verbs->device));
	d->verbs = verbs;
	d->base = base;
	d->len = len;
	d->pd = ibv_alloc_pd(verbs);
	if (!d->pd)
		return dwcp_err_set(err, -ENOMEM, "RDMA device %s: no protection domain", ibv_get_device_name(verbs->device));
	/* No remote access through the MR itself: only through windows. */
	d->mr = ibv_reg_mr(d->pd, base, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
	if (!d->mr) {
		int e = errno;

		ibv_dealloc_pd(d->pd);
		d->pd = NULL;
		return dwcp_err_set(err, -e, "RDMA device %s: cannot register %zu MiB: %s%s",
				    ibv_get_device_name(verbs->device), len >> 20, strerror(e),
				    e == ENOMEM ? " (raise the memlock limit: ulimit -l unlimited, LimitMEMLOCK=infinity)" : "");
	}
	{
		struct ibv_srq_init_attr sa = { .attr = { .max_wr = RDMA_RC_SRQ_DEPTH, .max_sge = 1 } };

		d->srq = ibv_create_srq(d->pd, &sa);
		d->rx = calloc(RDMA_RC_SRQ_DEPTH, sizeof(*d->rx));
		d->rx_mr = d->rx ? ibv_reg_mr(d->pd, d->rx, RDMA_RC_SRQ_DEPTH * sizeof(*d->rx), IBV_ACCESS_LOCAL_WRITE)
				 : NULL;
		for (unsigned i = 0; d->srq && d->rx_mr && i < RDMA_RC_SRQ_DEPTH; i++)
			if (post_recv(d, i)) {
				ibv_destroy_srq(d->srq);
				d->srq = NULL;
			}
	}
	if (!d->srq || !d->rx_mr) {
		int e = errno ? errno : ENOMEM;

		rdma_rc_dev_close(d);
		return dwcp_err_set(err, -e, "RDMA device %s: cannot create its shared receive queue of %u: %s",
				    ibv_get_device_name(verbs->device), RDMA_RC_SRQ_DEPTH, strerror(e));
	}
	return 0;
}

void rdma_rc_dev_close(struct rdma_rc_dev *d)
{
	if (d->srq)
		ibv_destroy_srq(d->srq);
	if (d->rx_mr)
		ibv_dereg_mr(d->rx_mr);
	free(d->rx);
	if (d->mr)
		ibv_dereg_mr(d->mr);
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	memset(d, 0, sizeof(*d));
}

/* Post one send-queue work request, signalled when it must be: every
 * RDMA_RC_SIGNAL_EVERY, when @p force, or when the queue is half full (so
 * that it never fills with work requests no completion accounts for). */
static int post_send(struct rdma_rc_conn *c, struct ibv_send_wr *wr, enum wr_kind k, uint32_t slot, bool force)
{
	struct ibv_send_wr *bad;

	if (c->dead)
		return -EIO;
	if (c->sq_out + 1 > c->sq_depth)
		return -ENOBUFS;
	c->unsignalled++;
	if (force || c->unsignalled >= RDMA_RC_SIGNAL_EVERY || c->sq_out + 1 >= c->sq_depth / 2) {
		wr->send_flags |= IBV_SEND_SIGNALED;
		wr->wr_id = wr_id(k, c->unsignalled, slot);
		c->unsignalled = 0;
	} else {
		wr->wr_id = wr_id(k, 0, slot);
	}
	if (ibv_post_send(c->qp, wr, &bad)) {
		c->unsignalled = 0;
		return -EIO;
	}
	c->sq_out++;
	c->sq_posted++;
	return 0;
}

int rdma_rc_conn_setup(struct rdma_rc_conn *c, struct rdma_rc_dev *d, struct rdma_cm_id *id, unsigned n_slots,
		       unsigned held, struct dwcp_err *err)
{
	struct ibv_qp_init_attr qa = { 0 };
	const char *what = "completion channel";
	int flags;

	memset(c, 0, sizeof(*c));
	if (n_slots > RDMA_RC_MAX_SLOTS || held > RDMA_RC_MAX_SLOTS)
		return dwcp_err_set(err, -EINVAL, "at most %u grants a connection", RDMA_RC_MAX_SLOTS);
	c->dev = d;
	c->id = id;
	c->n_slots = n_slots;
	c->held_cap = held + 1;
	/* each grant: a bind, a GRANT and an invalidation; each write: one */
	c->sq_depth = 3u * n_slots + held + 2u * RDMA_RC_SIGNAL_EVERY;
	c->ch = ibv_create_comp_channel(d->verbs);
	if (c->ch) {
		flags = fcntl(c->ch->fd, F_GETFL);
		fcntl(c->ch->fd, F_SETFL, flags | O_NONBLOCK);
		what = "completion queue";
		/* receives: the writes and grants this connection's peer may send */
		c->cq = ibv_create_cq(d->verbs, (int)(c->sq_depth + n_slots + held + 16u), c, c->ch, 0);
	}
	if (c->cq && !ibv_req_notify_cq(c->cq, 0)) {
		qa.send_cq = qa.recv_cq = c->cq;
		qa.qp_type = IBV_QPT_RC;
		qa.cap.max_send_wr = c->sq_depth;
		qa.srq = d->srq;
		qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
		qa.cap.max_inline_data = sizeof(struct rdma_rc_wire);
		what = "queue pair";
		if (!rdma_create_qp(id, d->pd, &qa))
			c->qp = id->qp;
	}
	if (c->qp) {
		what = "grant tables";
		c->slots = calloc(n_slots ? n_slots : 1, sizeof(*c->slots));
		c->held = calloc(c->held_cap, sizeof(*c->held));
	}
	if (!c->qp || !c->slots || !c->held)
		goto fail;
	what = "memory windows";
	for (unsigned i = 0; i < n_slots; i++)
		if (!(c->slots[i].mw = ibv_alloc_mw(d->pd, IBV_MW_TYPE_2)))
			goto fail;
	return 0;
fail:
	{
		int e = errno ? errno : ENOMEM;

		rdma_rc_conn_destroy(c, NULL);
		return dwcp_err_set(err, -e, "RDMA connection: cannot create its %s: %s", what, strerror(e));
	}
}

unsigned rdma_rc_conn_destroy(struct rdma_rc_conn *c, uint64_t *granted)
{
	struct ibv_qp_attr err = { .qp_state = IBV_QPS_ERR };
	unsigned n = 0;

	/* Stop the QP first: from then on no window bound to it admits a
	 * write. The windows go before the QP itself: a bound window holds a
	 * reference to its QP, and destroying the QP first stalled a teardown
	 * after the peer died for over a second on rxe (docs/rdma.md). */
	if (c->qp)
		ibv_modify_qp(c->qp, &err, IBV_QP_STATE);
	for (unsigned i = 0; c->slots && i < c->n_slots; i++) {
		struct rdma_rc_slot *s = &c->slots[i];

		if (s->state != RC_SLOT_FREE) {
			if (granted)
				granted[n] = s->off;
			n++;
		}
		if (s->mw)
			ibv_dealloc_mw(s->mw);
	}
	if (c->qp)
		rdma_destroy_qp(c->id);
	c->qp = NULL;
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->ch)
		ibv_destroy_comp_channel(c->ch);
	free(c->slots);
	free(c->held);
	memset(c, 0, sizeof(*c));
	return n;
}

void rdma_rc_conn_require_auth(struct rdma_rc_conn *c, const struct rdma_rc_auth *auth)
{
	c->need_auth = true;
	c->authed = false;
	c->auth = *auth;
}

/* One control message, inline. */
static int send_wire(struct rdma_rc_conn *c, struct rdma_rc_wire *w, uint32_t slot)
{
	struct ibv_sge sge = { (uintptr_t)w, sizeof(*w), 0 };
	struct ibv_send_wr msg = { 0 };

	msg.opcode = IBV_WR_SEND;
	msg.sg_list = &sge;
	msg.num_sge = 1;
	msg.send_flags = IBV_SEND_INLINE;
	return post_send(c, &msg, WR_MSG, slot, false);
}

int rdma_rc_send_auth(struct rdma_rc_conn *c, const uint8_t mac_c[RDMA_RC_MAC_LEN],
		      const uint8_t session[RDMA_RC_SESSION_LEN])
{
	struct rdma_rc_wire w = { .type = htonl(WIRE_AUTH) };

	memcpy(w.mac, mac_c, RDMA_RC_MAC_LEN);
	memcpy(w.session, session, RDMA_RC_SESSION_LEN);
	return send_wire(c, &w, 0);
}

int rdma_rc_grant(struct rdma_rc_conn *c, unsigned slot, uint64_t off, uint32_t len)
{
	struct rdma_rc_slot *s;
	struct ibv_send_wr bind = { 0 };
	struct rdma_rc_wire w = { 0 };
	uint32_t rkey;
	int rc;

	if (c->need_auth && !c->authed)
		return -EACCES;
	if (slot >= c->n_slots || off + len > c->dev->len || len == 0)
		return -EINVAL;
	s = &c->slots[slot];
	if (s->state != RC_SLOT_FREE)
		return -EBUSY;
	if (c->sq_out + 2 > c->sq_depth)
		return -ENOBUFS;
	rkey = ibv_inc_rkey(s->mw->rkey);   /* a new key for every lending */
	bind.opcode = IBV_WR_BIND_MW;
	bind.bind_mw.mw = s->mw;
	bind.bind_mw.rkey = rkey;
	bind.bind_mw.bind_info.mr = c->dev->mr;
	bind.bind_mw.bind_info.addr = (uintptr_t)(c->dev->base + off);
	bind.bind_mw.bind_info.length = len;
	bind.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;
	rc = post_send(c, &bind, WR_BIND, slot, false);
	if (rc)
		return rc;
	s->mw->rkey = rkey;
	s->off = off;
	s->len = len;
	s->state = RC_SLOT_GRANTED;
	/* After the bind on the same queue: the peer learns the key only once it works. */
	w.type = htonl(WIRE_GRANT);
	w.slot = htonl(slot);
	w.addr = htobe64((uintptr_t)(c->dev->base + off));
	w.rkey = htonl(rkey);
	w.len = htonl(len);
	return send_wire(c, &w, slot);
}

const struct rdma_rc_grant *rdma_rc_held(const struct rdma_rc_conn *c)
{
	return c->held_head == c->held_tail ? NULL : &c->held[c->held_head % c->held_cap];
}

int rdma_rc_write(struct rdma_rc_conn *c, uint64_t off, uint32_t len, bool signal)
{
	const struct rdma_rc_grant *g = rdma_rc_held(c);
	struct ibv_sge sge = { (uintptr_t)(c->dev->base + off), len, c->dev->mr->lkey };
	struct ibv_send_wr wr = { 0 };
	int rc;

	if (c->dead)
		return -EIO;
	if (!g)
		return -ENOBUFS;
	if (len > g->len || off + len > c->dev->len)
		return -EMSGSIZE;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.imm_data = htonl(g->slot);
	wr.wr.rdma.remote_addr = g->addr;
	wr.wr.rdma.rkey = g->rkey;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	rc = post_send(c, &wr, WR_WRITE, g->slot, signal);
	if (rc == 0)
		c->held_head++;
	return rc;
}

/* The peer's write into slot @p slot is placed: take the window back
 * before the buffer moves on. */
static int on_imm(struct rdma_rc_conn *c, uint32_t slot, uint32_t len)
{
	struct ibv_send_wr inv = { 0 };
	struct rdma_rc_slot *s;

	if (slot >= c->n_slots || c->slots[slot].state != RC_SLOT_GRANTED || len > c->slots[slot].len)
		return -EPROTO;   /* an immediate for no grant of ours: a broken or hostile peer */
	s = &c->slots[slot];
	s->got = len;
	inv.opcode = IBV_WR_LOCAL_INV;
	inv.invalidate_rkey = s->mw->rkey;
	s->state = RC_SLOT_INVALIDATING;
	return post_send(c, &inv, WR_INV, slot, true);
}

/* @return 1: a GRANT taken; 2: the peer authenticated; <0: a protocol breach. */
static int on_message(struct rdma_rc_conn *c, const struct rdma_rc_wire *w, uint32_t len)
{
	struct rdma_rc_grant *g;

	if (len != sizeof(*w))
		return -EPROTO;
	if (c->need_auth && !c->authed) {
		/* the first message must be a proof that holds */
		if (ntohl(w->type) != WIRE_AUTH)
			return -EACCES;
		memcpy(c->auth.session, w->session, RDMA_RC_SESSION_LEN);
		if (!rdma_rc_auth_check(&c->auth, w->mac))
			return -EACCES;
		c->authed = true;
		return 2;
	}
	if (ntohl(w->type) != WIRE_GRANT)
		return -EPROTO;
	if (c->held_tail - c->held_head >= c->held_cap)
		return -EPROTO;   /* more grants than agreed */
	g = &c->held[c->held_tail++ % c->held_cap];
	g->slot = ntohl(w->slot);
	g->addr = be64toh(w->addr);
	g->rkey = ntohl(w->rkey);
	g->len = ntohl(w->len);
	return 1;
}

static void kill_conn(struct rdma_rc_conn *c, struct rdma_rc_ev *ev, unsigned *n, int status)
{
	if (c->dead)
		return;
	c->dead = true;
	ev[(*n)++] = (struct rdma_rc_ev){ .type = RDMA_RC_EV_DEAD, .status = status };
}

int rdma_rc_poll(struct rdma_rc_conn *c, struct rdma_rc_ev *ev, unsigned max)
{
	struct ibv_wc wc[16];
	unsigned n = 0;
	int got = 0;

	/* Each completion makes at most one event (a dead connection one more):
	 * take no more than there is room for. */
	while (n + 2 <= max && (got = ibv_poll_cq(c->cq, (int)((max - n - 1) < 16 ? max - n - 1 : 16), wc)) > 0) {
		for (int i = 0; i < got; i++) {
			const struct ibv_wc *w = &wc[i];

			/* (a failed completion's opcode is undefined: its wr_id says) */
			if (wr_kind(w->wr_id)) {
				c->sq_out -= wr_covers(w->wr_id) < c->sq_out ? wr_covers(w->wr_id) : c->sq_out;
				c->sq_done += wr_covers(w->wr_id);
			}
			if (w->status != IBV_WC_SUCCESS) {
				kill_conn(c, ev, &n, w->status);
				continue;
			}
			if (c->dead)
				continue;
			switch (w->opcode) {
			case IBV_WC_RECV_RDMA_WITH_IMM:
				if (post_recv(c->dev, (unsigned)w->wr_id) || on_imm(c, ntohl(w->imm_data), w->byte_len))
					kill_conn(c, ev, &n, IBV_WC_REM_INV_REQ_ERR);
				break;
			case IBV_WC_RECV: {
				/* read before the buffer is posted again; posted again
				 * whatever it said, so the shared queue never shrinks */
				int m = on_message(c, &c->dev->rx[w->wr_id], w->byte_len);
				int r = post_recv(c->dev, (unsigned)w->wr_id);

				if (m < 0 || r)
					kill_conn(c, ev, &n, m == -EACCES ? IBV_WC_REM_ACCESS_ERR : IBV_WC_REM_INV_REQ_ERR);
				else
					ev[n++] = (struct rdma_rc_ev){ .type = m == 2 ? RDMA_RC_EV_AUTHED : RDMA_RC_EV_GRANT };
				break;
			}
			case IBV_WC_LOCAL_INV: {
				struct rdma_rc_slot *s = &c->slots[wr_slot(w->wr_id)];

				s->state = RC_SLOT_FREE;
				ev[n++] = (struct rdma_rc_ev){ .type = RDMA_RC_EV_DATA, .slot = wr_slot(w->wr_id),
							       .len = s->got };
				break;
			}
			case IBV_WC_RDMA_WRITE:
				ev[n++] = (struct rdma_rc_ev){ .type = RDMA_RC_EV_SENT, .len = wr_covers(w->wr_id) };
				break;
			default:
				break;   /* binds and GRANT sends: counted above */
			}
		}
	}
	if (got < 0)
		return -EIO;
	return (int)n;
}

int rdma_rc_wait(struct rdma_rc_conn *c, int timeout_ms)
{
	struct pollfd p = { c->ch->fd, POLLIN, 0 };
	struct ibv_cq *cq;
	void *ctx;
	int rc = poll(&p, 1, timeout_ms);

	if (rc <= 0)
		return rc < 0 ? -errno : 0;
	if (ibv_get_cq_event(c->ch, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
	}
	return 1;
}
