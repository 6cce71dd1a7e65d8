/* The node's figures in the Prometheus text exposition format (0.0.4),
 * read from shared memory at each scrape: every service's and worker's
 * slot (state, restarts, heartbeat) and stats block (steps, bytes, link
 * traffic, step latency histogram), the links' depths, the buffer pool,
 * the delta cache, the stream table and the peer table.
 *
 * Names follow Prometheus conventions: a dwcp_ prefix, base units
 * (seconds, bytes), _total on counters. Counters are the stats blocks'
 * own (they only grow and survive a service's restarts, as Prometheus
 * counters should); rates are the scraper's to derive. Every read is a
 * relaxed load of single-writer words, so a scrape never takes a lock
 * and never stalls the data path; a figure may be one update stale.
 *
 * What a scrape costs is bounded by the region's fixed tables (slots,
 * streams, peers, pool), never by anything a peer or client sends.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/ctl_block.h"
#include "ipc/dcache.h"
#include "ipc/link.h"
#include "ipc/peers.h"
#include "ipc/pool.h"
#include "ipc/route.h"
#include "ipc/stats.h"
#include "ipc/streams.h"
#include "prof_internal.h"

void prof_out_printf(struct prof_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		size_t room = o->cap - o->len;

		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if (o->p && (size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap : 16384;

		while (cap - o->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(o->p, cap);

		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

/* A label value: backslash, double quote and newline escaped, as the
 * format requires; anything else unprintable dropped. */
static const char *label(const char *in, size_t in_max, char *out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < in_max && in[i] && k + 3 < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\\' || c == '"') {
			out[k++] = '\\';
			out[k++] = (char)c;
		} else if (c == '\n') {
			out[k++] = '\\';
			out[k++] = 'n';
		} else if (c >= 0x20 && c < 0x7f) {
			out[k++] = (char)c;
		}
	}
	out[k] = '\0';
	return out;
}

