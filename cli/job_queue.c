/* Jobs run in order by one background thread (job_queue.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job_queue.h"

static void *slot(const struct job_queue *q, unsigned n)
{
	return q->slots + (size_t)(n % q->cap) * q->job_size;
}

static double thread_cpu_s(pthread_t t)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(t, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs what was pushed, a batch at a time: the mutex is taken once per
 * batch, not per job, and each job is published as soon as it is done
 * (the owner takes it while the next one runs). */
static void *queue_main(void *arg)
{
	struct job_queue *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		unsigned end, n = q->done;

		while (!q->quit && q->pushed == n) {
			q->waiting = true;
			pthread_cond_wait(&q->cv, &q->mu);
			q->waiting = false;
		}
		if (q->quit)
			break;
		end = q->pushed;
		pthread_mutex_unlock(&q->mu);
		for (; n != end && !__atomic_load_n(&q->quit, __ATOMIC_RELAXED); n++) {
			q->run(slot(q, n), q->ctx);
			__atomic_store_n(&q->done, n + 1, __ATOMIC_SEQ_CST);
			if (q->notify)
				q->notify(q->ctx);
			/* After the store, as the owner sets the flag before it
			 * looks at done (job_queue_wait): one of the two sees the
			 * other's write. */
			if (__atomic_load_n(&q->owner_waiting, __ATOMIC_SEQ_CST)) {
				pthread_mutex_lock(&q->mu);
				pthread_cond_broadcast(&q->done_cv);
				pthread_mutex_unlock(&q->mu);
			}
		}
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	/* Read here, where it is final: after the join the thread has no clock. */
	q->cpu_s = thread_cpu_s(pthread_self());
	return NULL;
}

int job_queue_init(struct job_queue *q, size_t job_size, unsigned cap, bool threaded,
		   void (*run)(void *job, void *ctx), void (*notify)(void *ctx), void *ctx)
{
	sigset_t all, old;

	*q = (struct job_queue){ .job_size = job_size, .cap = cap ? cap : 1, .run = run,
				 .notify = notify, .ctx = ctx };
	q->slots = calloc(q->cap, job_size);
	if (!q->slots)
		return -ENOMEM;
	if (!threaded)
		return 0;
	if (pthread_mutex_init(&q->mu, NULL))
		return 0;
	if (pthread_cond_init(&q->cv, NULL)) {
		pthread_mutex_destroy(&q->mu);
		return 0;
	}
	if (pthread_cond_init(&q->done_cv, NULL)) {
		pthread_cond_destroy(&q->cv);
		pthread_mutex_destroy(&q->mu);
		return 0;
	}
	/* Signals (SIGINT, SIGTERM) are the owner's to take. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	q->threaded = pthread_create(&q->thread, NULL, queue_main, q) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!q->threaded) {
		pthread_cond_destroy(&q->done_cv);
		pthread_cond_destroy(&q->cv);
		pthread_mutex_destroy(&q->mu);
	}
	return 0;
}

void *job_queue_next(struct job_queue *q)
{
	return q->pushed - q->collected < q->cap ? slot(q, q->pushed) : NULL;
}

void job_queue_push(struct job_queue *q)
{
	if (!q->threaded) {
		q->run(slot(q, q->pushed), q->ctx);
		q->pushed++;
		q->done = q->pushed;
		return;
	}
	pthread_mutex_lock(&q->mu);
	q->pushed++;
	if (q->waiting)
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void *job_queue_done(const struct job_queue *q)
{
	unsigned done = __atomic_load_n(&q->done, __ATOMIC_ACQUIRE);

	return done != q->collected ? slot(q, q->collected) : NULL;
}

void *job_queue_wait(struct job_queue *q)
{
	void *j = job_queue_done(q);

	if (j || q->collected == q->pushed || !q->threaded)
		return j;
	pthread_mutex_lock(&q->mu);
	__atomic_store_n(&q->owner_waiting, true, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&q->done, __ATOMIC_SEQ_CST) == q->collected)
		pthread_cond_wait(&q->done_cv, &q->mu);
	__atomic_store_n(&q->owner_waiting, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->mu);
	return job_queue_done(q);
}

void *job_queue_peek(const struct job_queue *q, unsigned k)
{
	return k < q->pushed - q->collected ? slot(q, q->collected + k) : NULL;
}

void job_queue_pop(struct job_queue *q)
{
	q->collected++;
}

void job_queue_stop(struct job_queue *q)
{
	if (!q->threaded)
		return;
	pthread_mutex_lock(&q->mu);
	__atomic_store_n(&q->quit, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->done_cv);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	q->threaded = false;
}

void *job_queue_drop(struct job_queue *q)
{
	if (q->threaded || q->collected == q->pushed)
		return NULL;
	return slot(q, q->collected++);
}

double job_queue_cpu_s(const struct job_queue *q)
{
	return q->threaded ? thread_cpu_s(q->thread) : q->cpu_s;
}

void job_queue_fini(struct job_queue *q)
{
	job_queue_stop(q);
	free(q->slots);
	q->slots = NULL;
}
