/* Client side of the data path (client.h). */
#include <errno.h>

#include "ipc/client.h"
#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/route.h"
#include "common/timeutil.h"
#include <unistd.h>

/* Modelled in tests/model/clientdeath.pml (client: discard_stale_inputs). */
static void discard_stale_inputs(struct dwcp_client *c)
{
	uint32_t idx[64];
	unsigned n;

	for (unsigned src = 0; src < DWCP_MAX_SLOTS; src++) {
		if (src == c->at.slot)
			continue;
		dwcp_link_reset_consumer(&c->at.shm, src, c->at.slot);
		while ((n = dwcp_link_dequeue_burst(&c->at.shm, src, c->at.slot, c->at.gen, idx, 64)))
			for (unsigned i = 0; i < n; i++)
				dwcp_pool_free(&c->at.shm, idx[i]);
		dwcp_link_reset_producer(&c->at.shm, c->at.slot, src);
	}
}

int dwcp_client_open(struct dwcp_client *c, const char *instance, const char *run_dir,
		     const char *label, const char *prog, struct dwcp_err *err)
{
	struct dwcp_attach_opts o = { .instance = instance, .run_dir = run_dir,
				      .role = DWCP_ROLE_CLIENT, .name = label, .prog = prog };
	struct dwcp_slot_svc *s;
	int rc = dwcp_attach(&c->at, &o, err);

	if (rc)
		return rc;
	c->stats = &c->at.shm.stats[c->at.slot];
	/* A client slot's counters are this client's (one transfer), not the
	 * sum of every program that held the slot before: readers see them
	 * start from zero (rates guard against the step back). */
	for (unsigned k = 0; k < DWCP_STAT_N; k++)
		__atomic_store_n(&c->stats->counter[k], 0, __ATOMIC_RELAXED);
	c->cursor = 0;
	discard_stale_inputs(c);
	s = &c->at.shm.ctl->slots[c->at.slot].svc;
	s->pid = (int32_t)getpid();
	__atomic_store_n(&s->generation, c->at.gen, __ATOMIC_RELEASE);
	__atomic_store_n(&s->state, DWCP_SVC_READY, __ATOMIC_RELEASE);
	return 0;
}

unsigned dwcp_client_alloc(struct dwcp_client *c, uint32_t *idx, unsigned n)
{
	return dwcp_pool_alloc_burst(&c->at.shm, c->at.slot, c->at.gen, idx, n, &c->cursor);
}

int dwcp_client_set_prog(struct dwcp_client *c, uint32_t idx, const uint16_t *steps,
			 unsigned n)
{
	struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx);

	if (n + 1 > DWCP_PROG_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++)
		h->prog[i] = steps[i];
	h->prog[n] = dwcp_prog_step(c->at.slot, DWCP_OP_DELIVER);
	h->prog_len = (uint8_t)(n + 1);
	h->deliver_gen = c->at.gen;
	h->pc = 0;
	h->status = DWCP_BUF_OK;
	return 0;
}

/* Enqueue @p n buffers on the link to @p dst. @return how many went. */
static unsigned submit_to(struct dwcp_client *c, unsigned dst, const uint32_t *idx, unsigned n)
{
	unsigned k = dwcp_link_enqueue_burst(&c->at.shm, c->at.slot, dst, idx, n);

	if (k) {
		dwcp_stats_add(c->stats, DWCP_STAT_ENQUEUED, k);
		dwcp_stats_add(c->stats, DWCP_STAT_WAKEUPS, (uint64_t)dwcp_link_notify(&c->at.shm, dst));
	}
	if (k < n)
		dwcp_stats_add(c->stats, DWCP_STAT_LINK_FULL, 1);
	return k;
}