static void family(struct prof_out *o, const char *name, const char *type, const char *help)
{
	prof_out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A slot that runs (or ran) a service or one of its workers. */
static bool service_slot(const struct dwcp_shm *shm, unsigned i)
{
	const struct dwcp_slot_sup *p = &shm->ctl->slots[i].sup;

	if (i == DWCP_SLOT_SUP || !p->name[0] || p->kind != 0)
		return false;
	return i < DWCP_SLOT_CLIENT0 || (dwcp_abi_is_worker_slot(i) && p->service);
}

/* {service="svc-simd",worker="1",slot="17"} */
static void slot_labels(const struct dwcp_shm *shm, unsigned i, char *out, size_t n)
{
	const struct dwcp_slot_sup *p = &shm->ctl->slots[i].sup;
	const char *svc = dwcp_abi_slot_name(p->service ? p->service : i);
	char nm[80];

	snprintf(out, n, "service=\"%s\",worker=\"%u\",slot=\"%u\"",
		 label(svc ? svc : p->name, sizeof(p->name), nm, sizeof(nm)), p->worker, i);
}

struct counter_def {
	enum dwcp_stat_counter c;
	const char *name, *help;
};

static const struct counter_def counters[] = {
	{ DWCP_STAT_OPS, "dwcp_service_steps_total", "Steps (ops on a buffer) done." },
	{ DWCP_STAT_BYTES, "dwcp_service_step_bytes_total", "Payload bytes the steps processed." },
	{ DWCP_STAT_ERRORS, "dwcp_service_step_errors_total", "Steps that failed (status set on the buffer)." },
	{ DWCP_STAT_DEQUEUED, "dwcp_service_dequeued_total", "Buffers taken from input links." },
	{ DWCP_STAT_ENQUEUED, "dwcp_service_enqueued_total", "Buffers put on output links." },
	{ DWCP_STAT_LINK_FULL, "dwcp_service_link_full_total", "Enqueue attempts that found the link full." },
	{ DWCP_STAT_SLEEPS, "dwcp_service_sleeps_total", "Times the service loop went to sleep." },
	{ DWCP_STAT_WAKEUPS, "dwcp_service_wakeups_total", "Wake-ups this service issued to consumers." },
	{ DWCP_STAT_REDELIVERED, "dwcp_service_redelivered_total",
	  "Buffers adopted from a dead predecessor (work that survived a crash)." },
	{ DWCP_STAT_TX_BYTES, "dwcp_service_transmit_bytes_total", "Bytes written to the wire, frames included." },
	{ DWCP_STAT_RX_BYTES, "dwcp_service_receive_bytes_total", "Bytes read from the wire." },
	{ DWCP_STAT_RESENT, "dwcp_service_resent_chunks_total", "Chunks sent again (NACK, timeout, reconnect)." },
	{ DWCP_STAT_REJECTED, "dwcp_service_rejected_chunks_total", "Chunks refused by a receiver." },
};

static void render_slots(struct prof_out *o, const struct dwcp_shm *shm, uint64_t now)
{
	char l[160];

	family(o, "dwcp_service_state", "gauge",
	       "1 for the state the service or worker is in (READY, STANDBY, STARTING, DEAD, ...).");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i)) {
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_state{%s,state=\"%s\"} 1\n", l,
					dwcp_state_name(dwcp_slot_state(&shm->ctl->slots[i])));
		}
	family(o, "dwcp_service_up", "gauge", "1 when the service or worker is READY, else 0.");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i)) {
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_up{%s} %d\n", l,
					dwcp_slot_state(&shm->ctl->slots[i]) == DWCP_STATE_READY);
		}
	family(o, "dwcp_service_restarts_total", "counter", "Restarts of the service or worker by the supervisor.");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i)) {
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_restarts_total{%s} %u\n", l,
					__atomic_load_n(&shm->ctl->slots[i].sup.restarts, __ATOMIC_RELAXED));
		}
	family(o, "dwcp_service_heartbeat_age_seconds", "gauge",
	       "Time since the service's loop last turned (a hang shows as a growing age).");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i)) {
			uint64_t hb = __atomic_load_n(&shm->ctl->slots[i].svc.heartbeat_ns, __ATOMIC_RELAXED);

			if (!hb || !shm->ctl->slots[i].sup.pid)
				continue;
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_heartbeat_age_seconds{%s} %.6f\n", l,
					now > hb ? (double)(now - hb) / 1e9 : 0.0);
		}
	family(o, "dwcp_service_buffers_held", "gauge", "Pool buffers the service or worker owns now.");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i)) {
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_buffers_held{%s} %u\n", l, dwcp_pool_count_slot(shm, i));
		}
	family(o, "dwcp_service_input_depth", "gauge", "Buffers waiting on the service's input links.");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i)) {
			unsigned in = 0;

			for (unsigned x = 0; x < DWCP_MAX_SLOTS; x++)
				if (x != i)
					in += dwcp_link_count(shm, x, i);
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_input_depth{%s} %u\n", l, in);
		}
	family(o, "dwcp_service_receive_held_chunks", "gauge",
	       "Chunks received and passed to a dwcp recv that has not answered them yet (counted against the receive quotas).");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (service_slot(shm, i) && shm->ctl->slots[i].sup.service == DWCP_SLOT_NET) {
			slot_labels(shm, i, l, sizeof(l));
			prof_out_printf(o, "dwcp_service_receive_held_chunks{%s} %llu\n", l,
					(unsigned long long)dwcp_stats_read(&shm->stats[i], DWCP_STAT_RX_HELD));
		}
}

static void render_counters(struct prof_out *o, const struct dwcp_shm *shm)
{
	char l[160];

	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(o, counters[k].name, "counter", counters[k].help);
		for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
			if (service_slot(shm, i)) {
				slot_labels(shm, i, l, sizeof(l));
				prof_out_printf(o, "%s{%s} %llu\n", counters[k].name, l,
						(unsigned long long)dwcp_stats_read(&shm->stats[i], counters[k].c));
			}
	}
}

/* Upper bounds of the exported histogram, seconds: the stats blocks'
 * log-linear buckets folded into a dozen fixed ones, which is what a
 * dashboard's histogram_quantile needs and what keeps a scrape small. */
static const double hist_le[] = { 1e-6, 4e-6, 16e-6, 64e-6, 256e-6, 1e-3, 4e-3, 16e-3, 64e-3, 0.25, 1.0 };
#define N_LE (sizeof(hist_le) / sizeof(hist_le[0]))

