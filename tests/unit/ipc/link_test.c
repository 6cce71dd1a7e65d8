/* Link tests: the SPSC rte_ring of buffer indices between two slots, the
 * owner words that travel with it, the resets a restarted side performs,
 * and the futex wakeup protocol — on a region formatted in plain memory,
 * without EAL.
 *
 * What a user of a link checks: FIFO order, a full link that says so by a
 * short count (capacity = depth - 1), free-running u32 positions that keep
 * working across 2^32 (the rings are started just below it), owner words
 * that name the position a buffer sits at and then the consumer that took
 * it, resets after a side died between moving its head and publishing its
 * tail, and — the one that matters for "no busy-spin" — a consumer that
 * sleeps whenever it runs dry never misses a wakeup. Every failure prints
 * the ring's head/tail pairs and the owner word it looked at. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ipc/link.h"
#include "ipc/pool.h"

#define P      DWCP_SLOT_CLIENT0   /* producer slot */
#define S      DWCP_SLOT_SIMD      /* consumer slot */
#define DEPTH  64u
#define NBUFS  256u

static struct region {
	void *base;
	size_t size;
	struct dwcp_shm shm;
} R;

static void region_make(void)
{
	struct dwcp_shm_params p = {
		.n_bufs = NBUFS, .buf_size = 4096, .link_depth = DEPTH, .instance = "unit",
	};
	struct dwcp_err err = { 0 };
	int rc;

	R.size = dwcp_shm_size(&p);
	R.base = aligned_alloc(4096, (R.size + 4095) & ~(size_t)4095);
	cr_assert_not_null(R.base);
	rc = dwcp_shm_format(R.base, R.size, &p, &R.shm, &err);
	cr_assert_eq(rc, 0, "dwcp_shm_format: %d %s", rc, err.msg);
}

static void region_free(void)
{
	free(R.base);
}

TestSuite(link, .init = region_make, .fini = region_free);

static struct rte_ring *ring(void)
{
	return dwcp_shm_link(&R.shm, P, S);
}

static const char *ring_str(void)
{
	static char bufs[4][160];
	static unsigned next;
	char *b = bufs[next++ % 4];
	const struct rte_ring *r = ring();

	snprintf(b, 160, "link %u->%u: prod.head=%u prod.tail=%u cons.head=%u cons.tail=%u",
		 P, S, r->prod.head, r->prod.tail, r->cons.head, r->cons.tail);
	return b;
}

static const char *owner_str(uint64_t w)
{
	static char bufs[8][64];
	static unsigned next;
	char *b = bufs[next++ % 8];
	static const char *kinds[] = { "FREE", "HELD", "WORK", "LINK" };

	if (w == DWCP_OWNER_FREE_WORD)
		snprintf(b, 64, "FREE");
	else if (dwcp_owner_kind(w) == DWCP_OWNER_LINK)
		snprintf(b, 64, "LINK(link %u = %u->%u, pos %u)", dwcp_owner_id(w),
			 dwcp_abi_link_src(dwcp_owner_id(w)), dwcp_abi_link_dst(dwcp_owner_id(w)),
			 dwcp_owner_low(w));
	else
		snprintf(b, 64, "%s(slot %u, gen %u)", kinds[dwcp_owner_kind(w)], dwcp_owner_id(w),
			 dwcp_owner_low(w));
	return b;
}

static uint64_t owner(uint32_t i)
{
	return __atomic_load_n(&R.shm.hdrs[i].owner, __ATOMIC_ACQUIRE);
}

static void set_positions(uint32_t pos)
{
	struct rte_ring *r = ring();

	r->prod.head = r->prod.tail = r->cons.head = r->cons.tail = pos;
}

/* Allocate @p n buffers HELD by the producer and number them from @p seq0. */
static void alloc_numbered(uint32_t *idx, unsigned n, uint64_t seq0)
{
	static uint32_t cursor;

	cr_assert_eq(dwcp_pool_alloc_burst(&R.shm, P, 1, idx, n, &cursor), n,
		     "pool has %u free, wanted %u", dwcp_pool_count_free(&R.shm), n);
	for (unsigned i = 0; i < n; i++)
		R.shm.hdrs[idx[i]].seq = seq0 + i;
}

