/* Status: the supervisor's reading of every slot's public half, its
 * stats block and its links, as one JSON document (dwcpctl formats it).
 * Rates and percentiles are over the last sampling interval (1 s), from
 * two snapshots of the lock-free stats block.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/timeutil.h"
#include "ipc/dcache.h"
#include "ipc/eal.h"
#include "ipc/route.h"
#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/streams.h"
#include "sup_internal.h"

static void sample_child(struct sup_child *c, uint64_t now)
{
	const struct dwcp_stats *st = &c->sup->shm.stats[c->slot];
	uint64_t ops = dwcp_stats_read(st, DWCP_STAT_OPS);
	uint64_t bytes = dwcp_stats_read(st, DWCP_STAT_BYTES);
	struct dwcp_hist *snap = malloc(sizeof(*snap)), *diff = malloc(sizeof(*diff));

	if (c->rate_prev_ns && now > c->rate_prev_ns) {
		double dt = (now - c->rate_prev_ns) / 1e9;

		/* A new client in the slot starts its counters from zero. */
		c->ops_per_s = ops >= c->rate_prev_ops ? (ops - c->rate_prev_ops) / dt : ops / dt;
		c->bytes_per_s = bytes >= c->rate_prev_bytes ? (bytes - c->rate_prev_bytes) / dt : bytes / dt;
	}
	c->rate_prev_ops = ops;
	c->rate_prev_bytes = bytes;
	c->rate_prev_ns = now;
	if (!snap || !diff)
		goto out;
	dwcp_hist_snapshot(snap, &st->step_ns);
	dwcp_hist_diff(diff, snap, &c->hist_prev);
	if (diff->count) {
		c->p50_ns = dwcp_hist_percentile(diff, 50);
		c->p99_ns = dwcp_hist_percentile(diff, 99);
		c->p9999_ns = dwcp_hist_percentile(diff, 99.99);
	}
	c->hist_prev = *snap;
out:
	free(snap);
	free(diff);
}

static void sample_peer(struct sup_peer_rate *r, const struct dwcp_peer_ent *e, uint64_t now)
{
	if (r->key == e->key && r->ns && now > r->ns) {
		double dt = (now - r->ns) / 1e9;

		r->tx_per_s = e->tx_bytes >= r->tx ? (e->tx_bytes - r->tx) / dt : 0;
		r->rx_per_s = e->rx_bytes >= r->rx ? (e->rx_bytes - r->rx) / dt : 0;
	} else {
		r->tx_per_s = r->rx_per_s = 0;   /* a new peer in this entry */
	}
	r->key = e->key;
	r->tx = e->tx_bytes;
	r->rx = e->rx_bytes;
	r->ns = now;
}

void sup_status_sample(struct sup *s)
{
	uint64_t now = dwcp_now_ns();

	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		sample_child(&s->child[i], now);
	sup_port_sample(s);
	for (int i = 0; i < DWCP_MAX_PEERS; i++) {
		struct dwcp_peer_ent e;

		if (dwcp_peers_read(&s->shm, i, &e) == 0)
			sample_peer(&s->peer_rate[i], &e, now);
		else
			memset(&s->peer_rate[i], 0, sizeof(s->peer_rate[i]));
	}
}

static const char *peer_name(const struct sup *s, unsigned slot, char *buf, size_t n)
{
	if (sup_is_service_slot(slot))
		return s->shm.ctl->slots[slot].sup.name;
	snprintf(buf, n, "client%u", slot);
	return buf;
}

static bool slot_active(const struct sup *s, unsigned slot)
{
	enum dwcp_state st = dwcp_slot_state(&s->shm.ctl->slots[slot]);

	return slot != DWCP_SLOT_SUP && (st != DWCP_STATE_EMPTY || sup_shows_service(s, slot));
}

static cJSON *links_json(const struct sup *s, unsigned slot, unsigned *in, unsigned *out)
{
	cJSON *arr = cJSON_CreateArray();
	char b1[16];

	*in = *out = 0;
	for (unsigned x = 1; x < DWCP_MAX_SLOTS; x++) {
		unsigned din, dout;
		cJSON *l;

		if (x == slot || !slot_active(s, x))
			continue;
		din = dwcp_link_count(&s->shm, x, slot);
		dout = dwcp_link_count(&s->shm, slot, x);
		*in += din;
		*out += dout;
		l = cJSON_CreateObject();
		cJSON_AddStringToObject(l, "peer", peer_name(s, x, b1, sizeof(b1)));
		cJSON_AddNumberToObject(l, "in", din);
		cJSON_AddNumberToObject(l, "out", dout);
		cJSON_AddItemToArray(arr, l);
	}
	return arr;
}