unsigned dwcp_client_submit(struct dwcp_client *c, const uint32_t *idx, unsigned n)
{
	const struct dwcp_shm *shm = &c->at.shm;
	unsigned dst, done = 0;
	uint16_t step;

	if (!n)
		return 0;
	step = dwcp_client_hdr(c, idx[0])->prog[0];
	dst = dwcp_prog_slot(step);
	if (dst == 0 || dst >= DWCP_MAX_SLOTS || dst == c->at.slot)
		return 0;
	if (dwcp_prog_pinned(step))
		return submit_to(c, dst, idx, n);
	if (!dwcp_route_keyed(shm, dst))
		return submit_to(c, dwcp_route_pick(shm, c->at.slot, dst, &c->route_cursor), idx, n);
	/* A keyed service: each buffer to its own worker, in order, runs of
	 * one worker together; stop where a link is full. */
	while (done < n) {
		unsigned to = dwcp_route_pick_buf(shm, c->at.slot, dst, dwcp_client_hdr(c, idx[done]),
						  &c->route_cursor), run = 1, k;

		while (done + run < n &&
		       dwcp_route_pick_buf(shm, c->at.slot, dst, dwcp_client_hdr(c, idx[done + run]),
					   &c->route_cursor) == to)
			run++;
		k = submit_to(c, to, idx + done, run);
		done += k;
		if (k < run)
			break;
	}
	return done;
}

/* Modelled in tests/model/clientdeath.pml (client: keep_mine, deliver_gen). */
/* Keep what is for this client; free what a dead predecessor in this
 * slot was sent (its work finished after it died). @return kept. */
static unsigned keep_mine(struct dwcp_client *c, uint32_t *idx, unsigned got)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < got; i++) {
		struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx[i]);

		if (h->deliver_gen != c->at.gen) {
			dwcp_pool_free(&c->at.shm, idx[i]);
			continue;
		}
		if (h->pc < h->prog_len)
			h->pc++;  /* the DELIVER step is this poll */
		idx[kept++] = idx[i];
	}
	return kept;
}

unsigned dwcp_client_poll(struct dwcp_client *c, uint32_t *idx, unsigned n)
{
	unsigned got = 0;

	for (unsigned src = 0; src < DWCP_MAX_SLOTS && got < n; src++) {
		unsigned k;

		if (src == c->at.slot)
			continue;
		k = dwcp_link_dequeue_burst(&c->at.shm, src, c->at.slot, c->at.gen, idx + got, n - got);
		if (k)
			dwcp_stats_add(c->stats, DWCP_STAT_DEQUEUED, k);
		got += keep_mine(c, idx + got, k);
	}
	return got;
}

static int client_has_input(void *arg)
{
	const struct dwcp_client *c = arg;

	for (unsigned src = 0; src < DWCP_MAX_SLOTS; src++)
		if (src != c->at.slot && dwcp_link_count(&c->at.shm, src, c->at.slot))
			return 1;
	return 0;
}

struct wait_or {
	const struct dwcp_client *c;
	int (*also)(void *arg);
	void *arg;
};

static int client_or_own_input(void *arg)
{
	const struct wait_or *w = arg;

	return (w->also && w->also(w->arg)) || client_has_input((void *)w->c);
}

void dwcp_client_wait_or(struct dwcp_client *c, uint64_t timeout_ns, int (*also)(void *arg), void *arg)
{
	struct wait_or w = { .c = c, .also = also, .arg = arg };

	__atomic_store_n(&c->at.shm.ctl->slots[c->at.slot].svc.heartbeat_ns, dwcp_now_ns(),
			 __ATOMIC_RELAXED);
	dwcp_link_wait_spin(&c->at.shm, c->at.slot, timeout_ns,
			    (uint64_t)c->at.shm.ctl->spin_us * 1000u, client_or_own_input, &w);
}

void dwcp_client_notify(const struct dwcp_client *c)
{
	dwcp_link_notify(&c->at.shm, c->at.slot);
}

void dwcp_client_wait(struct dwcp_client *c, uint64_t timeout_ns)
{
	dwcp_client_wait_or(c, timeout_ns, NULL, NULL);
}

void dwcp_client_free(struct dwcp_client *c, uint32_t idx)
{
	dwcp_pool_free(&c->at.shm, idx);
}