/* Dequeue everything; check the buffers come out as @p want[0..n). */
static void expect_dequeue(const uint32_t *want, unsigned n, uint32_t gen, unsigned burst)
{
	uint32_t got[DEPTH];
	unsigned k = 0, m;

	while ((m = dwcp_link_dequeue_burst(&R.shm, P, S, gen, got, burst)) > 0) {
		for (unsigned i = 0; i < m; i++, k++) {
			cr_assert_lt(k, n, "dequeued an extra buffer %u (%s); %s", got[i],
				     owner_str(owner(got[i])), ring_str());
			cr_assert_eq(got[i], want[k],
				     "entry %u: dequeued buffer %u (seq %lu), expected %u (seq %lu); %s",
				     k, got[i], (unsigned long)R.shm.hdrs[got[i]].seq, want[k],
				     (unsigned long)R.shm.hdrs[want[k]].seq, ring_str());
			cr_assert_eq(owner(got[i]), dwcp_owner_work(S, gen),
				     "dequeued buffer %u is %s, expected WORK(slot %u, gen %u); %s",
				     got[i], owner_str(owner(got[i])), S, gen, ring_str());
		}
	}
	cr_assert_eq(k, n, "dequeued %u of %u buffers; %s", k, n, ring_str());
}

Test(link, fifo_order_across_bursts)
{
	uint32_t idx[40];
	unsigned sent = 0;
	static const unsigned bursts[] = { 1, 7, 3, 12, 2, 15 };

	alloc_numbered(idx, 40, 1000);
	for (unsigned b = 0; sent < 40; b++) {
		unsigned n = bursts[b % 6] < 40 - sent ? bursts[b % 6] : 40 - sent;

		cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, idx + sent, n), n, "%s",
			     ring_str());
		sent += n;
	}
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 40, "%s", ring_str());
	expect_dequeue(idx, 40, 3, 3);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 0, "%s", ring_str());
}

Test(link, full_link_takes_depth_minus_one_then_a_short_count)
{
	uint32_t idx[DEPTH + 6], one;

	alloc_numbered(idx, DEPTH + 6, 0);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, idx, DEPTH + 6), DEPTH - 1,
		     "an empty link of depth %u took %u; %s", DEPTH,
		     dwcp_link_count(&R.shm, P, S), ring_str());
	for (unsigned i = DEPTH - 1; i < DEPTH + 6; i++)
		cr_assert_eq(owner(idx[i]), dwcp_owner_held(P, 1),
			     "refused buffer %u became %s; %s", idx[i], owner_str(owner(idx[i])),
			     ring_str());
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), DEPTH - 1, "%s", ring_str());
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, &idx[DEPTH - 1], 1), 0,
		     "a full link took another; %s", ring_str());
	cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, P, S, 1, &one, 1), 1, "%s", ring_str());
	cr_assert_eq(one, idx[0]);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, &idx[DEPTH - 1], 7), 1,
		     "one slot freed, link took %u; %s", dwcp_link_count(&R.shm, P, S), ring_str());
	expect_dequeue(idx + 1, DEPTH - 1, 1, 64);
}

Test(link, empty_link_dequeues_nothing)
{
	uint32_t got[4] = { 0xdead, 0xdead, 0xdead, 0xdead }, idx[5];

	cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 4), 0, "%s", ring_str());
	cr_assert_eq(got[0], 0xdead, "empty dequeue wrote %u", got[0]);
	alloc_numbered(idx, 5, 0);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, idx, 5), 5, "%s", ring_str());
	expect_dequeue(idx, 5, 1, 4);
	cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 4), 0, "%s", ring_str());
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 0, "%s", ring_str());
}

static void check_owner_words(uint32_t start)
{
	uint32_t idx[10];
	const unsigned link = dwcp_abi_link_id(P, S);

	set_positions(start);
	alloc_numbered(idx, 10, 0);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, idx, 4), 4, "%s", ring_str());
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, idx + 4, 6), 6, "%s", ring_str());
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(owner(idx[i]), dwcp_owner_link(link, start + i),
			     "buffer %u at position %u is %s, expected LINK(link %u, pos %u); %s",
			     idx[i], start + i, owner_str(owner(idx[i])), link, start + i, ring_str());
	expect_dequeue(idx, 10, 42, 3);
}

