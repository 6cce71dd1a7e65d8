/* svc-net: the handshake of every AMST connection (auth.h), and what a
 * node without a key may do.
 *
 * A keyed node proves it holds the key on every connection and asks the
 * same of the other end before the connection may carry a chunk or an
 * answer; an incoming connection gets no peer entry, no pool buffer and
 * no stream lookup before that. A connection still in its handshake after
 * [net] handshake_ms is closed, and no more than [net] max_unauthenticated
 * incoming ones wait at once (the oldest goes), so a flood of idle or
 * half-open connections cannot lock real peers out.
 *
 * Without a key a node speaks to keyless peers only, and listens on a
 * loopback address only unless [crypto] insecure = true: an operator who
 * forgot the key file must not get a node that accepts anybody's bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/keyfile.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/timeutil.h"
#include "net_internal.h"

/* Send a BYE with the reason, then close. */
static void refuse(struct net *n, int c, const char *why)
{
	uint8_t buf[DWCP_FRAME_HDR_LEN + DWCP_FRAME_BYE_MAX];

	DWCP_WARN("svc-net: connection %d: %s", c, why);
	dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
	if (n->conns[c].state == CONN_UP) {
		size_t len = dwcp_frame_encode_bye(buf, why);

		/* Best effort, straight to the socket: the queue may hold a chunk. */
		if (send(n->conns[c].fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* the reason is logged here; the peer sees the close */
		}
	}
	net_conn_close(n, c, why);
}

/* An outgoing connection failed its handshake: say why to `dwcp send`. */
static void refuse_out(struct net *n, int c, int err, const char *why)
{
	int p = n->conns[c].peer;

	if (p >= 0)
		n->peers[p].last_error = err;
	refuse(n, c, why);
}

static void draw_nonce(uint8_t nonce[DWCP_FRAME_NONCE_LEN])
{
	if (getrandom(nonce, DWCP_FRAME_NONCE_LEN, 0) != DWCP_FRAME_NONCE_LEN) {
		/* getrandom cannot fail after boot for 16 bytes; a clock-derived
		 * nonce still differs per connection. */
		uint64_t t = dwcp_now_ns();

		memcpy(nonce, &t, sizeof(t));
		memcpy(nonce + 8, &t, sizeof(t));
	}
}

static void queue_frame_auth(struct net *n, int c, bool server)
{
	struct net_conn *k = &n->conns[c];
	struct dwcp_frame_auth a;
	uint8_t buf[DWCP_FRAME_HDR_LEN + sizeof(a)];

	if (dwcp_amst_auth_proof(n->ka, server, &k->hello_c, &k->hello_s, a.mac))
		memset(a.mac, 0, sizeof(a.mac));   /* the peer refuses it */
	net_conn_queue_small(n, c, buf, dwcp_frame_encode_auth(buf, &a));
}

static void peer_connected(struct net *n, int p)
{
	struct dwcp_peer_ent *ps = net_peer_stat(n, p);

	if (ps)
		dwcp_peers_add(&ps->connects, 1);
	net_peer_stat_update(n, p);
}

/* The handshake is complete: the connection may carry chunks and answers. */
static void conn_ready(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];

	if (n->keyed && dwcp_amst_ackmac_init(&k->ackmac, n->ka, &k->hello_c, &k->hello_s)) {
		refuse(n, c, "cannot set up the answer MAC (libcrypto failed)");
		return;
	}
	k->hs = HS_DONE;
	n->n_unauth--;
	if (k->outgoing) {
		n->peers[k->peer].last_error = 0;
		n->peers[k->peer].backoff_ns = 0;
		peer_connected(n, k->peer);
		net_peer_dispatch(n, k->peer);
		return;
	}
	if (net_peer_in(n, c, &k->hello_c) < 0)
		refuse(n, c, "too many peers, or too many connections from this peer");
	else
		peer_connected(n, k->peer);
}

