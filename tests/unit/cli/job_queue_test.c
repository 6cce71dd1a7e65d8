/* The in-order job runner of dwcp send's reader and recv's checker
 * (cli/job_queue.h): jobs run on the helper thread (or at push, without
 * one) and come back finished in push order; a full queue gives no slot
 * until a job is taken back; every finished job is notified after it is
 * published; a stop leaves the unrun jobs queued, and drop hands each
 * back once, in order; an owner that waits sleeps until the oldest job
 * has run (recv's writer queue). */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <time.h>

#include <criterion/criterion.h>

#include "cli/job_queue.h"

#define NJOBS 1000u
#define WAIT_SPINS 1000u          /* sched_yield()s before napping */
#define WAIT_NAPS 10000u          /* 1 ms naps: ~10 s, then the wait fails */

struct job {
	unsigned seq;
	unsigned out;                 /* seq * 3 + 1 once run */
	bool ran;
	pthread_t ran_on;
};

struct ctx {
	struct job_queue *q;
	unsigned order[NJOBS];        /* seqs in the order run (the runner only) */
	unsigned nrun;
	int block_seq;                /* this job waits (-1: none) ... */
	bool wait_quit;               /* ... for job_queue_stop, else for release */
	int release;                  /* atomic, set by the test */
	int blocked;                  /* atomic: the waiting job has started */
	int timed_out;                /* atomic: a wait in run gave up */
	int notified;                 /* atomic */
	int notify_early;             /* atomic: a notify before its job was published */
	unsigned long spin;           /* busy iterations per job, to burn CPU */
};

/* A bounded wait step: false once ~10 s have gone without progress, so a
 * broken queue fails the test instead of hanging it. */
static bool backoff(unsigned *n)
{
	struct timespec ms = { 0, 1000000 };

	if (++*n > WAIT_SPINS + WAIT_NAPS)
		return false;
	if (*n <= WAIT_SPINS)
		sched_yield();
	else
		nanosleep(&ms, NULL);
	return true;
}

/* Criterion's asserts are the test thread's: the runner records, the test checks. */
static void run(void *arg, void *vc)
{
	struct job *j = arg;
	struct ctx *c = vc;
	unsigned n = 0;

	j->ran_on = pthread_self();
	if ((int)j->seq == c->block_seq)
		for (__atomic_store_n(&c->blocked, 1, __ATOMIC_RELEASE);
		     !(c->wait_quit ? __atomic_load_n(&c->q->quit, __ATOMIC_ACQUIRE)
				    : __atomic_load_n(&c->release, __ATOMIC_ACQUIRE));)
			if (!backoff(&n)) {
				__atomic_store_n(&c->timed_out, 1, __ATOMIC_RELAXED);
				break;
			}
	for (volatile unsigned long i = 0; i < c->spin; i++)
		;
	j->out = j->seq * 3 + 1;
	j->ran = true;
	if (c->nrun < NJOBS)
		c->order[c->nrun] = j->seq;
	c->nrun++;
}

/* The owner's re-check before it sleeps looks at job_queue_done: a notify
 * that came before its job was published would be a lost wake-up. */
static void notify(void *vc)
{
	struct ctx *c = vc;
	unsigned n = (unsigned)__atomic_add_fetch(&c->notified, 1, __ATOMIC_RELAXED);

	if (__atomic_load_n(&c->q->done, __ATOMIC_ACQUIRE) < n)
		__atomic_store_n(&c->notify_early, 1, __ATOMIC_RELAXED);
}

static void setup(struct job_queue *q, struct ctx *c, unsigned cap, bool threaded)
{
	*c = (struct ctx){ .q = q, .block_seq = -1 };
	cr_assert_eq(job_queue_init(q, sizeof(struct job), cap, threaded, run, notify, c), 0);
	cr_assert_eq(job_queue_threaded(q), threaded, "no helper thread where one was asked for");
}

static struct job *push(struct job_queue *q, unsigned seq)
{
	struct job *j = job_queue_next(q);

	cr_assert_not_null(j, "no slot for job %u", seq);
	*j = (struct job){ .seq = seq };
	job_queue_push(q);
	return j;
}

/* A stop asked before the runner takes the job would find none running. */
static void wait_blocked(struct ctx *c)
{
	for (unsigned n = 0; !__atomic_load_n(&c->blocked, __ATOMIC_ACQUIRE);)
		cr_assert(backoff(&n), "the blocking job never started");
}

static struct job *wait_done(struct job_queue *q)
{
	struct job *j;
	unsigned n = 0;

	while (!(j = job_queue_done(q)))
		cr_assert(backoff(&n), "no job came back");
	return j;
}