Test(link, owner_words_name_the_position_then_the_consumer)
{
	check_owner_words(0);
	check_owner_words(0xFFFFFFFBu);  /* positions 0xFFFFFFFB .. 4 */
}

Test(link, count_follows_published_entries)
{
	uint32_t idx[30], got[30];

	set_positions(0xFFFFFFF0u);
	alloc_numbered(idx, 30, 0);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 0, "%s", ring_str());
	dwcp_link_enqueue_burst(&R.shm, P, S, idx, 20);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 20, "%s", ring_str());
	dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 5);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 15, "%s", ring_str());
	dwcp_link_enqueue_burst(&R.shm, P, S, idx + 20, 10);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 25, "count across the wrap; %s", ring_str());
	dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 30);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 0, "%s", ring_str());
}

/* Many laps of a 64-deep ring, starting 256 positions below 2^32, with
 * random bursts on both sides; buffers go back to the pool after each
 * dequeue, as a service does. The sequence numbers must come out gap-free
 * and every owner word must carry the exact (wrapped) position. */
Test(link, positions_wrap_over_many_laps)
{
	const uint32_t start = 0xFFFFFF00u;
	const unsigned link = dwcp_abi_link_id(P, S);
	uint64_t rnd = 12345, next_seq = 0, want_seq = 0;
	uint32_t cursor = 0, idx[DEPTH], got[DEPTH];

	set_positions(start);
	while (want_seq < 100000) {
		struct rte_ring *r = ring();
		unsigned n, m;

		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		n = dwcp_pool_alloc_burst(&R.shm, P, 1, idx, 1 + (unsigned)(rnd % 40), &cursor);
		for (unsigned i = 0; i < n; i++)
			R.shm.hdrs[idx[i]].seq = next_seq + i;
		{
			uint32_t pos0 = r->prod.head;
			unsigned acc = dwcp_link_enqueue_burst(&R.shm, P, S, idx, n);

			for (unsigned i = 0; i < acc; i++)
				cr_assert_eq(owner(idx[i]), dwcp_owner_link(link, pos0 + i),
					     "seq %lu: buffer %u is %s, expected position %u; %s",
					     (unsigned long)(next_seq + i), idx[i],
					     owner_str(owner(idx[i])), pos0 + i, ring_str());
			for (unsigned i = acc; i < n; i++)
				dwcp_pool_free(&R.shm, idx[i]);  /* refused: give it back */
			next_seq += acc;
		}
		cr_assert_eq(dwcp_link_count(&R.shm, P, S), next_seq - want_seq, "%s", ring_str());
		m = dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 1 + (unsigned)((rnd >> 20) % 48));
		for (unsigned i = 0; i < m; i++, want_seq++) {
			cr_assert_eq(R.shm.hdrs[got[i]].seq, want_seq,
				     "buffer %u carries seq %lu, expected %lu; %s", got[i],
				     (unsigned long)R.shm.hdrs[got[i]].seq, (unsigned long)want_seq,
				     ring_str());
			cr_assert_eq(owner(got[i]), dwcp_owner_work(S, 1), "buffer %u is %s; %s",
				     got[i], owner_str(owner(got[i])), ring_str());
			dwcp_pool_free(&R.shm, got[i]);
		}
	}
	cr_assert_geq(ring()->prod.tail - start, 100000u, "%s", ring_str());
	cr_assert_lt(ring()->cons.tail, start, "positions never wrapped past 2^32; %s", ring_str());
	cr_assert_eq(dwcp_pool_count_free(&R.shm) + dwcp_link_count(&R.shm, P, S), NBUFS,
		     "buffers lost: %u free, %u in the link", dwcp_pool_count_free(&R.shm),
		     dwcp_link_count(&R.shm, P, S));
}

/* A producer killed inside rte_ring's enqueue, after moving prod.head and
 * writing the entries (and, before that, their LINK owner words) but
 * before publishing prod.tail. */
static void crash_producer_mid_enqueue(const uint32_t *idx, unsigned n)
{
	struct rte_ring *r = ring();
	uint32_t *slots = (uint32_t *)&r[1];
	uint32_t head = r->prod.head;

	for (unsigned i = 0; i < n; i++)
		R.shm.hdrs[idx[i]].owner = dwcp_owner_link(dwcp_abi_link_id(P, S), head + i);
	r->prod.head = head + n;
	for (unsigned i = 0; i < n; i++)
		slots[(head + i) & r->mask] = idx[i];
	/* ...killed: prod.tail not stored. */
}