static void render_hist(struct prof_out *o, const struct dwcp_shm *shm, struct dwcp_hist *snap)
{
	char l[160];

	family(o, "dwcp_service_step_duration_seconds", "histogram", "Time one step took.");
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
		uint64_t cum[N_LE] = { 0 }, total = 0;

		if (!service_slot(shm, i))
			continue;
		dwcp_hist_snapshot(snap, &shm->stats[i].step_ns);
		for (unsigned b = 0; b < DWCP_HIST_BUCKETS; b++) {
			if (!snap->buckets[b])
				continue;
			double high = (double)dwcp_hist_bucket_high(b) / 1e9;

			total += snap->buckets[b];
			for (unsigned k = 0; k < N_LE; k++)
				if (high <= hist_le[k])
					cum[k] += snap->buckets[b];
		}
		slot_labels(shm, i, l, sizeof(l));
		for (unsigned k = 0; k < N_LE; k++)
			prof_out_printf(o, "dwcp_service_step_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", l,
					hist_le[k], (unsigned long long)cum[k]);
		/* +Inf, _count: the buckets' sum, so the series stays
		 * consistent even when the writer was caught mid-record. */
		prof_out_printf(o, "dwcp_service_step_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", l,
				(unsigned long long)total);
		prof_out_printf(o, "dwcp_service_step_duration_seconds_sum{%s} %.9f\n", l,
				(double)snap->sum / 1e9);
		prof_out_printf(o, "dwcp_service_step_duration_seconds_count{%s} %llu\n", l,
				(unsigned long long)total);
	}
}

static void gauge(struct prof_out *o, const char *name, const char *help, double v)
{
	family(o, name, "gauge", help);
	if (v == (double)(uint64_t)v)
		prof_out_printf(o, "%s %llu\n", name, (unsigned long long)v);
	else
		prof_out_printf(o, "%s %.6f\n", name, v);
}

