/* The stream table (streams.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "common/timeutil.h"
#include "ipc/streams.h"

#define CLAIM_LIVE (1ull << 63)

static struct dwcp_stream_ent *table(const struct dwcp_shm *shm)
{
	return shm->node->streams;
}

uint64_t dwcp_stream_id(const char *name)
{
	return XXH3_64bits(name, strlen(name));
}

int dwcp_stream_check_name(const char *name, struct dwcp_err *err)
{
	size_t n = name ? strnlen(name, DWCP_STREAM_NAME_MAX) : 0;

	for (size_t i = 0; i < n && n < DWCP_STREAM_NAME_MAX; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			n = 0;
	}
	if (n == 0 || n >= DWCP_STREAM_NAME_MAX)
		return dwcp_err_set(err, -EINVAL,
				    "bad stream name '%.60s': expected 1..%d characters from A-Z a-z 0-9 . _ -",
				    name ? name : "", DWCP_STREAM_NAME_MAX - 1);
	return 0;
}

void dwcp_node_conf_fill(struct dwcp_node_conf *nc, const struct dwcp_config *cfg)
{
	int n;

	memset(nc, 0, sizeof(*nc));
	snprintf(nc->listen, sizeof(nc->listen), "%s", cfg->net_listen);
	nc->connections = cfg->net_connections;
	nc->zerocopy = cfg->net_zerocopy;
	nc->busy_poll_us = cfg->net_busy_poll_us;
	nc->sockbuf = cfg->net_sockbuf;
	nc->resend_ms = cfg->net_resend_ms;
	nc->insecure = cfg->crypto_insecure;
	nc->handshake_ms = cfg->net_handshake_ms;
	nc->max_unauth = cfg->net_max_unauth;
	nc->chunk_size = cfg->chunk_size;
	nc->window = cfg->window;
	nc->codec = cfg->codec;
	nc->delta = cfg->delta;
	snprintf(nc->congestion, sizeof(nc->congestion), "%s", cfg->net_congestion);
	snprintf(nc->recv_dir, sizeof(nc->recv_dir), "%s", cfg->recv_dir);
	snprintf(nc->index_dir, sizeof(nc->index_dir), "%s", cfg->index_dir);
	snprintf(nc->prof_listen, sizeof(nc->prof_listen), "%s", cfg->prof_listen);
	nc->prof_sample_hz = cfg->prof_sample_hz;
	nc->n_peers = cfg->n_peers;
	memcpy(nc->peers, cfg->peers, sizeof(nc->peers));
	nc->gpu_cpu_backend = cfg->gpu_cpu_backend;
	nc->dgram = !strcmp(cfg->net_transport, "dpdk");
	snprintf(nc->dgram_ip, sizeof(nc->dgram_ip), "%s", cfg->net_ip);
	nc->fault_drop_ppm = cfg->net_fault_drop_ppm;
	snprintf(nc->dgram_ip6, sizeof(nc->dgram_ip6), "%s", cfg->net_ip6);
	n = dwcp_neigh_list_parse(cfg->net_neighbours, nc->neigh, NULL);   /* validated with the config */
	nc->n_neigh = n > 0 ? (uint32_t)n : 0;
}

static uint64_t claim_word(unsigned slot, uint32_t gen)
{
	return CLAIM_LIVE | (uint64_t)slot << 32 | gen;
}

/* Whether the client named by @p claim is still the one in its slot. */
static int claim_live(const struct dwcp_shm *shm, uint64_t claim)
{
	unsigned slot = (unsigned)(claim >> 32) & 0xffffu;
	const struct dwcp_slot_sup *s;

	if (!(claim & CLAIM_LIVE) || slot >= DWCP_MAX_SLOTS)
		return 0;
	s = &shm->ctl->slots[slot].sup;
	return __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE) == (uint32_t)claim &&
	       __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == DWCP_SUP_RUNNING;
}