static void check_reset_producer(uint32_t start)
{
	uint32_t pub[3], ghost[2], fresh[2], got[8];
	struct rte_ring *r = ring();

	set_positions(start);
	alloc_numbered(pub, 3, 0);
	alloc_numbered(ghost, 2, 100);
	alloc_numbered(fresh, 2, 3);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, pub, 3), 3, "%s", ring_str());
	crash_producer_mid_enqueue(ghost, 2);
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 3,
		     "unpublished entries counted; %s", ring_str());

	/* The consumer is not blocked by the dead producer's half-enqueue. */
	expect_dequeue(pub, 3, 1, 8);
	cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 8), 0,
		     "consumer saw an unpublished entry %u; %s", got[0], ring_str());

	dwcp_link_reset_producer(&R.shm, P, S);
	cr_assert_eq(r->prod.head, r->prod.tail, "after reset_producer: %s", ring_str());
	cr_assert_eq(r->prod.tail, start + 3, "reset moved the tail: %s", ring_str());
	cr_assert_eq(dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 8), 0,
		     "unpublished entry %u visible after reset; %s", got[0], ring_str());

	/* The restarted producer reuses the positions; only its buffers arrive. */
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, fresh, 2), 2, "%s", ring_str());
	cr_assert_eq(owner(fresh[0]), dwcp_owner_link(dwcp_abi_link_id(P, S), start + 3),
		     "fresh buffer %u is %s; %s", fresh[0], owner_str(owner(fresh[0])), ring_str());
	expect_dequeue(fresh, 2, 2, 8);
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(dwcp_owner_kind(owner(ghost[i])), DWCP_OWNER_LINK,
			     "never-published buffer %u was claimed: %s", ghost[i],
			     owner_str(owner(ghost[i])));
}

Test(link, reset_producer_discards_unpublished_entries)
{
	check_reset_producer(0);
	check_reset_producer(0xFFFFFFFEu);
}

/* A consumer killed inside rte_ring's dequeue, after moving cons.head and
 * copying the entries out but before publishing cons.tail. */
static void check_reset_consumer(uint32_t start)
{
	uint32_t idx[5], more[2];
	struct rte_ring *r = ring();

	set_positions(start);
	alloc_numbered(idx, 5, 0);
	alloc_numbered(more, 2, 5);
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, idx, 5), 5, "%s", ring_str());
	r->cons.head += 3;   /* ...killed: cons.tail not stored, nothing claimed */
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 5,
		     "entries of an unfinished dequeue stopped counting; %s", ring_str());
	/* The producer must not reuse the slots the dead consumer had not released. */
	cr_assert_eq(dwcp_link_enqueue_burst(&R.shm, P, S, more, 2), 2, "%s", ring_str());
	cr_assert_eq(dwcp_link_count(&R.shm, P, S), 7, "%s", ring_str());

	dwcp_link_reset_consumer(&R.shm, P, S);
	cr_assert_eq(r->cons.head, r->cons.tail, "after reset_consumer: %s", ring_str());
	cr_assert_eq(r->cons.tail, start, "reset moved the tail: %s", ring_str());
	{
		const uint32_t all[7] = { idx[0], idx[1], idx[2], idx[3], idx[4], more[0], more[1] };

		expect_dequeue(all, 7, 2, 2);   /* next generation gets them all, in order */
	}
}

Test(link, reset_consumer_replays_an_unfinished_dequeue)
{
	check_reset_consumer(0);
	check_reset_consumer(0xFFFFFFFFu);
}

static int sleeping_seen;

static int input_if_sleeping(void *arg)
{
	sleeping_seen = (int)__atomic_load_n(&R.shm.ctl->slots[S].sleeping, __ATOMIC_RELAXED);
	return *(int *)arg;
}

