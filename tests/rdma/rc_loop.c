/* svc-rdma's RC transport core (svc-rdma/rc.h) on a real verbs device:
 * run by tests/rdma/run.sh inside a Soft-RoCE guest, where rdma_cm
 * connects a client and a server in this one process through rxe0.
 *
 *   rc_loop IP PORT              the cases below
 *   rc_loop IP PORT bench N      figures for bench/rdma.sh: N chunks of 64 KiB
 *                                streamed (32 grants out), then N one at a
 *                                time (one grant: write, wait for the grant
 *                                back); "BENCH name value" lines
 *
 * Cases (each prints PASS or FAIL and its name; exit 0 when all pass):
 *  - chunks: the server lends 32 buffers of 64 KiB; the client writes
 *    4096 chunks of 64 KiB with WRITE WITH IMMEDIATE, each into a grant,
 *    and the server checks every byte (each chunk's content is a function
 *    of its number) and lends the buffer again;
 *  - stale key: a grant already used (its window invalidated) is written
 *    again: the write fails on the sender, the buffer keeps its bytes;
 *  - another connection: a second client writes with a key granted to
 *    the first: refused, the buffer keeps its bytes;
 *  - teardown: destroying the server's connection gives back exactly
 *    the buffers still lent;
 *  - another key: a client holding another key finds the server's proof
 *    wrong, and when it sends a proof anyway the server drops it with
 *    nothing lent.
 * Every connection proves the node key first (svc-rdma/rc_auth.h).
 * The region is hugetlbfs memory (MAP_HUGETLB), as the node's is.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "svc-rdma/rc.h"

#define MIB        (1024u * 1024u)
#define REGION     (64u * MIB)
#define CHUNK      (64u * 1024u)
#define SRC_BUFS   256u                   /* the client's chunks: the region's first 16 MiB */
#define DST_OFF    (32u * MIB)            /* the server's buffers */
#define SLOTS      32u
#define CHUNKS     4096u

static const uint8_t node_key[RDMA_RC_KEY_LEN] = "rc_loop: the key of this node..";
static const uint8_t other_key[RDMA_RC_KEY_LEN] = "rc_loop: a key of another node.";
static struct rdma_rc_dev dev;
static uint8_t *region;
static int failures;

static void result(int ok, const char *name, const char *detail)
{
	printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, detail ? ": " : "", detail ? detail : "");
	fflush(stdout);
	if (!ok)
		failures++;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Chunk @p n's bytes: its number, then a sequence seeded by it. */