/* The delta cache's figures (svc-mem writes them; a snapshot may be a
 * turn stale, never torn in a way that matters for display). */
static void add_dcache(cJSON *root, const struct dwcp_shm *shm)
{
	struct dwcp_dcache_stats st;
	cJSON *o = cJSON_AddObjectToObject(root, "delta_cache");

	cJSON_AddNumberToObject(o, "bytes", shm->dcache_size);
	/* one part per svc-mem worker (ipc/dcache.h) */
	if (!dwcp_dcache_sum(shm->dcache, shm->dcache_size, dwcp_route_workers(shm, DWCP_SLOT_MEM), &st))
		return;   /* not formatted yet (svc-mem not up) */
	cJSON_AddNumberToObject(o, "pages", st.capacity);
	cJSON_AddNumberToObject(o, "live", st.live);
	cJSON_AddNumberToObject(o, "hits", st.hits);
	cJSON_AddNumberToObject(o, "misses", st.misses);
	cJSON_AddNumberToObject(o, "inserts", st.inserts);
	cJSON_AddNumberToObject(o, "evictions", st.evictions);
	cJSON_AddNumberToObject(o, "corrupt", st.corrupt);
	cJSON_AddNumberToObject(o, "spared", st.spared);
}

static void add_streams(cJSON *root, const struct dwcp_shm *shm)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "streams");

	for (int i = 0; i < DWCP_MAX_STREAMS; i++) {
		const struct dwcp_stream_ent *t = &shm->node->streams[i];
		struct dwcp_stream_ent e;
		cJSON *o;

		if (!t->ready || dwcp_streams_find(shm, (enum dwcp_stream_role)t->role, t->id, &e) != i)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", e.name);
		cJSON_AddStringToObject(o, "role", e.role == DWCP_STREAM_SEND ? "send" : "recv");
		cJSON_AddNumberToObject(o, "client_pid", shm->ctl->slots[e.slot].sup.pid);
		cJSON_AddStringToObject(o, "peer", e.peer);
		cJSON_AddStringToObject(o, "net_error", e.net_error ? strerror(e.net_error) : "");
		cJSON_AddItemToArray(arr, o);
	}
}

static void add_peers(cJSON *root, const struct sup *s)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "peers");

	for (int i = 0; i < DWCP_MAX_PEERS; i++) {
		const struct sup_peer_rate *r = &s->peer_rate[i];
		struct dwcp_peer_ent e;
		cJSON *o;

		if (dwcp_peers_read(&s->shm, i, &e))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "addr", e.addr);
		cJSON_AddStringToObject(o, "name", e.name);
		cJSON_AddStringToObject(o, "direction", e.dir == DWCP_PEER_OUT ? "out" : "in");
		cJSON_AddNumberToObject(o, "connections", e.conns);
		/* each svc-net worker's share: how the kernel spread them */
		if (dwcp_route_workers(&s->shm, DWCP_SLOT_NET) > 1) {
			cJSON *w = cJSON_AddArrayToObject(o, "connections_by_worker");

			for (unsigned k = 0; k < dwcp_route_workers(&s->shm, DWCP_SLOT_NET) &&
					     k < sizeof(e.conns_w); k++)
				cJSON_AddItemToArray(w, cJSON_CreateNumber(__atomic_load_n(
					&s->shm.node->peers[i].conns_w[k], __ATOMIC_RELAXED)));
		}
		cJSON_AddNumberToObject(o, "connects", e.connects);
		cJSON_AddNumberToObject(o, "connect_failures", e.connect_failures);
		cJSON_AddStringToObject(o, "last_error", e.last_error > 0 ? strerror(e.last_error) : "");
		cJSON_AddNumberToObject(o, "tx_bytes", e.tx_bytes);
		cJSON_AddNumberToObject(o, "rx_bytes", e.rx_bytes);
		cJSON_AddNumberToObject(o, "tx_bytes_per_s", r->key == e.key ? r->tx_per_s : 0);
		cJSON_AddNumberToObject(o, "rx_bytes_per_s", r->key == e.key ? r->rx_per_s : 0);
		cJSON_AddNumberToObject(o, "chunks_sent", e.chunks_sent);
		cJSON_AddNumberToObject(o, "chunks_acked", e.chunks_acked);
		cJSON_AddNumberToObject(o, "chunks_resent", e.chunks_resent);
		cJSON_AddNumberToObject(o, "chunks_refused", e.chunks_refused);
		cJSON_AddNumberToObject(o, "chunks_received", e.chunks_received);
		cJSON_AddNumberToObject(o, "ack_wait_ms_avg",
					e.chunks_acked ? e.ack_wait_ns / 1e6 / e.chunks_acked : 0);
		/* how its chunks travel now (svc-rdma publishes it) */
		cJSON_AddStringToObject(o, "transport", e.rdma ? "rdma" : "tcp");
		/* svc-rdma workers with a connection up for it (a queue pair each) */
		cJSON_AddNumberToObject(o, "rdma_workers", __builtin_popcount(e.rdma));
		cJSON_AddStringToObject(o, "rdma_error", e.rdma_error > 0 ? strerror(e.rdma_error) : "");
		cJSON_AddNumberToObject(o, "rdma_chunks", e.rdma_chunks);
		cJSON_AddNumberToObject(o, "rdma_bytes", e.rdma_bytes);
		cJSON_AddItemToArray(arr, o);
	}
}

