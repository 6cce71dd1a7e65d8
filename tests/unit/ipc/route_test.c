/* Routing over workers (ipc/route.h) on a region formatted in plain
 * memory, without EAL: the route table the supervisor publishes, and the
 * worker a producer's buffer goes to.
 *
 * What a user of workers checks: an idle node spreads work over every
 * READY worker (round-robin, not all on the first); a worker with a
 * backlog gets less; a worker that is not READY (restarting, drained,
 * upgrading) gets nothing new; with none READY the buffer goes to the
 * service's own slot to wait for its next generation; a service without
 * further workers and a client's DELIVER are never rerouted. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/route.h"

#define P      DWCP_SLOT_CLIENT0   /* producer slot */
#define S      DWCP_SLOT_SIMD
#define NBUFS  256u

static struct region {
	void *base;
	size_t size;
	struct dwcp_shm shm;
} R;

static const unsigned W[] = { DWCP_SLOT_WORKER0, DWCP_SLOT_WORKER0 + 1 };   /* S's further workers */

static void set_ready(unsigned slot, bool ready)
{
	struct dwcp_slot *s = &R.shm.ctl->slots[slot];

	s->sup.state = ready ? DWCP_SUP_RUNNING : DWCP_SUP_DEAD;
	s->sup.generation = 1;
	s->svc.generation = 1;
	s->svc.state = DWCP_SVC_READY;
}

static void setup(void)
{
	struct dwcp_shm_params p = {
		.n_bufs = NBUFS, .buf_size = 4096, .link_depth = 64, .instance = "unit",
	};
	struct dwcp_err err = { 0 };
	int rc;

	R.size = dwcp_shm_size(&p);
	R.base = aligned_alloc(4096, (R.size + 4095) & ~(size_t)4095);
	cr_assert_not_null(R.base);
	rc = dwcp_shm_format(R.base, R.size, &p, &R.shm, &err);
	cr_assert_eq(rc, 0, "dwcp_shm_format: %d %s", rc, err.msg);
	for (unsigned svc = 1; svc < DWCP_SLOT_CLIENT0; svc++)
		dwcp_route_publish(R.shm.ctl, svc, W, svc == S ? 2 : 0, false);
	set_ready(S, true);
	set_ready(W[0], true);
	set_ready(W[1], true);
	set_ready(DWCP_SLOT_NET, true);
}

static void teardown(void)
{
	free(R.base);
}

/* Put @p n buffers on the link P -> @p dst (a backlog nobody consumes). */
static void backlog(unsigned dst, unsigned n)
{
	uint32_t idx[64], cursor = 0;

	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, P, 1, idx, n, &cursor), n);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, dst, idx, n), n);
}

TestSuite(route, .init = setup, .fini = teardown);

Test(route, table_names_each_worker_and_its_service)
{
	cr_expect_eq(dwcp_route_workers(&R.shm, S), 3);
	cr_expect_eq(dwcp_route_workers(&R.shm, DWCP_SLOT_MEM), 1);
	cr_expect_eq(dwcp_route_service_of(&R.shm, S), S);
	cr_expect_eq(dwcp_route_service_of(&R.shm, W[1]), S);
	cr_expect_eq(R.shm.ctl->slots[W[1]].sup.worker, 2);
	cr_expect_eq(dwcp_route_service_of(&R.shm, P), 0, "a client works for no service");
}

Test(route, idle_workers_share_the_work_round_robin)
{
	unsigned hits[DWCP_MAX_SLOTS] = { 0 };
	uint32_t cursor = 0;

	for (unsigned i = 0; i < 30; i++)
		hits[dwcp_route_pick(&R.shm, P, S, &cursor)]++;
	cr_expect_eq(hits[S], 10, "svc-simd got %u of 30", hits[S]);
	cr_expect_eq(hits[W[0]], 10, "worker 1 got %u of 30", hits[W[0]]);
	cr_expect_eq(hits[W[1]], 10, "worker 2 got %u of 30", hits[W[1]]);
}

Test(route, a_worker_with_a_backlog_gets_nothing_while_others_are_idle)
{
	uint32_t cursor = 0;

	backlog(W[0], 8);
	for (unsigned i = 0; i < 20; i++)
		cr_expect_neq(dwcp_route_pick(&R.shm, P, S, &cursor), W[0],
			      "pick %u went to the worker with 8 waiting", i);
}

Test(route, the_shortest_link_wins_when_all_are_busy)
{
	uint32_t cursor = 0;

	backlog(S, 5);
	backlog(W[0], 2);
	backlog(W[1], 9);
	for (unsigned i = 0; i < 6; i++)
		cr_expect_eq(dwcp_route_pick(&R.shm, P, S, &cursor), W[0]);
}

