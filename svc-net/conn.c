/* svc-net: sockets, and the bytes on them (net_internal.h).
 *
 * Every socket is non-blocking and registered edge-triggered with the
 * waker's epoll set; the loop reads and writes until EAGAIN, so an edge is
 * never needed twice. Frames are written with one sendmsg per frame (frame
 * header and chunk payload as two iovecs, the payload straight from the
 * hugepage buffer); chunk payloads of at least ZC_MIN bytes go with
 * MSG_ZEROCOPY when the socket accepted SO_ZEROCOPY, and their buffers
 * are held until the kernel reports the send complete on the error queue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/waker.h"
#include "net_internal.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

#define ZC_MIN (16u * 1024u)  /* below this, pinning pages costs more than the copy */
#define EP_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

static void set_sockopts(struct net *n, int fd)
{
	const struct dwcp_node_conf *cf = n->conf;
	int one = 1, buf = (int)cf->sockbuf;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A peer that vanished without a FIN (power loss, a dropped path)
	 * must not hold a connection slot for ever. */
	{
		int idle = 60, intvl = 10, cnt = 6;

		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	}
	/* FORCE (root) may exceed net.core.{w,r}mem_max; plain is capped by it. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (cf->congestion[0] &&
	    setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cf->congestion, strlen(cf->congestion))) {
		if (!n->congestion_warned)
			DWCP_WARN("svc-net: congestion control '%s' unavailable (%s); using the kernel default. For BBR: modprobe tcp_bbr (deploy/modules-load.d)",
				  cf->congestion, strerror(errno));
		n->congestion_warned = true;
	}
	if (cf->busy_poll_us) {
		int us = (int)cf->busy_poll_us;

		setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us));
	}
	if (n->zerocopy && setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one))) {
		DWCP_WARN("svc-net: SO_ZEROCOPY refused (%s); sending with copies", strerror(errno));
		n->zerocopy = false;
	}
}

static int epoll_add(struct net *n, int fd, uint32_t id)
{
	struct epoll_event ev = { .events = EP_EVENTS, .data.u64 = id };

	return epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int net_listen_open(struct net *n, char *reason, size_t reason_len)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct dwcp_err err = { 0 };
	int one = 1, fd;

	n->listen_fd = -1;
	if (!n->conf->listen[0])
		return 0;
	if (dwcp_addr_resolve(n->conf->listen, &ss, &len, &err)) {
		snprintf(reason, reason_len, "listen: %s", err.msg);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Workers listen on the same address, and the kernel spreads the
	 * incoming connections over them by a hash of the 4-tuple. Sockets
	 * of one user with this option share a port silently: the
	 * supervisor made sure at start that no other process listens
	 * there (svc-supervisor/main.c, net_listen_check). */
	if (n->n_workers > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128) || epoll_add(n, fd, NET_LISTEN_ID))
		goto fail;
	n->listen_fd = fd;
	DWCP_INFO("svc-net: listening on %s", n->conf->listen);
	return 0;
fail:
	snprintf(reason, reason_len, "cannot listen on %s: %s", n->conf->listen, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -errno;
}

static int conn_slot(struct net *n)
{
	for (unsigned i = 0; i < NET_MAX_CONNS; i++)
		if (n->conns[i].state == CONN_FREE)
			return (int)i;
	return -1;
}

/* @p fd < 0: a datagram connection on the port (dport.c), no socket. */
static int conn_init(struct net *n, int c, int fd, int peer, bool outgoing, enum conn_state st)
{
	struct net_conn *k = &n->conns[c];

	memset(k, 0, sizeof(*k));
	k->q_cap = 64;
	k->q = calloc(k->q_cap, sizeof(*k->q));
	if (!k->q)
		return -ENOMEM;
	k->fd = fd;
	k->peer = peer;
	k->outgoing = outgoing;
	k->rx_idx = NET_NO_BUF;
	k->hs = HS_WAIT_HELLO;
	k->opened_ns = dwcp_now_ns();
	dwcp_frame_dec_init(&k->dec, n->ctx->at.shm.buf_size);
	if (fd >= 0 && epoll_add(n, fd, (uint32_t)c)) {
		free(k->q);
		return -errno;
	}
	k->state = st;
	n->n_unauth++;
	return 0;
}

/* Make room for one more connection in its handshake: the oldest incoming
 * one still in it goes. A flood of connections that never authenticate
 * then costs a real peer one retry, never its slot. */
void net_conn_evict_unauthenticated(struct net *n)
{
	int oldest = -1;

	for (unsigned i = 0; i < NET_MAX_CONNS; i++) {
		const struct net_conn *k = &n->conns[i];

		if (k->state != CONN_FREE && !k->outgoing && k->hs != HS_DONE &&
		    (oldest < 0 || k->opened_ns < n->conns[oldest].opened_ns))
			oldest = (int)i;
	}
	if (oldest >= 0)
		net_conn_close(n, oldest, "not authenticated, and more connections wait");
}

