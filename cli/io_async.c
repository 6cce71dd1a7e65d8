/* One background job at a time (io_async.h). */
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "io_async.h"

static void *helper_main(void *arg)
{
	struct io_async *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->quit && (!a->fn || a->done))
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->quit && (!a->fn || a->done))
			break;
		pthread_mutex_unlock(&a->mu);
		int rc = a->fn(a->arg);

		pthread_mutex_lock(&a->mu);
		a->result = rc;
		a->done = true;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int io_async_start(struct io_async *a)
{
	sigset_t all, old;
	int rc;

	*a = (struct io_async){ .busy = false };
	if (pthread_mutex_init(&a->mu, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&a->cv, NULL)) {
		pthread_mutex_destroy(&a->mu);
		return -ENOMEM;
	}
	/* Signals (SIGINT, SIGTERM) are the owner's to take: the helper
	 * blocks them all, so a stop request never interrupts its pwrite. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->thread, NULL, helper_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		return -rc;
	}
	return 0;
}

void io_async_submit(struct io_async *a, int (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&a->mu);
	a->fn = fn;
	a->arg = arg;
	a->done = false;
	a->busy = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

int io_async_wait(struct io_async *a)
{
	int rc;

	if (!a->busy)
		return 0;
	pthread_mutex_lock(&a->mu);
	while (!a->done)
		pthread_cond_wait(&a->cv, &a->mu);
	rc = a->result;
	a->fn = NULL;
	a->busy = false;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

double io_async_cpu_s(const struct io_async *a)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(a->thread, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void io_async_stop(struct io_async *a)
{
	io_async_wait(a);
	pthread_mutex_lock(&a->mu);
	a->quit = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
}