Test(route, a_worker_that_is_not_ready_gets_nothing_new)
{
	uint32_t cursor = 0;

	set_ready(W[1], false);
	R.shm.ctl->slots[W[0]].svc.state = DWCP_SVC_DRAINING;
	for (unsigned i = 0; i < 12; i++)
		cr_expect_eq(dwcp_route_pick(&R.shm, P, S, &cursor), S);
	cr_expect(dwcp_route_ready(&R.shm, S));
	set_ready(S, false);
	cr_expect_not(dwcp_route_ready(&R.shm, S), "no worker READY, yet the service says ready");
	cr_expect_eq(dwcp_route_pick(&R.shm, P, S, &cursor), S,
		     "with none READY the buffer waits at the service's own slot");
}

Test(route, single_worker_services_and_clients_are_not_rerouted)
{
	uint32_t cursor = 0;

	set_ready(DWCP_SLOT_MEM, false);
	cr_expect_eq(dwcp_route_pick(&R.shm, P, DWCP_SLOT_MEM, &cursor), DWCP_SLOT_MEM);
	cr_expect_eq(dwcp_route_pick(&R.shm, DWCP_SLOT_NET, P, &cursor), P);
	cr_expect_eq(cursor, 0, "no round-robin step was spent on them");
}

/* svc-mem's workers each keep a part of the delta cache: a chunk goes to
 * the worker its (stream, seq) names, on every node, whatever the load
 * or state (the others' parts lack its bases), and all workers get some
 * of a stream's chunks. */
Test(route, a_keyed_service_sends_each_chunk_where_its_key_says)
{
	static const unsigned MW[] = { DWCP_SLOT_WORKER0 + 2, DWCP_SLOT_WORKER0 + 3 };
	unsigned hits[DWCP_MAX_SLOTS] = { 0 };
	struct dwcp_buf_hdr h = { .stream = 0x1234abcdull };
	uint32_t cursor = 0;

	dwcp_route_publish(R.shm.ctl, DWCP_SLOT_MEM, MW, 2, true);
	set_ready(DWCP_SLOT_MEM, true);
	set_ready(MW[0], true);
	set_ready(MW[1], true);
	cr_assert(dwcp_route_keyed(&R.shm, DWCP_SLOT_MEM));
	cr_assert(!dwcp_route_keyed(&R.shm, S), "svc-simd picks by load");
	for (h.seq = 0; h.seq < 3000; h.seq++) {
		unsigned to = dwcp_route_pick_buf(&R.shm, P, DWCP_SLOT_MEM, &h, &cursor);
		unsigned want = R.shm.ctl->route[DWCP_SLOT_MEM].slot[dwcp_route_key(h.stream, h.seq, 3)];

		cr_assert_eq(to, want, "seq %llu: to slot %u, its key names %u", (unsigned long long)h.seq, to, want);
		hits[to]++;
	}
	cr_expect(hits[DWCP_SLOT_MEM] > 800 && hits[MW[0]] > 800 && hits[MW[1]] > 800,
		  "a stream's chunks not spread: %u %u %u", hits[DWCP_SLOT_MEM], hits[MW[0]], hits[MW[1]]);
	/* Load and state do not move a chunk: its bases are in that part. */
	h.seq = 7;
	{
		unsigned to = dwcp_route_pick_buf(&R.shm, P, DWCP_SLOT_MEM, &h, &cursor);

		backlog(to, 32);
		set_ready(to, false);
		cr_expect_eq(dwcp_route_pick_buf(&R.shm, P, DWCP_SLOT_MEM, &h, &cursor), to);
	}
	/* Not keyed: by load, as before. */
	h.seq = 8;
	backlog(W[0], 16);
	cr_expect_neq(dwcp_route_pick_buf(&R.shm, P, S, &h, &cursor), W[0]);
}

/* The op table: what svc-simd and svc-gpu publish (engine/chunk_ops.h's
 * sets, spelled out here so a change there shows up as a test change). */
static const uint32_t SIMD_OPS[DWCP_RANK_N] = {
	[DWCP_RANK_SERVE] = DWCP_OP_BIT(DWCP_OP_SEAL) | DWCP_OP_BIT(DWCP_OP_CHECKSUM) |
			    DWCP_OP_BIT(DWCP_OP_VERIFY),
};
static const uint32_t GPU_OPS[DWCP_RANK_N] = {
	[DWCP_RANK_PREFER] = DWCP_OP_BIT(DWCP_OP_SEAL),
	[DWCP_RANK_SPARE] = DWCP_OP_BIT(DWCP_OP_CHECKSUM),
};

static uint16_t step_of(unsigned slot, unsigned op, struct dwcp_buf_hdr *h)
{
	h->pc = 0;
	h->prog[0] = dwcp_prog_step(slot, op);
	h->prog_len = 1;
	return h->prog[0];
}

Test(route, no_service_runs_an_op_nobody_published)
{
	struct dwcp_buf_hdr h = { 0 };

	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_NONE);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_TABLE + 3), DWCP_SLOT_NONE);
	/* A step nobody else runs stays where it is, READY or not. */
	step_of(DWCP_SLOT_MEM, DWCP_OP_UNDELTA, &h);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_MEM);
}