static void fill(uint8_t *p, uint32_t n)
{
	uint64_t x = n * 0x9e3779b97f4a7c15ull + 1;

	memcpy(p, &n, 4);
	for (uint32_t i = 4; i < CHUNK; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static int check(const uint8_t *p, uint32_t len)
{
	static uint8_t want[CHUNK];
	uint32_t n;

	if (len != CHUNK)
		return -1;
	memcpy(&n, p, 4);
	fill(want, n);
	return memcmp(p, want, CHUNK) ? -1 : (int)n;
}

/* ---- rdma_cm, synchronously ---- */

/* The private data an event carried. Each caller keeps its own: the
 * server's thread and the client's take their ESTABLISHED events at the
 * same moment (one shared copy once let the client read the server's
 * empty one and fail the handshake, in a slow guest). */
struct cm_priv {
	uint8_t b[256];
	size_t len;
};

static int expect_event(struct rdma_event_channel *ec, enum rdma_cm_event_type want, struct rdma_cm_id **id,
			struct cm_priv *priv)
{
	struct rdma_cm_event *e;
	int got;

	/* A connection torn down earlier reports it on the same channel: not
	 * what we wait for, and nothing to do about it here. */
	do {
		if (rdma_get_cm_event(ec, &e))
			return -1;
		got = e->event;
		if (id)
			*id = e->id;
		if (priv) {
			priv->len = e->param.conn.private_data ? e->param.conn.private_data_len : 0;   /* a uint8_t: fits */
			if (priv->len)
				memcpy(priv->b, e->param.conn.private_data, priv->len);
		}
		rdma_ack_cm_event(e);
	} while (got != (int)want && (got == RDMA_CM_EVENT_DISCONNECTED || got == RDMA_CM_EVENT_TIMEWAIT_EXIT));
	if (got != (int)want) {
		fprintf(stderr, "rc_loop: rdma_cm event %s, expected %s\n", rdma_event_str(got), rdma_event_str(want));
		return -1;
	}
	return 0;
}

/* Connect and prove @p key; @return 0, -EACCES when the server's proof
 * was wrong (then, with @p insist, a made-up proof is sent anyway), -1. */
static int client_connect_key(struct rdma_event_channel **ec, struct rdma_cm_id **id, const char *ip, int port,
			      struct rdma_rc_conn *c, unsigned held, const uint8_t *key, bool insist)
{
	struct rdma_rc_auth auth;
	struct cm_priv priv;
	uint8_t hello[RDMA_RC_HELLO_LEN], mac[RDMA_RC_MAC_LEN];
	int rc;

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct rdma_conn_param cp = { .responder_resources = 1, .initiator_depth = 1, .retry_count = 7,
				      .rnr_retry_count = 7, .private_data = hello, .private_data_len = sizeof(hello) };
	struct dwcp_err err = { 0 };

	if (rdma_rc_auth_init(&auth, key) || rdma_rc_auth_hello(&auth, hello))
		return -1;
	inet_pton(AF_INET, ip, &sa.sin_addr);
	*ec = rdma_create_event_channel();
	if (!*ec || rdma_create_id(*ec, id, NULL, RDMA_PS_TCP) ||
	    rdma_resolve_addr(*id, NULL, (struct sockaddr *)&sa, 2000) ||
	    expect_event(*ec, RDMA_CM_EVENT_ADDR_RESOLVED, NULL, NULL) || rdma_resolve_route(*id, 2000) ||
	    expect_event(*ec, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL, NULL)) {
		perror("rc_loop: client: resolve");
		return -1;
	}
	if (rdma_rc_conn_setup(c, &dev, *id, 0, held, &err)) {
		fprintf(stderr, "rc_loop: client: %s\n", err.msg);
		return -1;
	}
	if (rdma_connect(*id, &cp) || expect_event(*ec, RDMA_CM_EVENT_ESTABLISHED, NULL, &priv)) {
		perror("rc_loop: client: connect");
		return -1;
	}
	rc = rdma_rc_auth_established(&auth, priv.b, priv.len, mac);
	if (rc == -EACCES && insist)
		memset(mac, 0x5a, sizeof(mac));
	else if (rc)
		return rc;
	return rdma_rc_send_auth(c, mac, auth.session) ? -1 : rc;
}

static int client_connect(struct rdma_event_channel **ec, struct rdma_cm_id **id, const char *ip, int port,
			  struct rdma_rc_conn *c, unsigned held)
{
	return client_connect_key(ec, id, ip, port, c, held, node_key, false);
}

struct server {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen;
	int port;
};

/* Accept one connection; it must prove the node key before anything is lent. */
static int server_accept(struct server *s, struct rdma_rc_conn *c)
{
	uint8_t acc[RDMA_RC_ACCEPT_LEN];
	struct rdma_conn_param cp = { .responder_resources = 1, .initiator_depth = 1, .rnr_retry_count = 7,
				      .private_data = acc, .private_data_len = sizeof(acc) };
	struct rdma_rc_auth auth;
	struct cm_priv priv;
	struct rdma_cm_id *id;
	struct dwcp_err err = { 0 };

	if (expect_event(s->ec, RDMA_CM_EVENT_CONNECT_REQUEST, &id, &priv))
		return -1;
	if (rdma_rc_auth_init(&auth, node_key) || rdma_rc_auth_accept(&auth, priv.b, priv.len, acc)) {
		rdma_reject(id, NULL, 0);
		return -1;
	}
	if (rdma_rc_conn_setup(c, &dev, id, SLOTS, 0, &err)) {
		fprintf(stderr, "rc_loop: server: %s\n", err.msg);
		return -1;
	}
	rdma_rc_conn_require_auth(c, &auth);
	if (rdma_accept(id, &cp) || expect_event(s->ec, RDMA_CM_EVENT_ESTABLISHED, NULL, NULL))
		return -1;
	return 0;
}

/* Until the client's proof came (or the connection died): 1 authed, 0 refused. */
static int server_wait_auth(struct rdma_rc_conn *c)
{
	struct rdma_rc_ev ev[16];

	for (int tries = 0; tries < 100; tries++) {
		int n = rdma_rc_poll(c, ev, 16);

		for (int i = 0; i < n; i++) {
			if (ev[i].type == RDMA_RC_EV_AUTHED)
				return 1;
			if (ev[i].type == RDMA_RC_EV_DEAD)
				return 0;
		}
		if (n == 0)
			rdma_rc_wait(c, 100);
	}
	return 0;
}

/* ---- the cases ---- */

struct srv_run {
	struct server *s;
	struct rdma_rc_conn c;
	unsigned slots, chunks;         /* grants out at once; chunks to take */
	bool quick;                     /* check each chunk's number only (bench) */
	unsigned received, bad;
	int ok;
};

/* The server: lend every slot, check each chunk that lands, lend it again. */
static void *server_main(void *arg)
{
	struct srv_run *r = arg;
	struct rdma_rc_ev ev[64];

	if (server_accept(r->s, &r->c) || !server_wait_auth(&r->c))
		return NULL;
	for (unsigned i = 0; i < r->slots; i++)
		if (rdma_rc_grant(&r->c, i, DST_OFF + (uint64_t)i * CHUNK, CHUNK))
			return NULL;
	while (r->received < r->chunks) {
		int n = rdma_rc_poll(&r->c, ev, 64);

		if (n < 0)
			return NULL;
		if (n == 0) {
			rdma_rc_wait(&r->c, 1000);
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].type == RDMA_RC_EV_DEAD)
				return NULL;
			if (ev[i].type != RDMA_RC_EV_DATA)
				continue;
			if (r->quick ? ev[i].len != CHUNK
				     : check(region + DST_OFF + (uint64_t)ev[i].slot * CHUNK, ev[i].len) < 0)
				r->bad++;
			r->received++;
			/* the last chunks' buffers stay free: the cases after re-lend them */
			if (r->received + r->slots <= r->chunks &&
			    rdma_rc_grant(&r->c, ev[i].slot, DST_OFF + (uint64_t)ev[i].slot * CHUNK, CHUNK))
				return NULL;
		}
	}
	r->ok = 1;
	return NULL;
}