static cJSON *slot_json(const struct sup *s, unsigned i, uint64_t now)
{
	const struct sup_child *c = &s->child[i];
	const struct dwcp_slot *p = &s->shm.ctl->slots[i];
	enum dwcp_state st = dwcp_slot_state(p);
	cJSON *o = cJSON_CreateObject();
	uint64_t hb = p->svc.heartbeat_ns;
	unsigned in, out;
	char nb[16];

	cJSON_AddStringToObject(o, "name", c->is_client ? peer_name(s, i, nb, sizeof(nb)) : p->sup.name);
	if (c->is_client)
		cJSON_AddStringToObject(o, "label", p->sup.name);
	cJSON_AddNumberToObject(o, "slot", i);
	cJSON_AddStringToObject(o, "state", dwcp_state_name(st));
	cJSON_AddNumberToObject(o, "pid", p->sup.pid);
	cJSON_AddNumberToObject(o, "generation", p->sup.generation);
	cJSON_AddNumberToObject(o, "restarts", p->sup.restarts);
	cJSON_AddNumberToObject(o, "lcore", p->sup.lcore);
	cJSON_AddNumberToObject(o, "uptime_s", p->sup.pid ? (now - p->sup.spawned_ns) / 1e9 : 0);
	cJSON_AddNumberToObject(o, "heartbeat_age_ms",
				p->sup.pid && hb && now > hb ? (now - hb) / 1e6 : -1);
	cJSON_AddNumberToObject(o, "buffers_held", dwcp_pool_count_slot(&s->shm, i));
	cJSON_AddStringToObject(o, "reason", st == DWCP_STATE_STANDBY || st == DWCP_STATE_DRAINING ?
				p->svc.reason : "");
	cJSON_AddNumberToObject(o, "last_recovery_ms", p->sup.recovery_ns / 1e6);
	cJSON_AddStringToObject(o, "last_death", c->last_death);
	cJSON_AddNumberToObject(o, "last_death_age_s",
				c->last_death_ns ? (now - c->last_death_ns) / 1e9 : -1);
	if (!c->is_client) {
		char bin[DWCP_CTL_TEXT_MAX + DWCP_PATH_MAX];
		static const char *const phases[] = { "", "attaching", "handover", "starting",
						      "standby" };

		cJSON_AddStringToObject(o, "service", dwcp_abi_slot_name(p->sup.service));
		cJSON_AddNumberToObject(o, "worker", p->sup.worker);
		cJSON_AddBoolToObject(o, "drained", __atomic_load_n(&p->sup.drain, __ATOMIC_ACQUIRE));
		cJSON_AddNumberToObject(o, "upgrades", c->upgrades);
		cJSON_AddNumberToObject(o, "last_upgrade_pause_ms", c->blackout_ns / 1e6);
		cJSON_AddStringToObject(o, "binary", sup_child_binary(c, bin, sizeof(bin)));
		cJSON_AddStringToObject(o, "upgrade", phases[c->up.phase]);
		cJSON_AddNumberToObject(o, "successor_pid", c->up.pid);
		cJSON_AddNumberToObject(o, "hot_standby_pid", sup_upgrade_standby_pid(c));
		if (p->sup.service == DWCP_SLOT_NET)
			cJSON_AddNumberToObject(o, "rx_held",
						dwcp_stats_read(&s->shm.stats[i], DWCP_STAT_RX_HELD));
	}
	cJSON_AddItemToObject(o, "links", links_json(s, i, &in, &out));
	cJSON_AddNumberToObject(o, "link_in", in);
	cJSON_AddNumberToObject(o, "link_out", out);
	cJSON_AddNumberToObject(o, "ops", dwcp_stats_read(&s->shm.stats[i], DWCP_STAT_OPS));
	cJSON_AddNumberToObject(o, "errors", dwcp_stats_read(&s->shm.stats[i], DWCP_STAT_ERRORS));
	cJSON_AddNumberToObject(o, "redelivered",
				dwcp_stats_read(&s->shm.stats[i], DWCP_STAT_REDELIVERED));
	cJSON_AddNumberToObject(o, "ops_per_s", c->ops_per_s);
	cJSON_AddNumberToObject(o, "bytes_per_s", c->bytes_per_s);
	cJSON_AddNumberToObject(o, "step_p50_us", c->p50_ns / 1e3);
	cJSON_AddNumberToObject(o, "step_p99_us", c->p99_ns / 1e3);
	cJSON_AddNumberToObject(o, "step_p9999_us", c->p9999_ns / 1e3);
	return o;
}

