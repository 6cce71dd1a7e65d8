/* A queue of jobs that one background thread runs in order for its
 * owner, who collects them finished in the same order: `dwcp send`'s
 * reader (each chunk's read from the file and its page hashes) and
 * `dwcp recv`'s checker (each arriving chunk's page hashes and zero
 * pages), so that one stream's work is spread over two threads where the
 * host has the cores for it.
 *
 * Why: one stream's `dwcp send` and `dwcp recv` each ran every byte of it
 * through one thread (the copy out of the page cache or into the write
 * bounce, the page hashes, the zero scan): 0.18-0.22 CPU-s per GB each, so
 * one stream could not pass ~4.8 GB/s on any number of cores (the bench's
 * "serial points"). The steps that need nothing but the chunk's buffer
 * and read-only state go here; the owner keeps everything that orders the
 * stream (the digest, the page index, the codec, the pipeline, and the
 * writing, the bounce copy with it).
 *
 * The owner fills a job's slot (job_queue_next), pushes it, and later
 * takes it back finished (job_queue_done, job_queue_pop); jobs run and
 * come back in push order. A finished job calls @p notify, so that an
 * owner asleep on something else (its slot's futex) wakes: the thread
 * publishes the job, then notifies, and the owner's re-check before it
 * sleeps looks at job_queue_done too (ipc/link.h's protocol).
 * Between jobs the thread sleeps on a condition variable: nothing spins.
 * Without a thread (asked for, or one that could not start) a push runs
 * the job at once, in the owner's thread: the same results, in order.
 *
 * Concurrency: one owner thread calls every function; @p run touches only
 * its job, and what the owner leaves alone while jobs are queued.
 */
#ifndef DWCP_CLI_JOB_QUEUE_H
#define DWCP_CLI_JOB_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct job_queue {
	unsigned char *slots;      /* cap jobs of job_size bytes */
	size_t job_size;
	unsigned cap;
	unsigned pushed;           /* jobs pushed (owner; read by the thread under mu) */
	unsigned done;             /* jobs run (the thread; atomic) */
	unsigned collected;        /* jobs taken back (owner) */
	void (*run)(void *job, void *ctx);
	void (*notify)(void *ctx);
	void *ctx;
	bool threaded;             /* a thread runs the jobs; false: the owner, at push */
	bool waiting;              /* the thread sleeps on cv (under mu) */
	bool owner_waiting;        /* the owner sleeps on done_cv (job_queue_wait; atomic) */
	bool quit;                 /* under mu; read atomically between jobs */
	double cpu_s;              /* the thread's CPU, once stopped */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t done_cv;
};

/**
 * Room for @p cap jobs of @p job_size bytes, and the thread when
 * @p threaded (without one if it cannot start: see job_queue_threaded).
 * @return 0 or -ENOMEM.
 */
int job_queue_init(struct job_queue *q, size_t job_size, unsigned cap, bool threaded,
		   void (*run)(void *job, void *ctx), void (*notify)(void *ctx), void *ctx);

/** Whether a thread runs the jobs. */
static inline bool job_queue_threaded(const struct job_queue *q)
{
	return q->threaded;
}

/** The slot of the next job to push, or NULL when all cap are taken. */
void *job_queue_next(struct job_queue *q);

/** Run the job filled in job_queue_next's slot (at once, without a thread). */
void job_queue_push(struct job_queue *q);

/** The oldest job run and not yet taken back, or NULL. */
void *job_queue_done(const struct job_queue *q);

/**
 * The oldest job not yet taken back, once it has run: waits for it (the
 * owner sleeps; an owner that has nothing else to do but wait for its
 * jobs, as `dwcp recv`'s writes). NULL when none is queued.
 */
void *job_queue_wait(struct job_queue *q);

/** The job @p k places behind the oldest not taken back (0: that one), run or not; NULL past the last. */
void *job_queue_peek(const struct job_queue *q, unsigned k);

/** Take back the job job_queue_done returned: its slot is free again. */
void job_queue_pop(struct job_queue *q);

/** Jobs pushed and not yet taken back, run or not. */
static inline unsigned job_queue_queued(const struct job_queue *q)
{
	return q->pushed - q->collected;
}

/**
 * End the thread once the job it runs returns; the jobs it did not run
 * stay queued, not run. Then job_queue_drop hands back each job still
 * queued, so that the owner frees what they hold.
 */
void job_queue_stop(struct job_queue *q);

/** After job_queue_stop: the oldest job not taken back (run or not), taken back; NULL: none. */
void *job_queue_drop(struct job_queue *q);

/** CPU seconds the thread used (0 without one); final once stopped. */
double job_queue_cpu_s(const struct job_queue *q);

/** Stop (if not yet), and free the slots. */
void job_queue_fini(struct job_queue *q);

#endif