void net_hello_out(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	const struct net_peer *p = &n->peers[k->peer];
	struct dwcp_frame_hello *h = &k->hello_c;
	uint8_t buf[NET_SMALL_MAX];

	memset(h, 0, sizeof(*h));
	h->proto_version = DWCP_FRAME_PROTO_VERSION;
	snprintf(h->instance, sizeof(h->instance), "%s", n->ctx->at.shm.ctl->instance);
	h->n_conns = (uint16_t)(p->n_conns ? p->n_conns : 1);
	h->conn_index = (uint16_t)(c % h->n_conns);
	memcpy(h->session, p->session, sizeof(h->session));
	h->flags = n->keyed ? DWCP_FRAME_HELLO_F_KEYED : 0;
	draw_nonce(h->nonce);
	net_conn_queue_small(n, c, buf, dwcp_frame_encode_hello(buf, h));
}

/* @return a reason to refuse a peer whose key status differs from ours, or NULL. */
static const char *key_mismatch(const struct net *n, const struct dwcp_frame_hello *h)
{
	bool peer_keyed = h->flags & DWCP_FRAME_HELLO_F_KEYED;

	if (n->keyed && !peer_keyed)
		return "the peer has no key, this node requires one: give both nodes the same [crypto] key_file";
	if (!n->keyed && peer_keyed)
		return "the peer has a key, this node has none: give both nodes the same [crypto] key_file";
	return NULL;
}

static void on_hello_in(struct net *n, int c, const struct dwcp_frame_hello *h)
{
	struct net_conn *k = &n->conns[c];
	uint8_t buf[NET_SMALL_MAX];
	const char *why = key_mismatch(n, h);

	if (why) {
		__atomic_fetch_add(&n->ctx->at.shm.node->auth_failures, 1, __ATOMIC_RELAXED);
		refuse(n, c, why);
		return;
	}
	k->hello_c = *h;
	k->hello_s = *h;
	memset(k->hello_s.instance, 0, sizeof(k->hello_s.instance));
	snprintf(k->hello_s.instance, sizeof(k->hello_s.instance), "%s", n->ctx->at.shm.ctl->instance);
	k->hello_s.flags = n->keyed ? DWCP_FRAME_HELLO_F_KEYED : 0;
	draw_nonce(k->hello_s.nonce);
	net_conn_queue_small(n, c, buf, dwcp_frame_encode_hello(buf, &k->hello_s));
	if (!n->keyed) {
		net_conn_flush(n, c);
		conn_ready(n, c);
		return;
	}
	queue_frame_auth(n, c, true);
	net_conn_flush(n, c);
	k->hs = HS_WAIT_AUTH;
}

static void on_hello_out(struct net *n, int c, const struct dwcp_frame_hello *h)
{
	struct net_conn *k = &n->conns[c];
	const char *why = key_mismatch(n, h);

	if (why) {
		refuse_out(n, c, n->keyed ? ENOKEY : EKEYREJECTED, why);
		return;
	}
	if (memcmp(h->session, k->hello_c.session, sizeof(h->session)) != 0 ||
	    h->conn_index != k->hello_c.conn_index || h->n_conns != k->hello_c.n_conns) {
		refuse_out(n, c, EPROTO, "the peer's HELLO does not answer ours");
		return;
	}
	k->hello_s = *h;
	if (!n->keyed) {
		conn_ready(n, c);
		return;
	}
	k->hs = HS_WAIT_AUTH;
}

void net_on_hello(struct net *n, int c, const struct dwcp_frame_hello *h)
{
	struct net_conn *k = &n->conns[c];

	if (k->hs != HS_WAIT_HELLO) {
		refuse(n, c, "a second HELLO on the connection");
		return;
	}
	if (k->outgoing)
		on_hello_out(n, c, h);
	else
		on_hello_in(n, c, h);
}

void net_on_auth(struct net *n, int c, const struct dwcp_frame_auth *a)
{
	struct net_conn *k = &n->conns[c];

	if (k->hs != HS_WAIT_AUTH || !n->keyed) {
		refuse(n, c, "an AUTH frame out of the handshake's order");
		return;
	}
	/* The accepting end's proof arrives at the connecting end and the
	 * other way round. */
	if (!dwcp_amst_auth_check(n->ka, k->outgoing, &k->hello_c, &k->hello_s, a->mac)) {
		/* (an incoming one is counted as it closes in HS_WAIT_AUTH, conn.c) */
		if (k->outgoing) {
			__atomic_fetch_add(&n->ctx->at.shm.node->auth_failures, 1, __ATOMIC_RELAXED);
			refuse_out(n, c, EKEYREJECTED,
				   "the peer did not prove it holds this node's key: both nodes need the same [crypto] key_file");
		} else
			refuse(n, c, "authentication failed: the peer does not hold this node's key (or replayed an old handshake)");
		return;
	}
	if (k->outgoing) {
		queue_frame_auth(n, c, false);
		net_conn_flush(n, c);
	}
	conn_ready(n, c);
}