static struct rdma_rc_grant first_used;   /* the first grant the client wrote into */

/* Send until every chunk went out and the send queue drained. */
static int client_send(struct rdma_rc_conn *c, unsigned chunks)
{
	struct rdma_rc_ev ev[64];
	unsigned sent = 0;

	while (sent < chunks || c->sq_out > 0) {
		int n;

		while (sent < chunks && rdma_rc_held(c)) {
			struct rdma_rc_grant g = *rdma_rc_held(c);
			int rc = rdma_rc_write(c, (uint64_t)(sent % SRC_BUFS) * CHUNK, CHUNK, false);

			if (rc == -ENOBUFS)
				break;
			if (rc)
				return rc;
			if (sent++ == 0)
				first_used = g;
		}
		n = rdma_rc_poll(c, ev, 64);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			if (ev[i].type == RDMA_RC_EV_DEAD)
				return -EIO;
		if (n == 0) {
			if (sent == chunks && c->sq_out <= RDMA_RC_SIGNAL_EVERY)
				break;   /* unsignalled writes left: nothing will report them */
			rdma_rc_wait(c, 1000);
		}
	}
	return 0;
}

/* Poll until @p c holds @p want grants, @return 0 or -1. */
static int wait_held(struct rdma_rc_conn *c, unsigned want)
{
	struct rdma_rc_ev ev[64];

	for (int tries = 0; tries < 100 && c->held_tail - c->held_head < want; tries++)
		if (rdma_rc_poll(c, ev, 64) == 0)
			rdma_rc_wait(c, 100);
	return c->held_tail - c->held_head >= want ? 0 : -1;
}

/* Wait for the connection to die (a failed write), @return its status or -1. */
static int wait_dead(struct rdma_rc_conn *c)
{
	struct rdma_rc_ev ev[16];

	for (int tries = 0; tries < 50; tries++) {
		int n = rdma_rc_poll(c, ev, 16);

		for (int i = 0; i < n; i++)
			if (ev[i].type == RDMA_RC_EV_DEAD)
				return ev[i].status;
		if (n == 0)
			rdma_rc_wait(c, 100);
	}
	return -1;
}

/* Write one chunk with grant @p g on @p c (which was not lent it):
 * @return the failed completion's status, or -1 when the write went through. */
static int write_with(struct rdma_rc_conn *c, const struct rdma_rc_grant *g)
{
	c->held[c->held_tail++ % c->held_cap] = *g;
	c->held_head = c->held_tail - 1;
	return rdma_rc_write(c, 0, CHUNK, true) == 0 ? wait_dead(c) : -1;
}

struct accept_run {
	struct server *s;
	struct rdma_rc_conn c;
	int rc;
};