int net_conn_new_dgram(struct net *n, int peer, bool outgoing)
{
	int c = conn_slot(n), rc;

	if (c < 0)
		return -EMFILE;
	rc = conn_init(n, c, -1, peer, outgoing, outgoing ? CONN_CONNECTING : CONN_UP);
	return rc ? rc : c;
}

int net_conn_open_out(struct net *n, int peer)
{
	struct net_peer *p = &n->peers[peer];
	int c, fd, rc;

	if (n->dport)
		return net_dconn_open_out(n, peer);
	c = conn_slot(n);
	if (c < 0)
		return -EMFILE;
	fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_sockopts(n, fd);
	if (connect(fd, (struct sockaddr *)&p->sa, p->sa_len) && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = conn_init(n, c, fd, peer, true, CONN_CONNECTING);
	if (rc) {
		close(fd);
		return rc;
	}
	net_hello_out(n, c);
	return c;
}

int net_conn_accept(struct net *n)
{
	int accepted = 0;

	for (;;) {
		int fd = accept4(n->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				DWCP_WARN("svc-net: accept: %s", strerror(errno));
			return accepted;
		}
		if (n->n_unauth >= n->max_unauth)
			net_conn_evict_unauthenticated(n);
		c = conn_slot(n);
		if (c < 0) {
			DWCP_WARN("svc-net: %u connections open; refusing one more", NET_MAX_CONNS);
			close(fd);
			continue;
		}
		set_sockopts(n, fd);
		if (conn_init(n, c, fd, -1, false, CONN_UP))
			close(fd);
		else
			accepted++;
	}
}

void net_conn_close(struct net *n, int c, const char *why)
{
	struct net_conn *k = &n->conns[c];
	void *dest;

	if (k->state == CONN_FREE)
		return;
	DWCP_INFO("svc-net: connection %d (%s %s) closed: %s", c, k->outgoing ? "to" : "from",
		  k->peer >= 0 ? n->peers[k->peer].addr : "?", why);
	if (k->dg) {
		net_dconn_free(n, c);   /* its datagram state: nothing reads a buffer after this */
		goto closed;
	}
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	if (k->zc_done < k->zc_sent) {
		/* Reset, not FIN: the kernel would otherwise go on sending the
		 * queued bytes, which are pool buffers (zerocopy) that may be
		 * reused from here on. A reset purges the queue now. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(k->fd);
closed:
	dest = dwcp_frame_dec_reset(&k->dec);
	if (dest && k->rx_idx != NET_NO_BUF)
		dwcp_svc_free(n->ctx, k->rx_idx);
	k->rx_idx = NET_NO_BUF;
	/* What was queued or sent here goes back to the peer (amst.c). */
	net_on_conn_lost(n, c);
	if (k->hs != HS_DONE) {
		n->n_unauth--;
		/* We proved ourselves and the peer left instead of answering:
		 * it did not accept our key. */
		if (k->hs == HS_WAIT_AUTH && !k->outgoing)
			__atomic_fetch_add(&n->ctx->at.shm.node->auth_failures, 1, __ATOMIC_RELAXED);
	}
	free(k->q);
	k->q = NULL;
	k->state = CONN_FREE;
	if (k->peer >= 0) {
		struct dwcp_peer_ent *ps = net_peer_stat(n, k->peer);

		if (ps && k->outgoing && k->hs != HS_DONE)
			dwcp_peers_add(&ps->connect_failures, 1);
		net_peer_stat_update(n, k->peer);
	}
}

static struct txq_item *queue_push(struct net_conn *k)
{
	if (k->q_tail - k->q_head == k->q_cap) {
		struct txq_item *q = calloc(2u * k->q_cap, sizeof(*q));

		if (!q)
			return NULL;
		for (uint32_t i = 0; i < k->q_cap; i++)
			q[i] = k->q[(k->q_head + i) % k->q_cap];
		free(k->q);
		k->q = q;
		k->q_tail -= k->q_head;
		k->q_head = 0;
		k->q_cap *= 2;
	}
	return &k->q[k->q_tail++ % k->q_cap];
}

void net_conn_queue_small(struct net *n, int c, const void *bytes, size_t len)
{
	struct txq_item *it = queue_push(&n->conns[c]);

	if (!it || len > NET_SMALL_MAX) {
		net_conn_close(n, c, "out of memory for the send queue");
		return;
	}
	it->idx = NET_NO_BUF;
	it->small_len = (uint16_t)len;
	memcpy(it->small, bytes, len);
}

void net_conn_queue_chunk(struct net *n, int c, uint32_t idx)
{
	struct txq_item *it = queue_push(&n->conns[c]);
	uint32_t len = dwcp_shm_hdr(&n->ctx->at.shm, idx)->len;

	if (!it) {
		net_conn_close(n, c, "out of memory for the send queue");
		return;
	}
	it->idx = idx;
	it->small_len = (uint16_t)dwcp_frame_encode_hdr(it->small, DWCP_FRAME_CHUNK, len);
}

/* Wire bytes to or from peer @p p (none before an incoming HELLO). No
 * clock read here, on every send and read: last_ns matters only for a
 * peer without connections, and the last close sets it. */
static void peer_count_bytes(struct net *n, int p, bool tx, uint64_t v)
{
	struct dwcp_peer_ent *ps = net_peer_stat(n, p);

	if (ps)
		dwcp_peers_add(tx ? &ps->tx_bytes : &ps->rx_bytes, v);
}

/* The head item is written: a chunk is now on the wire (amst.c's state). */
void net_conn_item_sent(struct net *n, int c, const struct txq_item *it)
{
	struct dwcp_peer_ent *ps;
	struct inflight *f;

	if (it->idx == NET_NO_BUF)
		return;
	f = &n->fl[it->idx];
	dwcp_shm_hdr(&n->ctx->at.shm, it->idx)->wire_len += it->small_len +
		dwcp_shm_hdr(&n->ctx->at.shm, it->idx)->len;
	net_fl_set_state(n, it->idx, FL_SENT);
	f->conn = (int16_t)c;
	f->sent_ns = dwcp_now_ns();
	ps = net_peer_stat(n, n->conns[c].peer);
	if (ps)
		dwcp_peers_add(&ps->chunks_sent, 1);
}

/* May buffer @p idx go out with MSG_ZEROCOPY on @p c? Only while no
 * zerocopy send of it on another connection is outstanding: one reference
 * per buffer is tracked (sends on one socket complete in order). */
static bool zc_allowed(const struct net *n, int c, uint32_t idx)
{
	const struct inflight *f = &n->fl[idx];

	return f->zc_conn < 0 || f->zc_conn == c ||
	       n->conns[f->zc_conn].zc_done > f->zc_seq;
}

unsigned net_conn_flush(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	unsigned frames = 0;

	if (k->dg)
		return net_dconn_flush(n, c);
	while (k->state == CONN_UP && !k->tx_blocked && k->q_head != k->q_tail) {
		struct txq_item *it = &k->q[k->q_head % k->q_cap];
		size_t total = it->small_len, off = k->head_off;
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		int flags = MSG_NOSIGNAL | MSG_DONTWAIT;
		uint32_t plen = 0;
		ssize_t w;

		if (it->idx != NET_NO_BUF) {
			plen = dwcp_shm_hdr(&n->ctx->at.shm, it->idx)->len;
			total += plen;
		}
		if (off < it->small_len) {
			iov[mh.msg_iovlen].iov_base = it->small + off;
			iov[mh.msg_iovlen++].iov_len = it->small_len - off;
		}
		if (plen) {
			size_t poff = off > it->small_len ? off - it->small_len : 0;

			iov[mh.msg_iovlen].iov_base = (uint8_t *)dwcp_shm_data(&n->ctx->at.shm, it->idx) + poff;
			iov[mh.msg_iovlen++].iov_len = plen - poff;
			if (n->zerocopy && !k->zc_copied && plen - poff >= ZC_MIN && zc_allowed(n, c, it->idx))
				flags |= MSG_ZEROCOPY;
		}
		w = sendmsg(k->fd, &mh, flags);
		if (w < 0) {
			if (errno == EAGAIN || errno == ENOBUFS) {
				k->tx_blocked = errno == EAGAIN;
				break;
			}
			if (errno == EINTR)
				continue;
			net_conn_close(n, c, strerror(errno));
			return frames;
		}
		if (flags & MSG_ZEROCOPY) {
			n->fl[it->idx].zc_conn = (int16_t)c;
			n->fl[it->idx].zc_seq = k->zc_sent++;
		}
		dwcp_stats_add(n->ctx->stats, DWCP_STAT_TX_BYTES, (uint64_t)w);
		peer_count_bytes(n, k->peer, true, (uint64_t)w);
		k->head_off += (size_t)w;
		if (k->head_off < total)
			continue;
		net_conn_item_sent(n, c, it);
		k->head_off = 0;
		k->q_head++;
		frames++;
	}
	return frames;
}

/* Zerocopy completions: ranges of send numbers the kernel is done with. */
void net_conn_zc_complete(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	bool any = false;

	for (;;) {
		char ctrl[128];
		struct msghdr mh = { .msg_control = ctrl, .msg_controllen = sizeof(ctrl) };
		struct cmsghdr *cm;

		if (recvmsg(k->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			const struct sock_extended_err *ee = (const void *)CMSG_DATA(cm);

			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
				continue;
			if (ee->ee_errno != 0 || ee->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			if ((uint64_t)ee->ee_data + 1 > k->zc_done)
				k->zc_done = (uint64_t)ee->ee_data + 1;
			/* The kernel had to copy (it says so): zerocopy then only
			 * adds pinning, completions and their wakeups, as the
			 * kernel's msg_zerocopy.rst advises. */
			k->zc_copied |= n->zc_auto && (ee->ee_code & SO_EE_CODE_ZEROCOPY_COPIED);
			any = true;
		}
	}
	if (any)
		net_fl_release_waiting(n);
}

static int connect_result(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	int e = 0;
	socklen_t l = sizeof(e);

	getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &l);
	if (e) {
		n->peers[k->peer].last_error = e;
		net_conn_close(n, c, strerror(e));
		return -e;
	}
	k->state = CONN_UP;
	n->peers[k->peer].last_error = 0;
	n->peers[k->peer].backoff_ns = 0;
	return 0;
}

unsigned net_conn_read(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	unsigned work = 0;

	if (k->state == CONN_CONNECTING && connect_result(n, c))
		return 1;
	while (k->state == CONN_UP) {
		struct dwcp_frame f;
		struct dwcp_err err = { 0 };
		int rc = dwcp_frame_dec_next(&k->dec, &f, &err);

		if (rc == DWCP_FRAME_NEED_BYTES) {
			struct iovec iov[2];
			int cnt = dwcp_frame_dec_iov(&k->dec, iov);
			ssize_t r = readv(k->fd, iov, cnt);

			if (r == 0) {
				net_conn_close(n, c, "closed by the peer");
				return work + 1;
			}
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN)
					net_conn_close(n, c, strerror(errno));
				return work;
			}
			dwcp_stats_add(n->ctx->stats, DWCP_STAT_RX_BYTES, (uint64_t)r);
			peer_count_bytes(n, k->peer, false, (uint64_t)r);
			dwcp_frame_dec_got(&k->dec, (size_t)r);
			work++;
		} else if (rc == DWCP_FRAME_NEED_DEST) {
			uint32_t idx;

			/* Not one pool buffer for a connection that has not proved
			 * it holds the key. */
			if (k->hs != HS_DONE || k->outgoing) {
				DWCP_WARN("svc-net: connection %d: a chunk %s; closing it", c,
					  k->outgoing ? "from the receiver" : "before authentication");
				dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
				net_conn_close(n, c, "chunk not allowed here");
				return work + 1;
			}
			/* No buffer, or the runtime is holding outputs it could not
			 * forward: stop reading, TCP pushes back on the sender. */
			if (dwcp_svc_backlog(n->ctx) || dwcp_svc_alloc(n->ctx, &idx)) {
				k->rx_stalled = true;
				return work;
			}
			k->rx_stalled = false;
			k->rx_idx = idx;
			dwcp_frame_dec_set_dest(&k->dec, dwcp_shm_data(&n->ctx->at.shm, idx));
		} else if (rc == DWCP_FRAME_READY) {
			work++;
			if (f.type == DWCP_FRAME_CHUNK) {
				uint32_t idx = k->rx_idx;

				k->rx_idx = NET_NO_BUF;
				net_on_chunk(n, c, idx, f.len);
			} else {
				net_on_frame(n, c, &f);
			}
		} else {
			DWCP_WARN("svc-net: connection %d: bad frame: %s", c, err.msg);
			dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
			net_conn_close(n, c, "bad frame");
			return work + 1;
		}
	}
	return work;
}

/* ---- the waker thread (ipc/waker.h) ---- */

/* Events of the listener or of one connection: the loop takes them. */
static void waker_event(void *arg, uint64_t id, uint32_t events)
{
	struct net *n = arg;

	if (id == NET_LISTEN_ID) {
		__atomic_fetch_or(&n->listen_events, events, __ATOMIC_RELEASE);
	} else if (id < NET_MAX_CONNS) {
		__atomic_fetch_or(&n->conns[id].events, events, __ATOMIC_RELEASE);
		__atomic_fetch_or(&n->ev_ready[id / 64], 1ull << (id % 64), __ATOMIC_RELEASE);
	}
}

int net_waker_start(struct net *n)
{
	n->waker = (struct dwcp_waker){ .epfd = n->epfd, .on_event = waker_event, .arg = n,
					 .pending = &n->pending, .shm = &n->ctx->at.shm,
					 .slot = n->ctx->at.slot };
	return dwcp_waker_start(&n->waker);
}