/* Copy entry @p t, claimed by @p c, whole. Its `ready` is 0 while its
 * registrant writes it, then a value it did not have before (a seqlock
 * whose "writing" state is 0, so readers that only test it for non-zero
 * still work): a copy taken while the entry was written again, after a
 * reader saw the old value, ends with another value. Without the second
 * look, a given-back entry (ready kept, dwcp_streams_unregister) taken
 * again could be copied half old, half new. @return whether it is whole. */
static bool copy_whole(const struct dwcp_stream_ent *t, uint64_t c, struct dwcp_stream_ent *out)
{
	uint32_t r = __atomic_load_n(&t->ready, __ATOMIC_ACQUIRE);

	if (!r)
		return false;
	memcpy(out, t, sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&t->claim, __ATOMIC_RELAXED) == c &&
	       __atomic_load_n(&t->ready, __ATOMIC_RELAXED) == r;
}

int dwcp_streams_find(const struct dwcp_shm *shm, enum dwcp_stream_role role, uint64_t id,
		      struct dwcp_stream_ent *out)
{
	struct dwcp_stream_ent *t = table(shm);

	for (int i = 0; i < DWCP_MAX_STREAMS; i++) {
		uint64_t c = __atomic_load_n(&t[i].claim, __ATOMIC_ACQUIRE);

		if (!claim_live(shm, c) || !copy_whole(&t[i], c, out))
			continue;      /* not registered, being written, or taken over while copied */
		if (out->role == (uint32_t)role && out->id == id)
			return i;
	}
	return -ENOENT;
}

int dwcp_streams_register(const struct dwcp_shm *shm, enum dwcp_stream_role role, const char *name,
			  uint32_t xfer, const char *peer, unsigned slot, uint32_t gen,
			  struct dwcp_err *err)
{
	struct dwcp_stream_ent *t = table(shm), cur;
	uint32_t ready;
	uint64_t id = dwcp_stream_id(name);