unsigned net_handshake_timers(struct net *n, uint64_t now)
{
	const uint64_t limit = (uint64_t)n->conf->handshake_ms * 1000000ull;
	unsigned work = 0;

	if (!n->n_unauth)
		return 0;
	for (unsigned c = 0; c < NET_MAX_CONNS; c++) {
		struct net_conn *k = &n->conns[c];

		if (k->state == CONN_FREE || k->hs == HS_DONE || now < k->opened_ns + limit)
			continue;
		if (k->outgoing)
			refuse_out(n, (int)c, ETIMEDOUT, "the peer did not complete the handshake in time");
		else
			refuse(n, (int)c, "no handshake within [net] handshake_ms");
		work++;
	}
	return work;
}

/* Is the listen address a loopback one (127.0.0.0/8, ::1)? */
static bool listen_is_loopback(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct dwcp_err err = { 0 };

	if (dwcp_addr_resolve(addr, &ss, &len, &err))
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int net_trust_init(struct net *n, char *reason, size_t reason_len)
{
	const char *key_file = n->ctx->at.shm.ctl->key_file;
	uint32_t bufs = n->ctx->at.shm.n_bufs;

	/* A sender keeps at most a quarter of its pool in flight per stream
	 * (dwcp send's window), so a legitimate stream never meets half of
	 * ours; a stream that can never complete holds at most that. */
	n->quota_stream = bufs / 2 > 16 ? bufs / 2 : 16;
	n->quota_peer = bufs / 4 * 3 > 32 ? bufs / 4 * 3 : 32;
	/* Each worker holds its share, so that all together keep the bound
	 * (a stream spread unevenly over workers may meet EBUSY sooner: its
	 * sender sends those chunks again a little later). */
	n->quota_stream = n->quota_stream / n->n_workers > 16 ? n->quota_stream / n->n_workers : 16;
	n->quota_peer = n->quota_peer / n->n_workers > 32 ? n->quota_peer / n->n_workers : 32;
	if (key_file[0]) {
		uint8_t key[DWCP_KEYFILE_KEY_LEN];
		struct dwcp_err err = { 0 };
		int rc = dwcp_keyfile_read(key_file, key, &err);

		if (!rc)
			rc = dwcp_amst_auth_derive(key, n->ka);
		memset(key, 0, sizeof(key));
		if (rc) {
			DWCP_ERR("svc-net: cannot use the key: %s; this node neither listens nor sends until it can",
				 err.msg[0] ? err.msg : "libcrypto failed");
			snprintf(reason, reason_len, "key file unusable (see the log; dwcp keygen)");
			/* keyed, with a key nobody else has: every handshake fails */
			n->keyed = true;
			if (getrandom(n->ka, sizeof(n->ka), 0) != sizeof(n->ka))
				memset(n->ka, 0xa5, sizeof(n->ka));
			return 1;
		}
		n->keyed = true;
		return 0;
	}
	if (n->conf->listen[0] && !n->conf->insecure && !listen_is_loopback(n->conf->listen)) {
		snprintf(reason, reason_len,
			 "no key: not listening on %s ([crypto] insecure)",
			 n->conf->listen);
		DWCP_ERR("svc-net: no key: refusing to listen on %s, where anybody could write a stream. Make a key (dwcp keygen /etc/dwcp/dwcp.key) and name it in [crypto] key_file on both nodes; or listen on 127.0.0.1; or, knowingly, set [crypto] insecure = true",
			 n->conf->listen);
		return 1;
	}
	if (n->conf->listen[0] && !listen_is_loopback(n->conf->listen))
		DWCP_WARN("svc-net: INSECURE: no key and [crypto] insecure = true: listening on %s for unauthenticated, unencrypted peers",
			  n->conf->listen);
	return 0;
}