Test(link, notify_wakes_only_a_sleeping_consumer)
{
	struct dwcp_slot *s = &R.shm.ctl->slots[S];
	int yes = 1, no = 0;

	cr_assert_eq(dwcp_link_notify(&R.shm, S), 0, "notify of an awake consumer woke it");
	cr_assert_eq(s->wake_seq, 0, "wake_seq bumped to %u for an awake consumer", s->wake_seq);

	cr_assert_eq(dwcp_link_wait(&R.shm, S, 1000000000ull, input_if_sleeping, &yes), 0,
		     "wait slept although the re-check found input");
	cr_assert_eq(sleeping_seen, 1, "re-check ran before 'sleeping' was announced");
	cr_assert_eq(s->sleeping, 0, "sleeping left at %u after wait", s->sleeping);

	cr_assert_eq(dwcp_link_wait(&R.shm, S, 2000000ull, input_if_sleeping, &no), 1,
		     "wait with no input did not sleep");
	cr_assert_eq(s->sleeping, 0, "sleeping left at %u after a timed-out wait", s->sleeping);

	s->sleeping = 1;
	cr_assert_eq(dwcp_link_notify(&R.shm, S), 1, "notify of a sleeping consumer did nothing");
	cr_assert_eq(s->wake_seq, 1, "wake_seq %u after one wake", s->wake_seq);
}

static int polls;

/* Input from the third look on; notes whether the waiter had announced sleep. */
static int input_from_third_look(void *arg)
{
	(void)arg;
	sleeping_seen = (int)__atomic_load_n(&R.shm.ctl->slots[S].sleeping, __ATOMIC_RELAXED);
	return ++polls >= 3;
}

/* dwcp send and recv poll for [runtime] spin_us before they sleep, as the
 * services do on large hosts: input within the spin is taken awake. */
Test(link, a_spinning_wait_takes_input_without_announcing_sleep, .timeout = 20)
{
	struct dwcp_slot *s = &R.shm.ctl->slots[S];
	int no = 0;

	polls = 0;
	cr_assert_eq(dwcp_link_wait_spin(&R.shm, S, 10000000000ull, 10000000000ull,
					 input_from_third_look, NULL), 0, "slept although input came");
	cr_assert_eq(polls, 3, "%d looks for input", polls);
	cr_assert_eq(sleeping_seen, 0, "announced sleep while spinning");
	cr_assert_eq(s->wake_seq, 0, "wake_seq %u", s->wake_seq);

	/* No spin: the plain wait (sleep announced before its one look). */
	polls = 2;
	cr_assert_eq(dwcp_link_wait_spin(&R.shm, S, 1000000000ull, 0, input_from_third_look, NULL), 0);
	cr_assert_eq(sleeping_seen, 1, "no spin, but no sleep announced before the look");

	/* A spin longer than the timeout ends with it (60 s would trip the
	 * test's own timeout), then sleeps the rest: no input, it slept. */
	cr_assert_eq(dwcp_link_wait_spin(&R.shm, S, 2000000ull, 60000000000ull, input_if_sleeping, &no), 1,
		     "a wait with no input did not sleep");
	cr_assert_eq(s->sleeping, 0, "sleeping left at %u", s->sleeping);
}

static void pick_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	cpu[0] = cpu[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[n++] = c;
	if (n == 1)
		cpu[1] = cpu[0];
}

static void start_on(pthread_t *th, int cpu, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;

	pthread_attr_init(&a);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&a, sizeof(set), &set);
	}
	cr_assert_eq(pthread_create(th, &a, fn, arg), 0);
	pthread_attr_destroy(&a);
}

/* dwcp_link_count is "a snapshot" that anyone may take while both sides
 * run (dwcpctl status reports it as the link's depth; wait re-checks use
 * it). Whatever moment it describes, it cannot exceed the capacity. To be
 * preempted at every possible instruction, the snapshot taker is
 * interrupted every 20 us by a timer signal whose handler plays both
 * sides meanwhile: it sends one or two buffers and the consumer takes all
 * there is (the link is otherwise untouched, so it stays single-producer,
 * single-consumer). The first impossible snapshot fails the test. */
#define SNAP_SIGNALS 20000u
#ifndef sigev_notify_thread_id            /* glibc < 2.41 spells it this way */
#define sigev_notify_thread_id _sigev_un._tid
#endif

static struct {
	uint32_t cursor;
	volatile sig_atomic_t signals;
	uint64_t moved;
} snap;