static void counter(struct prof_out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	prof_out_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void render_node(struct prof_out *o, const struct dwcp_shm *shm, uint64_t now)
{
	struct dwcp_dcache_stats dc;
	char inst[80];

	family(o, "dwcp_node_info", "gauge", "The node: its instance name and shared-memory ABI version.");
	prof_out_printf(o, "dwcp_node_info{instance=\"%s\",abi_version=\"%u\"} 1\n",
			label(shm->ctl->instance, sizeof(shm->ctl->instance), inst, sizeof(inst)),
			shm->ctl->abi_version);
	gauge(o, "dwcp_supervisor_uptime_seconds", "Time since the supervisor started the node.",
	      now > shm->ctl->sup_start_ns ? (double)(now - shm->ctl->sup_start_ns) / 1e9 : 0.0);
	gauge(o, "dwcp_pool_buffers", "Buffers in the node's shared pool.", shm->n_bufs);
	gauge(o, "dwcp_pool_free_buffers", "Pool buffers free now.", dwcp_pool_count_free(shm));
	gauge(o, "dwcp_pool_buffer_size_bytes", "Payload bytes of one pool buffer.", shm->buf_size);
	counter(o, "dwcp_net_auth_failures_total",
		"Handshakes svc-net refused for a key mismatch or a bad proof (a peer without this node's key).",
		__atomic_load_n(&shm->node->auth_failures, __ATOMIC_RELAXED));
	gauge(o, "dwcp_delta_cache_size_bytes", "Bytes of hugepage memory the delta cache has.",
	      (double)shm->dcache_size);
	/* one part per svc-mem worker (ipc/dcache.h) */
	if (!dwcp_dcache_sum(shm->dcache, shm->dcache_size, dwcp_route_workers(shm, DWCP_SLOT_MEM), &dc))
		return;   /* svc-mem has not formatted it yet */
	gauge(o, "dwcp_delta_cache_pages", "Pages the delta cache can hold.", (double)dc.capacity);
	gauge(o, "dwcp_delta_cache_live_pages", "Pages the delta cache holds now.", (double)dc.live);
	counter(o, "dwcp_delta_cache_hits_total", "Bases found in the delta cache.", dc.hits);
	counter(o, "dwcp_delta_cache_misses_total", "Bases looked for and not found.", dc.misses);
	counter(o, "dwcp_delta_cache_inserts_total", "Pages put in the delta cache.", dc.inserts);
	counter(o, "dwcp_delta_cache_evictions_total", "Pages evicted to make room.", dc.evictions);
	counter(o, "dwcp_delta_cache_corrupt_total", "Entries found corrupt and dropped.", dc.corrupt);
	counter(o, "dwcp_delta_cache_spared_total",
		"Pages that had changed, kept one more round instead of evicted.", dc.spared);
}

struct stream_row {
	char name[3 * DWCP_STREAM_NAME_MAX], peer[3 * DWCP_ADDR_MAX];
	const char *role, *error;
	uint64_t chunks, bytes;
};

static void render_streams(struct prof_out *o, const struct dwcp_shm *shm)
{
	struct stream_row *rows = calloc(DWCP_MAX_STREAMS, sizeof(*rows));
	unsigned n = 0, sends = 0;

	if (!rows) {
		o->oom = true;
		return;
	}
	for (int i = 0; i < DWCP_MAX_STREAMS; i++) {
		const struct dwcp_stream_ent *t = &shm->node->streams[i];
		struct dwcp_stream_ent e;
		struct stream_row *r = &rows[n];

		if (!__atomic_load_n(&t->ready, __ATOMIC_ACQUIRE) ||
		    dwcp_streams_find(shm, (enum dwcp_stream_role)t->role, t->id, &e) != i)
			continue;
		label(e.name, sizeof(e.name), r->name, sizeof(r->name));
		label(e.peer, sizeof(e.peer), r->peer, sizeof(r->peer));
		r->role = e.role == DWCP_STREAM_SEND ? "send" : "recv";
		r->error = !e.net_error ? "" : strerrorname_np(e.net_error) ? strerrorname_np(e.net_error) : "error";
		/* The client's counters: dwcp send counts acknowledged chunks,
		 * dwcp recv written ones (from zero when it attached). */
		if (e.slot < DWCP_MAX_SLOTS) {
			r->chunks = dwcp_stats_read(&shm->stats[e.slot], DWCP_STAT_OPS);
			r->bytes = dwcp_stats_read(&shm->stats[e.slot], DWCP_STAT_BYTES);
		}
		sends += e.role == DWCP_STREAM_SEND;
		n++;
	}
	family(o, "dwcp_stream_info", "gauge",
	       "1 per open stream: its name, role (send or recv) and peer; net_error is the last failure to reach the peer.");
	for (unsigned i = 0; i < n; i++)
		prof_out_printf(o, "dwcp_stream_info{stream=\"%s\",role=\"%s\",peer=\"%s\",net_error=\"%s\"} 1\n",
				rows[i].name, rows[i].role, rows[i].peer, rows[i].error);
	family(o, "dwcp_stream_chunks_total", "counter",
	       "Chunks of the open stream done: acknowledged (send) or written (recv).");
	for (unsigned i = 0; i < n; i++)
		prof_out_printf(o, "dwcp_stream_chunks_total{stream=\"%s\",role=\"%s\"} %llu\n", rows[i].name,
				rows[i].role, (unsigned long long)rows[i].chunks);
	family(o, "dwcp_stream_bytes_total", "counter",
	       "Bytes of the open stream's file done: acknowledged (send) or written (recv).");
	for (unsigned i = 0; i < n; i++)
		prof_out_printf(o, "dwcp_stream_bytes_total{stream=\"%s\",role=\"%s\"} %llu\n", rows[i].name,
				rows[i].role, (unsigned long long)rows[i].bytes);
	family(o, "dwcp_streams", "gauge", "Open streams by role.");
	prof_out_printf(o, "dwcp_streams{role=\"send\"} %u\ndwcp_streams{role=\"recv\"} %u\n", sends, n - sends);
	free(rows);
}

/* Per peer: {peer="10.0.0.2:7100",name="",direction="out"}. */
struct peer_family {
	const char *name, *type, *help;
	size_t off;                      /* of a uint64_t in struct dwcp_peer_ent */
};

static const struct peer_family peer_families[] = {
	{ "dwcp_peer_connections", "gauge", "Connections to or from the peer past the handshake.",
	  offsetof(struct dwcp_peer_ent, conns) },
	{ "dwcp_peer_connects_total", "counter", "Connections that passed the handshake.",
	  offsetof(struct dwcp_peer_ent, connects) },
	{ "dwcp_peer_connect_failures_total", "counter",
	  "Outgoing connections refused, failed or not authenticated.",
	  offsetof(struct dwcp_peer_ent, connect_failures) },
	{ "dwcp_peer_sent_bytes_total", "counter", "Bytes written to the peer's sockets.",
	  offsetof(struct dwcp_peer_ent, tx_bytes) },
	{ "dwcp_peer_received_bytes_total", "counter", "Bytes read from the peer's sockets.",
	  offsetof(struct dwcp_peer_ent, rx_bytes) },
	{ "dwcp_peer_chunks_sent_total", "counter", "Chunk frames written to the peer, resends included.",
	  offsetof(struct dwcp_peer_ent, chunks_sent) },
	{ "dwcp_peer_chunks_resent_total", "counter",
	  "Chunks sent to the peer again (connection lost, no answer in time, damaged).",
	  offsetof(struct dwcp_peer_ent, chunks_resent) },
	{ "dwcp_peer_chunks_refused_total", "counter", "Chunks the peer answered with a NACK.",
	  offsetof(struct dwcp_peer_ent, chunks_refused) },
	{ "dwcp_peer_chunks_received_total", "counter", "Chunk frames read from the peer.",
	  offsetof(struct dwcp_peer_ent, chunks_received) },
	{ "dwcp_peer_rdma_chunks_total", "counter",
	  "Chunks moved by RDMA (out: written into the peer's memory; in: landed here).",
	  offsetof(struct dwcp_peer_ent, rdma_chunks) },
};

struct peer_row {
	struct dwcp_peer_ent e;
	char labels[4 * DWCP_ADDR_MAX + 3 * DWCP_PEER_NAME_MAX];
};

static void render_peers(struct prof_out *o, const struct dwcp_shm *shm)
{
	struct peer_row *rows = calloc(DWCP_MAX_PEERS, sizeof(*rows));
	unsigned n = 0;

	if (!rows) {
		o->oom = true;
		return;
	}
	for (int i = 0; i < DWCP_MAX_PEERS; i++) {
		char a[3 * DWCP_ADDR_MAX], nm[3 * DWCP_PEER_NAME_MAX];
		struct peer_row *r = &rows[n];

		if (dwcp_peers_read(shm, i, &r->e))
			continue;
		snprintf(r->labels, sizeof(r->labels), "peer=\"%s\",name=\"%s\",direction=\"%s\"",
			 label(r->e.addr, sizeof(r->e.addr), a, sizeof(a)),
			 label(r->e.name, sizeof(r->e.name), nm, sizeof(nm)),
			 r->e.dir == DWCP_PEER_OUT ? "out" : "in");
		n++;
	}
	family(o, "dwcp_peer_info", "gauge",
	       "1 per peer svc-net talked to; last_error is the last failure to reach an outgoing one.");
	for (unsigned i = 0; i < n; i++) {
		int e = rows[i].e.last_error;
		const char *en = e > 0 && strerrorname_np(e) ? strerrorname_np(e) : e > 0 ? "error" : "";

		prof_out_printf(o, "dwcp_peer_info{%s,last_error=\"%s\"} 1\n", rows[i].labels, en);
	}
	for (size_t f = 0; f < sizeof(peer_families) / sizeof(peer_families[0]); f++) {
		const struct peer_family *pf = &peer_families[f];

		family(o, pf->name, pf->type, pf->help);
		for (unsigned i = 0; i < n; i++)
			prof_out_printf(o, "%s{%s} %llu\n", pf->name, rows[i].labels,
					*(const unsigned long long *)((const uint8_t *)&rows[i].e + pf->off));
	}
	family(o, "dwcp_peer_ack_wait_seconds", "summary",
	       "From a chunk's last write to the peer's ACK (the peer's verify, open, decompress and write included).");
	for (unsigned i = 0; i < n; i++)
		prof_out_printf(o, "dwcp_peer_ack_wait_seconds_sum{%s} %.9f\ndwcp_peer_ack_wait_seconds_count{%s} %llu\n",
				rows[i].labels, rows[i].e.ack_wait_ns / 1e9, rows[i].labels,
				(unsigned long long)rows[i].e.chunks_acked);
	free(rows);
}

int prof_metrics_render(const struct dwcp_shm *shm, struct prof_out *o)
{
	struct dwcp_hist *snap = malloc(sizeof(*snap));   /* 30 KiB: not on the stack */
	uint64_t now = dwcp_now_ns();

	if (!snap)
		return -1;
	render_node(o, shm, now);
	render_slots(o, shm, now);
	render_counters(o, shm);
	render_hist(o, shm, snap);
	render_streams(o, shm);
	render_peers(o, shm);
	free(snap);
	return o->oom ? -1 : 0;
}