/* The node's hugepage budget ([supervisor] hugepage_mb) and what DPDK's
 * heap has left of it: every process's EAL allocates from it (a
 * secondary's service-core tables among them), so an operator sees a
 * node running short before a service fails to start. */
static void add_heap(cJSON *sup, const struct sup *s)
{
	uint64_t free_b, largest;

	dwcp_eal_heap_free(&free_b, &largest);
	cJSON_AddNumberToObject(sup, "hugepage_mb", s->cfg.hugepage_mb);
	cJSON_AddNumberToObject(sup, "hugepage_free_bytes", (double)free_b);
	cJSON_AddNumberToObject(sup, "hugepage_largest_free_bytes", (double)largest);
}

char *sup_status_json(struct sup *s)
{
	const struct dwcp_ctl_block *ctl = s->shm.ctl;
	uint64_t now = dwcp_now_ns();
	cJSON *root = cJSON_CreateObject(), *sv, *cl, *pool, *sup;
	char *out;

	cJSON_AddStringToObject(root, "instance", s->cfg.instance);
	sup = cJSON_AddObjectToObject(root, "supervisor");
	cJSON_AddNumberToObject(sup, "pid", ctl->sup_pid);
	cJSON_AddNumberToObject(sup, "uptime_s", (now - ctl->sup_start_ns) / 1e9);
	cJSON_AddNumberToObject(sup, "abi_version", ctl->abi_version);
	cJSON_AddBoolToObject(sup, "stopping", s->stopping);
	add_heap(sup, s);
	pool = cJSON_AddObjectToObject(root, "pool");
	cJSON_AddNumberToObject(pool, "buffers", s->shm.n_bufs);
	cJSON_AddNumberToObject(pool, "free", dwcp_pool_count_free(&s->shm));
	cJSON_AddNumberToObject(pool, "buf_size", s->shm.buf_size);
	add_dcache(root, &s->shm);
	add_streams(root, &s->shm);
	add_peers(root, s);
	sup_port_json(s, root);
	sv = cJSON_AddArrayToObject(root, "services");
	cl = cJSON_AddArrayToObject(root, "clients");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
		if (sup_shows_service(s, i))
			cJSON_AddItemToArray(sv, slot_json(s, i, now));
		else if (s->child[i].is_client && slot_active(s, i))
			cJSON_AddItemToArray(cl, slot_json(s, i, now));
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}