static void snap_move(int sig)
{
	uint32_t i[2], got[DEPTH];
	unsigned n = 1 + (snap.signals & 1), m;

	(void)sig;
	n = dwcp_pool_alloc_burst(&R.shm, P, 1, i, n, &snap.cursor);
	if (dwcp_link_enqueue_burst(&R.shm, P, S, i, n) != n)
		abort();   /* the link is drained every time: cannot be full */
	while ((m = dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, DEPTH)) > 0) {
		for (unsigned k = 0; k < m; k++)
			dwcp_pool_free(&R.shm, got[k]);
		snap.moved += m;
	}
	snap.signals++;
}

Test(link, count_never_exceeds_capacity_while_both_sides_run, .timeout = 120)
{
	struct sigaction sa = { .sa_handler = snap_move };
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 1 };
	struct itimerspec every = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
	timer_t timer;
	unsigned bad = 0;
	uint64_t calls;

	set_positions(0xFFFFF000u);
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGRTMIN + 1, &sa, NULL), 0);
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	cr_assert_eq(timer_create(CLOCK_MONOTONIC, &sev, &timer), 0, "timer_create: %m");
	cr_assert_eq(timer_settime(timer, 0, &every, NULL), 0);
	for (calls = 0; snap.signals < (sig_atomic_t)SNAP_SIGNALS && calls < 4000000000ull && !bad;
	     calls++) {
		unsigned c = dwcp_link_count(&R.shm, P, S);

		if (c > DEPTH - 1)
			bad = c;
	}
	timer_delete(timer);
	cr_log_info("count snapshots: %lu calls, %d interruptions, %lu buffers moved",
		    (unsigned long)calls, (int)snap.signals, (unsigned long)snap.moved);
	cr_assert_eq(bad, 0,
		     "snapshot %lu: dwcp_link_count = %u on a link of capacity %u (prod.tail read before cons.tail, which moved past it while the reader was interrupted); now %s",
		     (unsigned long)calls, bad, DEPTH - 1, ring_str());
	cr_assert_geq(snap.signals, (sig_atomic_t)SNAP_SIGNALS, "only %d interruptions in %lu calls",
		      (int)snap.signals, (unsigned long)calls);
}

/* Lost-wakeup race: a producer and a consumer thread, one per core, hand
 * 200k buffers over one link in small bursts. After each burst the
 * producer waits until the consumer has taken all of it, then waits a
 * random few hundred nanoseconds more — so its next enqueue and notify
 * land anywhere in the consumer's way to sleep (announce, fence,
 * re-check, futex wait) — and the consumer goes to sleep (10 s timeout)
 * every time it finds the link empty. Because the producer sends nothing
 * more until the consumer answers, a lost wakeup is not rescued by a later
 * notify: the consumer sleeps until its timeout. A wait of 9 s or more is
 * counted, and there must be none. This measures no speed; a healthy wait
 * lasts microseconds. */
#define RACE_ITEMS    200000u
#define RACE_WAIT_NS  10000000000ull
#define RACE_LOST_NS  9000000000ull