	if (dwcp_streams_find(shm, role, id, &cur) >= 0)
		return dwcp_err_set(err, -EBUSY, "stream '%s' is already %s on this node by pid %d", name,
				    role == DWCP_STREAM_SEND ? "being sent" : "being received",
				    shm->ctl->slots[cur.slot].sup.pid);
	/* Never-used entries first: a gone receiver's stays readable
	 * (dwcp_streams_gone_xfer) for as long as the table allows. */
	for (int k = 0; k < 2 * DWCP_MAX_STREAMS; k++) {
		const int i = k % DWCP_MAX_STREAMS;
		uint64_t c = __atomic_load_n(&t[i].claim, __ATOMIC_ACQUIRE);

		if (claim_live(shm, c) || (c && k < DWCP_MAX_STREAMS))
			continue;
		if (!__atomic_compare_exchange_n(&t[i].claim, &c, claim_word(slot, gen), 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		ready = __atomic_load_n(&t[i].ready, __ATOMIC_RELAXED);
		__atomic_store_n(&t[i].ready, 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);   /* 0 before any field (copy_whole) */
		t[i].role = role;
		t[i].id = id;
		t[i].xfer = xfer;
		t[i].slot = slot;
		t[i].gen = gen;
		snprintf(t[i].name, sizeof(t[i].name), "%s", name);
		snprintf(t[i].peer, sizeof(t[i].peer), "%s", peer ? peer : "");
		t[i].net_error = 0;
		t[i].net_error_ns = 0;
		t[i].next_seq = 0;
		__atomic_store_n(&t[i].ready, ready + 1 ? ready + 1 : 1, __ATOMIC_RELEASE);
		return i;
	}
	return dwcp_err_set(err, -ENOSPC, "the node's stream table is full (%d streams in use)",
			    DWCP_MAX_STREAMS);
}

uint32_t dwcp_streams_gone_xfer(const struct dwcp_shm *shm, uint64_t id)
{
	const struct dwcp_stream_ent *t = table(shm);
	uint32_t best = 0;

	for (int i = 0; i < DWCP_MAX_STREAMS; i++) {
		uint64_t c = __atomic_load_n(&t[i].claim, __ATOMIC_ACQUIRE);
		struct dwcp_stream_ent e;

		if (!c || claim_live(shm, c) || !copy_whole(&t[i], c, &e))
			continue;   /* never used, its receiver still runs, died registering, or taken */
		/* Transfer ids are the sender's clock in ms: the later wins. */
		if (e.role == DWCP_STREAM_RECV && e.id == id && e.xfer && e.next_seq &&
		    (!best || (int32_t)(e.xfer - best) > 0))
			best = e.xfer;
	}
	return best;
}

void dwcp_streams_unregister(const struct dwcp_shm *shm, int i, unsigned slot, uint32_t gen)
{
	uint64_t c = claim_word(slot, gen);

	if (i < 0 || i >= DWCP_MAX_STREAMS)
		return;
	/* Only a live claim's owner gets here with it, and nobody takes a live
	 * claim, so the check cannot race with a takeover. The claim loses its
	 * live bit but not its value: the entry is free (every reader tests
	 * the bit) and its fields stay readable as a gone receiver's, as a
	 * killed one's do (dwcp_streams_gone_xfer), until it is taken again.
	 * `ready` stays: the fields under it are whole (copy_whole). */
	if (__atomic_load_n(&table(shm)[i].claim, __ATOMIC_ACQUIRE) != c)
		return;
	__atomic_compare_exchange_n(&table(shm)[i].claim, &c, c & ~CLAIM_LIVE, 0, __ATOMIC_ACQ_REL,
				    __ATOMIC_RELAXED);
}

bool dwcp_streams_claim_live(const struct dwcp_shm *shm, int i, uint64_t claim)
{
	return i >= 0 && i < DWCP_MAX_STREAMS &&
	       __atomic_load_n(&table(shm)[i].claim, __ATOMIC_ACQUIRE) == claim && claim_live(shm, claim);
}

void dwcp_streams_set_net_error(const struct dwcp_shm *shm, int i, int err_no)
{
	struct dwcp_stream_ent *e;

	if (i < 0 || i >= DWCP_MAX_STREAMS)
		return;
	e = &table(shm)[i];
	if (__atomic_load_n(&e->net_error, __ATOMIC_RELAXED) == err_no)
		return;
	__atomic_store_n(&e->net_error_ns, dwcp_now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&e->net_error, err_no, __ATOMIC_RELEASE);
}

void dwcp_streams_record_done(const struct dwcp_shm *shm, uint64_t id, uint32_t xfer,
			      uint64_t chunks)
{
	struct dwcp_node_part *np = shm->node;
	uint64_t k = __atomic_fetch_add(&np->done_next, 1, __ATOMIC_ACQ_REL);
	struct dwcp_stream_done *d = &np->done[k % DWCP_DONE_MAX];

	__atomic_store_n(&d->xfer, 0, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->id = id;
	d->chunks = chunks;
	d->done_ns = dwcp_now_ns();
	__atomic_store_n(&d->xfer, xfer, __ATOMIC_RELEASE);
}

bool dwcp_streams_is_done(const struct dwcp_shm *shm, uint64_t id, uint32_t xfer, uint64_t seq)
{
	const struct dwcp_node_part *np = shm->node;

	if (!xfer)
		return false;
	for (unsigned i = 0; i < DWCP_DONE_MAX; i++) {
		const struct dwcp_stream_done *d = &np->done[i];
		uint64_t did, chunks;

		if (__atomic_load_n(&d->xfer, __ATOMIC_ACQUIRE) != xfer)
			continue;
		did = d->id;
		chunks = d->chunks;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&d->xfer, __ATOMIC_RELAXED) == xfer && did == id && seq < chunks)
			return true;
	}
	return false;
}