static void *accept_main(void *arg)
{
	struct accept_run *a = arg;

	a->rc = server_accept(a->s, &a->c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The bench: a stream, then one chunk at a time. */
static int bench(struct server *s, const char *ip, unsigned chunks)
{
	struct srv_run run = { .s = s, .slots = SLOTS, .chunks = chunks, .quick = true };
	struct rdma_rc_conn cli;
	struct rdma_event_channel *cec;
	struct rdma_cm_id *cid;
	struct rdma_rc_ev ev[16];
	pthread_t t;
	uint64_t t0, *lat;
	double secs;

	pthread_create(&t, NULL, server_main, &run);
	if (client_connect(&cec, &cid, ip, s->port, &cli, SLOTS))
		return 1;
	t0 = now_ns();
	if (client_send(&cli, chunks))
		return 1;
	pthread_join(t, NULL);
	secs = (now_ns() - t0) / 1e9;
	if (!run.ok || run.bad)
		return 1;
	printf("BENCH rc_write_bw_MBps %.1f\n", (double)chunks * CHUNK / secs / 1e6);
	rdma_rc_conn_destroy(&run.c, NULL);
	rdma_rc_conn_destroy(&cli, NULL);
	rdma_destroy_id(cid);
	rdma_destroy_event_channel(cec);

	/* one grant: each write waits for its buffer to come back */
	run = (struct srv_run){ .s = s, .slots = 1, .chunks = chunks + 1, .quick = true };
	lat = calloc(chunks, sizeof(*lat));
	pthread_create(&t, NULL, server_main, &run);
	if (!lat || client_connect(&cec, &cid, ip, s->port, &cli, 1) || wait_held(&cli, 1))
		return 1;
	for (unsigned i = 0; i < chunks; i++) {
		t0 = now_ns();
		if (rdma_rc_write(&cli, (uint64_t)(i % SRC_BUFS) * CHUNK, CHUNK, false))
			return 1;
		while (!rdma_rc_held(&cli)) {
			int n = rdma_rc_poll(&cli, ev, 16);

			if (n < 0 || (n > 0 && ev[0].type == RDMA_RC_EV_DEAD))
				return 1;
		}
		lat[i] = now_ns() - t0;
	}
	rdma_rc_write(&cli, 0, CHUNK, true);   /* the server's last chunk */
	pthread_join(t, NULL);
	qsort(lat, chunks, sizeof(*lat), cmp_u64);
	/* half the round trip: the write one way, the grant back */
	printf("BENCH rc_write_lat_us %.2f\n", lat[chunks / 2] / 2e3);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	struct server s = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct rdma_rc_conn cli, cli2;
	struct rdma_event_channel *cec, *cec2;
	struct rdma_cm_id *cid, *cid2;
	struct srv_run run = { .s = &s, .slots = SLOTS, .chunks = CHUNKS };
	struct accept_run second = { .s = &s };
	struct rdma_rc_grant live;
	struct dwcp_err err = { 0 };
	pthread_t t;
	uint64_t t0, lent[SLOTS];
	uint8_t before[256];
	char detail[160];
	int st;

	if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "bench") && atoi(argv[4]) > 0)) {
		fprintf(stderr, "usage: rc_loop IP PORT [bench N]\n");
		return 2;
	}
	s.port = atoi(argv[2]);
	region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (region == MAP_FAILED) {
		fprintf(stderr, "rc_loop: no hugepages (%s): echo 64 > /proc/sys/vm/nr_hugepages\n", strerror(errno));
		return 2;
	}
	for (uint32_t i = 0; i < SRC_BUFS; i++)
		fill(region + (uint64_t)i * CHUNK, i);
	/* the listener decides the device (the one holding IP) */
	sa.sin_port = htons((uint16_t)s.port);
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	s.ec = rdma_create_event_channel();
	if (!s.ec || rdma_create_id(s.ec, &s.listen, NULL, RDMA_PS_TCP) ||
	    rdma_bind_addr(s.listen, (struct sockaddr *)&sa) || rdma_listen(s.listen, 4) || !s.listen->verbs) {
		fprintf(stderr, "rc_loop: cannot listen on %s:%d over RDMA: %s\n", argv[1], s.port, strerror(errno));
		return 2;
	}
	if (rdma_rc_dev_open(&dev, s.listen->verbs, region, REGION, &err)) {
		fprintf(stderr, "rc_loop: %s\n", err.msg);
		return 2;
	}
	printf("device %s, %u MiB of hugepages registered\n", ibv_get_device_name(dev.verbs->device), REGION / MIB);
	if (argc == 5)
		return bench(&s, argv[1], (unsigned)atoi(argv[4]));

	/* 1. chunks, bit-identical */
	pthread_create(&t, NULL, server_main, &run);
	if (client_connect(&cec, &cid, argv[1], s.port, &cli, SLOTS))
		return 1;
	t0 = now_ns();
	st = client_send(&cli, CHUNKS);
	pthread_join(t, NULL);
	snprintf(detail, sizeof(detail), "%u chunks of %u KiB in %.2f s (%.1f MB/s), %u bad", run.received,
		 CHUNK / 1024, (now_ns() - t0) / 1e9, (double)run.received * CHUNK / ((now_ns() - t0) / 1e3),
		 run.bad);
	result(st == 0 && run.ok && run.bad == 0, "chunks_arrive_bit_identical", detail);
	if (!run.ok)
		return 1;

	/* every buffer lent to the first connection again */
	for (unsigned i = 0; i < SLOTS; i++)
		rdma_rc_grant(&run.c, i, DST_OFF + (uint64_t)i * CHUNK, CHUNK);
	st = wait_held(&cli, SLOTS);
	result(st == 0, "grants_reach_the_sender", NULL);
	live = *rdma_rc_held(&cli);

	/* 2. a second connection writes with a key lent to the first */
	pthread_create(&t, NULL, accept_main, &second);
	st = client_connect(&cec2, &cid2, argv[1], s.port, &cli2, 1);
	pthread_join(t, NULL);
	memcpy(before, region + (live.addr - (uintptr_t)region), sizeof(before));
	if (st != 0 || second.rc != 0) {
		/* say which side failed to set up, not only that one did */
		snprintf(detail, sizeof(detail), "no second connection: client %d, server accept %d", st,
			 second.rc);
		st = -2;
	} else {
		st = write_with(&cli2, &live);
		snprintf(detail, sizeof(detail), "write status %d (%s)", st,
			 st >= 0 ? ibv_wc_status_str(st) : "none");
	}
	result(st > 0 && !memcmp(before, region + (live.addr - (uintptr_t)region), sizeof(before)),
	       "another_connection_cannot_write_with_a_lent_key", detail);

	/* 3. the first grant, used and invalidated long ago (its buffer is
	 * lent again, under a new key) */
	memcpy(before, region + (first_used.addr - (uintptr_t)region), sizeof(before));
	st = write_with(&cli, &first_used);
	snprintf(detail, sizeof(detail), "write status %d (%s)", st, st >= 0 ? ibv_wc_status_str(st) : "none");
	result(st > 0 && !memcmp(before, region + (first_used.addr - (uintptr_t)region), sizeof(before)),
	       "a_used_grant_cannot_be_written_again", detail);

	/* 4. teardown: what is still lent comes back, and only that
	 * (the time shows a teardown that waits on the windows' references) */
	t0 = now_ns();
	st = (int)rdma_rc_conn_destroy(&run.c, lent);
	snprintf(detail, sizeof(detail), "%d buffers given back, %u expected, in %.1f ms", st, SLOTS,
		 (now_ns() - t0) / 1e6);
	result(st == (int)SLOTS && lent[0] >= DST_OFF && lent[SLOTS - 1] < DST_OFF + SLOTS * CHUNK,
	       "teardown_gives_back_exactly_the_lent_buffers", detail);

	/* 5. a client holding another key */
	{
		struct accept_run third = { .s = &s };
		struct rdma_rc_conn cli3;
		struct rdma_event_channel *cec3;
		struct rdma_cm_id *cid3;
		int authed = -1, refused, granted;

		pthread_create(&t, NULL, accept_main, &third);
		refused = client_connect_key(&cec3, &cid3, argv[1], s.port, &cli3, 1, other_key, true);
		pthread_join(t, NULL);
		if (third.rc == 0) {
			authed = server_wait_auth(&third.c);
			granted = rdma_rc_grant(&third.c, 0, DST_OFF, CHUNK);
		} else {
			granted = 0;
		}
		snprintf(detail, sizeof(detail), "client saw %d, server authed %d, grant %d", refused, authed, granted);
		result(refused == -EACCES && third.rc == 0 && authed == 0 && granted == -EACCES,
		       "a_client_with_another_key_is_refused_before_anything_is_lent", detail);
		rdma_rc_conn_destroy(&third.c, NULL);
		rdma_rc_conn_destroy(&cli3, NULL);
		rdma_destroy_id(cid3);
		rdma_destroy_event_channel(cec3);
	}

	rdma_rc_conn_destroy(&second.c, NULL);
	rdma_rc_conn_destroy(&cli2, NULL);
	rdma_rc_conn_destroy(&cli, NULL);
	rdma_destroy_id(cid2);
	rdma_destroy_id(cid);
	rdma_destroy_event_channel(cec2);
	rdma_destroy_event_channel(cec);
	rdma_rc_dev_close(&dev);
	printf("rc_loop: %d failed\n", failures);
	return failures ? 1 : 0;
}