/* The owner's loop: push whenever there is a slot, else take back what is
 * done; every job must come back in push order, finished, and have run in
 * that order. Stops a threaded queue. */
static void drive(struct job_queue *q, struct ctx *c, bool threaded)
{
	unsigned pushed = 0, got = 0, idle = 0;
	struct job *j;

	while (got < NJOBS) {
		if (pushed < NJOBS && job_queue_next(q)) {
			push(q, pushed++);
			idle = 0;
		} else if ((j = job_queue_done(q))) {
			cr_assert_eq(j->seq, got, "job %u came back in place of %u", j->seq, got);
			cr_assert(j->ran);
			cr_assert_eq(j->out, got * 3 + 1);
			cr_assert_eq(!pthread_equal(j->ran_on, pthread_self()), threaded,
				     "job %u ran on the wrong thread", got);
			job_queue_pop(q);
			got++;
			idle = 0;
		} else {
			cr_assert(backoff(&idle), "stuck at %u pushed, %u back", pushed, got);
		}
	}
	cr_assert_eq(job_queue_queued(q), 0);
	cr_assert_null(job_queue_done(q));
	if (threaded)
		job_queue_stop(q);   /* the runner's writes to ctx are complete */
	cr_assert_eq(c->nrun, NJOBS);
	for (unsigned i = 0; i < NJOBS; i++)
		cr_assert_eq(c->order[i], i, "run #%u was job %u", i, c->order[i]);
}

Test(job_queue, threaded_jobs_come_back_in_push_order, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;

	setup(&q, &c, 8, true);
	drive(&q, &c, true);
	job_queue_fini(&q);
}

Test(job_queue, inline_runs_at_push_on_the_owner_thread, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;
	struct job *j;

	setup(&q, &c, 8, false);
	j = push(&q, 0);
	cr_assert_eq(job_queue_done(&q), j, "an inline push did not run the job at once");
	cr_assert(j->ran && pthread_equal(j->ran_on, pthread_self()));
	job_queue_pop(&q);
	c.nrun = 0;
	drive(&q, &c, false);
	cr_assert_eq(job_queue_cpu_s(&q), 0, "no thread, no thread CPU");
	job_queue_fini(&q);
}

Test(job_queue, a_full_queue_gives_a_slot_only_once_one_is_taken_back, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;

	setup(&q, &c, 4, true);
	c.block_seq = 0;
	for (unsigned i = 0; i < 4; i++)
		push(&q, i);
	cr_assert_null(job_queue_next(&q), "a fifth slot in a queue of 4");
	cr_assert_null(job_queue_done(&q), "job 0 came back while it still runs");
	cr_assert_eq(job_queue_queued(&q), 4);
	__atomic_store_n(&c.release, 1, __ATOMIC_RELEASE);
	/* run but not taken back still holds its slot */
	for (unsigned n = 0; __atomic_load_n(&q.done, __ATOMIC_ACQUIRE) < 4;)
		cr_assert(backoff(&n), "the jobs did not finish");
	cr_assert_null(job_queue_next(&q), "a slot before any job was taken back");
	cr_assert_eq(((struct job *)job_queue_done(&q))->seq, 0);
	job_queue_pop(&q);
	cr_assert_not_null(job_queue_next(&q));
	cr_assert_not(c.timed_out);
	job_queue_fini(&q);
}

Test(job_queue, every_finished_job_is_notified_after_it_is_published, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;

	setup(&q, &c, 8, true);
	/* the runner notifies after it publishes: the last notify may still be
	 * on its way once the owner has every job; drive's stop (a join) settles it */
	drive(&q, &c, true);
	cr_assert_eq(c.notified, (int)NJOBS);
	cr_assert_not(c.notify_early, "a job was notified before job_queue_done could see it");
	job_queue_fini(&q);
}

/* Job 1 runs until the stop is asked (so the stop deterministically finds
 * jobs 2..4 unrun); job 0 is taken back before it. */
Test(job_queue, stop_leaves_unrun_jobs_for_drop_in_order, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;
	struct job *j;
	unsigned got = 0, dropped = 0;

	setup(&q, &c, 8, true);
	c.block_seq = 1;
	c.wait_quit = true;
	for (unsigned i = 0; i < 5; i++)
		push(&q, i);
	j = wait_done(&q);
	cr_assert_eq(j->seq, 0);
	job_queue_pop(&q);
	got++;
	wait_blocked(&c);
	job_queue_stop(&q);
	cr_assert_not(c.timed_out);
	cr_assert_not(job_queue_threaded(&q));
	cr_assert_eq(c.nrun, 2, "the runner went on after the stop: %u jobs run", c.nrun);
	while ((j = job_queue_drop(&q))) {
		cr_assert_eq(j->seq, got + dropped, "dropped job %u out of order", j->seq);
		cr_assert_eq(j->ran, j->seq == 1, "job %u run state", j->seq);
		dropped++;
	}
	cr_assert_eq(got + dropped, 5, "%u taken back + %u dropped", got, dropped);
	cr_assert_null(job_queue_drop(&q), "a job dropped twice");
	cr_assert_eq(job_queue_queued(&q), 0);
	cr_assert_geq(job_queue_cpu_s(&q), 0);
	job_queue_fini(&q);
}