struct race {
	atomic_int stop;
	_Atomic uint64_t taken;        /* writer: consumer; items dequeued so far */
	uint64_t delivered, out_of_order, bad_owner, sleeps, long_waits, max_wait_ns;
	uint64_t rounds, wakes, first_bad_seq, first_bad_want;
	int cpu[2];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int race_has_input(void *arg)
{
	(void)arg;
	return dwcp_link_count(&R.shm, P, S) != 0;
}

static void *race_producer(void *arg)
{
	struct race *x = arg;
	uint64_t rnd = 0xC0FFEE, seq = 0;
	uint32_t cursor = 0, idx[4];

	while (seq < RACE_ITEMS && !atomic_load(&x->stop)) {
		unsigned n, sent = 0;

		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		n = 1 + (unsigned)(rnd & 3);
		if (n > RACE_ITEMS - seq)
			n = (unsigned)(RACE_ITEMS - seq);
		/* Let the consumer take everything and head for sleep: poll its
		 * progress (yielding now and then in case both threads share a
		 * CPU), then wait 0..~300 ns, which spans its path to the futex. */
		for (unsigned polls = 1; atomic_load(&x->taken) != seq && !atomic_load(&x->stop);
		     polls++)
			if (polls % 4096 == 0)
				sched_yield();
		for (volatile unsigned spin = (unsigned)(rnd >> 8) % 256; spin > 0; spin--)
			;
		x->rounds++;
		if (dwcp_pool_alloc_burst(&R.shm, P, 1, idx, n, &cursor) != n) {
			atomic_store(&x->stop, 1);   /* cannot happen: all were returned */
			break;
		}
		for (unsigned k = 0; k < n; k++)
			R.shm.hdrs[idx[k]].seq = seq + k;
		while (sent < n && !atomic_load(&x->stop))
			sent += dwcp_link_enqueue_burst(&R.shm, P, S, idx + sent, n - sent);
		x->wakes += (uint64_t)dwcp_link_notify(&R.shm, S);
		seq += n;
	}
	return NULL;
}

static void *race_consumer(void *arg)
{
	struct race *x = arg;
	uint32_t got[32];

	while (x->delivered < RACE_ITEMS) {
		unsigned n = dwcp_link_dequeue_burst(&R.shm, P, S, 1, got, 32);

		/* Tell the producer at once, so that its next burst may land
		 * anywhere from here to the futex wait. */
		if (n)
			atomic_store(&x->taken, x->delivered + n);
		for (unsigned k = 0; k < n; k++) {
			uint64_t seq = R.shm.hdrs[got[k]].seq;

			if (seq != x->delivered && x->out_of_order++ == 0) {
				x->first_bad_seq = seq;
				x->first_bad_want = x->delivered;
			}
			x->bad_owner += owner(got[k]) != dwcp_owner_work(S, 1);
			x->delivered++;
			dwcp_pool_free(&R.shm, got[k]);
		}
		if (n == 0) {
			uint64_t t0 = now_ns(), dt;

			if (atomic_load(&x->stop))
				break;
			x->sleeps += (uint64_t)dwcp_link_wait(&R.shm, S, RACE_WAIT_NS,
							      race_has_input, NULL);
			dt = now_ns() - t0;
			if (dt > x->max_wait_ns)
				x->max_wait_ns = dt;
			if (dt >= RACE_LOST_NS && x->long_waits++ == 0)
				atomic_store(&x->stop, 1);  /* one lost wakeup is enough */
		}
	}
	return NULL;
}

Test(link, no_lost_wakeup_in_200k_handoffs, .timeout = 240)
{
	static struct race x;
	pthread_t prod, cons;

	memset(&x, 0, sizeof(x));
	pick_cpus(x.cpu);
	start_on(&cons, x.cpu[1], race_consumer, &x);
	start_on(&prod, x.cpu[0], race_producer, &x);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);

	cr_log_info("wakeup race on cpus %d/%d: %lu items in %lu bursts, %lu sleeps, %lu futex wakes, longest wait %.3f ms",
		    x.cpu[0], x.cpu[1], (unsigned long)x.delivered, (unsigned long)x.rounds,
		    (unsigned long)x.sleeps, (unsigned long)x.wakes, x.max_wait_ns / 1e6);
	cr_assert_eq(x.long_waits, 0,
		     "lost wakeup: a wait lasted %.3f s (timeout 10 s) with %lu of %u items delivered; %s, sleeping=%u wake_seq=%u",
		     x.max_wait_ns / 1e9, (unsigned long)x.delivered, RACE_ITEMS, ring_str(),
		     R.shm.ctl->slots[S].sleeping, R.shm.ctl->slots[S].wake_seq);
	cr_assert_eq(x.delivered, RACE_ITEMS, "%lu of %u items arrived; %s",
		     (unsigned long)x.delivered, RACE_ITEMS, ring_str());
	cr_assert_eq(x.out_of_order, 0, "%lu items out of order, first seq %lu where %lu was due",
		     (unsigned long)x.out_of_order, (unsigned long)x.first_bad_seq,
		     (unsigned long)x.first_bad_want);
	cr_assert_eq(x.bad_owner, 0, "%lu dequeued buffers were not WORK(slot %u, gen 1)",
		     (unsigned long)x.bad_owner, S);
	cr_assert_gt(x.sleeps, 0, "the consumer never slept: the wakeup path was not exercised");
	cr_assert_gt(x.wakes, 0, "the producer never had to wake the consumer");
	cr_assert_eq(dwcp_pool_count_free(&R.shm), NBUFS, "%u buffers free at the end",
		     dwcp_pool_count_free(&R.shm));
}