Test(route, an_offload_engine_wins_while_ready_and_the_own_engine_otherwise)
{
	dwcp_route_publish_ops(R.shm.ctl, S, SIMD_OPS);
	dwcp_route_publish_ops(R.shm.ctl, DWCP_SLOT_GPU, GPU_OPS);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_SIMD, "svc-gpu not READY yet");
	set_ready(DWCP_SLOT_GPU, true);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_GPU, "PREFER wins while READY");
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_CHECKSUM), DWCP_SLOT_SIMD,
		     "SPARE only while the own engine is down");
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_VERIFY), DWCP_SLOT_SIMD);
	/* svc-simd and all its workers down: the spare takes CHECKSUM; VERIFY
	 * has no other engine and waits for svc-simd's next generation. */
	set_ready(S, false);
	set_ready(W[0], false);
	set_ready(W[1], false);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_CHECKSUM), DWCP_SLOT_GPU);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_VERIFY), DWCP_SLOT_SIMD);
	/* Nothing READY at all: the op's own engine, where it waits. */
	set_ready(DWCP_SLOT_GPU, false);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_SIMD);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_CHECKSUM), DWCP_SLOT_SIMD);
}

Test(route, a_step_leaves_an_engine_that_is_down_and_only_then)
{
	struct dwcp_buf_hdr h = { 0 };

	dwcp_route_publish_ops(R.shm.ctl, S, SIMD_OPS);
	dwcp_route_publish_ops(R.shm.ctl, DWCP_SLOT_GPU, GPU_OPS);
	set_ready(DWCP_SLOT_GPU, true);
	/* Named engine READY: the program stands (no move to the offload). */
	step_of(DWCP_SLOT_SIMD, DWCP_OP_SEAL, &h);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_SIMD);
	/* svc-gpu dies: its SEAL step moves to svc-simd, in the program. */
	set_ready(DWCP_SLOT_GPU, false);
	step_of(DWCP_SLOT_GPU, DWCP_OP_SEAL, &h);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_SIMD);
	cr_expect_eq(h.prog[0], dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_SEAL));
	/* Back READY: a step naming svc-simd stays there; a new program
	 * names svc-gpu again. */
	set_ready(DWCP_SLOT_GPU, true);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_SIMD);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_GPU);
	/* An op only svc-simd runs waits for it: VERIFY does not move. */
	set_ready(S, false);
	set_ready(W[0], false);
	set_ready(W[1], false);
	step_of(DWCP_SLOT_SIMD, DWCP_OP_VERIFY, &h);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_SIMD);
	cr_expect_eq(h.prog[0], dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_VERIFY));
	/* A pinned step is never moved. */
	h.prog[0] = dwcp_prog_step_pinned(DWCP_SLOT_SIMD, DWCP_OP_CHECKSUM);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_SIMD);
	cr_expect(dwcp_prog_pinned(h.prog[0]));
	/* A svc-simd worker READY again counts as svc-simd READY. */
	set_ready(W[1], true);
	step_of(DWCP_SLOT_SIMD, DWCP_OP_CHECKSUM, &h);
	cr_expect_eq(dwcp_route_step(&R.shm, &h), DWCP_SLOT_SIMD);
}

Test(route, a_version_that_stops_running_an_op_takes_its_bit_back)
{
	static const uint32_t gpu_no_seal[DWCP_RANK_N] = {
		[DWCP_RANK_SPARE] = DWCP_OP_BIT(DWCP_OP_CHECKSUM),
	};

	dwcp_route_publish_ops(R.shm.ctl, S, SIMD_OPS);
	dwcp_route_publish_ops(R.shm.ctl, DWCP_SLOT_GPU, GPU_OPS);
	set_ready(DWCP_SLOT_GPU, true);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_GPU);
	dwcp_route_publish_ops(R.shm.ctl, DWCP_SLOT_GPU, gpu_no_seal);
	cr_expect_eq(dwcp_route_engine(&R.shm, DWCP_OP_SEAL), DWCP_SLOT_SIMD);
	cr_expect_eq(R.shm.ctl->op_table[DWCP_OP_SEAL].by_rank[DWCP_RANK_PREFER], 0);
	cr_expect_eq(R.shm.ctl->op_table[DWCP_OP_CHECKSUM].by_rank[DWCP_RANK_SPARE],
		     1u << DWCP_SLOT_GPU);
	/* Not a service: nothing is written. */
	dwcp_route_publish_ops(R.shm.ctl, DWCP_SLOT_CLIENT0, SIMD_OPS);
	dwcp_route_publish_ops(R.shm.ctl, 0, SIMD_OPS);
	cr_expect_eq(R.shm.ctl->op_table[DWCP_OP_VERIFY].by_rank[DWCP_RANK_SERVE], 1u << S);
}