Test(job_queue, the_thread_cpu_is_counted_and_kept_after_stop, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;

	setup(&q, &c, 4, true);
	c.spin = 50000000;
	push(&q, 0);
	wait_done(&q);
	job_queue_pop(&q);
	job_queue_stop(&q);
	cr_assert_gt(job_queue_cpu_s(&q), 0, "50M iterations on the thread cost no CPU");
	job_queue_fini(&q);
}

/* fini with jobs queued and one running: it ends the thread after that
 * job and frees the slots (the ASan build sees any leak). */
Test(job_queue, fini_with_jobs_queued_does_not_hang, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;

	setup(&q, &c, 4, true);
	c.block_seq = 0;
	c.wait_quit = true;
	for (unsigned i = 0; i < 4; i++)
		push(&q, i);
	wait_blocked(&c);
	job_queue_fini(&q);
	cr_assert_null(q.slots);
	cr_assert_not(c.timed_out);
	cr_assert_eq(c.nrun, 1, "fini ran the queued jobs");
}

/* The owner that has nothing to do but wait (dwcp recv's writes): wait
 * sleeps until the oldest job has run, returns jobs in push order, and
 * NULL once none is queued; peek names the queued jobs, oldest first. */
Test(job_queue, wait_sleeps_until_the_oldest_job_has_run, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;
	struct job *j;

	setup(&q, &c, 4, true);
	cr_assert_null(job_queue_wait(&q), "a job came back from an empty queue");
	c.block_seq = 0;
	for (unsigned i = 0; i < 3; i++)
		push(&q, i);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(((struct job *)job_queue_peek(&q, i))->seq, i, "peek %u", i);
	cr_assert_null(job_queue_peek(&q, 3));
	wait_blocked(&c);
	cr_assert_null(job_queue_done(&q), "job 0 came back while it still runs");
	/* The release comes from here only after the wait began, at the
	 * latest: wait must not return job 0 before it ran. */
	__atomic_store_n(&c.release, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 3; i++) {
		j = job_queue_wait(&q);
		cr_assert_not_null(j, "wait returned no job with %u queued", job_queue_queued(&q));
		cr_assert_eq(j->seq, i, "wait returned job %u in place of %u", j->seq, i);
		cr_assert(j->ran && j->out == i * 3 + 1, "job %u came back unrun", i);
		job_queue_pop(&q);
	}
	cr_assert_null(job_queue_wait(&q));
	cr_assert_not(c.timed_out);
	job_queue_fini(&q);
}

/* A wait that begins while the job runs wakes when it is done (the
 * runner's broadcast), however the two interleave: many rounds. */
static void *release_soon(void *arg)
{
	struct ctx *c = arg;
	struct timespec t = { 0, 200000 };

	nanosleep(&t, NULL);
	__atomic_store_n(&c->release, 1, __ATOMIC_RELEASE);
	return NULL;
}

Test(job_queue, a_wait_begun_while_the_job_runs_is_woken, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;

	setup(&q, &c, 2, true);
	for (unsigned i = 0; i < 200; i++) {
		pthread_t t;
		struct job *j;

		c.block_seq = (int)i;
		__atomic_store_n(&c.release, 0, __ATOMIC_RELEASE);
		push(&q, i);
		cr_assert_eq(pthread_create(&t, NULL, release_soon, &c), 0);
		j = job_queue_wait(&q);
		pthread_join(t, NULL);
		cr_assert_not_null(j);
		cr_assert_eq(j->seq, i);
		cr_assert(j->ran);
		job_queue_pop(&q);
	}
	cr_assert_not(c.timed_out);
	job_queue_fini(&q);
}

Test(job_queue, inline_wait_returns_what_push_ran, .timeout = 60)
{
	struct job_queue q;
	static struct ctx c;
	struct job *j;

	setup(&q, &c, 4, false);
	cr_assert_null(job_queue_wait(&q));
	push(&q, 0);
	j = job_queue_wait(&q);
	cr_assert_not_null(j);
	cr_assert(j->ran && j->seq == 0);
	job_queue_pop(&q);
	cr_assert_null(job_queue_wait(&q));
	job_queue_fini(&q);
}
