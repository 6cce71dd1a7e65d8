/* One background thread that does one job at a time for its owner, so
 * that the owner's next step overlaps the device's work: `dwcp send`
 * and a resending `dwcp recv` read the next window of a file while they
 * work on the last, and `dwcp send` syncs its page index's checkpoint.
 *
 * Why a thread and not io_uring or POSIX AIO: one request in flight is
 * all that is wanted (the owner fills the next buffer meanwhile), the
 * requests are large direct I/O, and a blocked pwrite in a thread of its
 * own is the simplest thing that overlaps with the owner on every kernel
 * and file system. The thread sleeps on a condition variable between
 * jobs: nothing spins.
 *
 * Concurrency: one owner thread calls every function; the job runs on
 * the helper thread and must touch only what its argument names (the
 * owner must not touch that until io_async_wait returned).
 */
#ifndef DWCP_CLI_IO_ASYNC_H
#define DWCP_CLI_IO_ASYNC_H

#include <pthread.h>
#include <stdbool.h>

struct io_async {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int (*fn)(void *arg);      /* the job in flight; NULL = none */
	void *arg;
	int result;                /* its return, once done */
	bool busy;                 /* submitted and not yet waited for */
	bool done;                 /* the job returned */
	bool quit;
};

/** Start the helper thread. @return 0 or -errno (then do the jobs inline). */
int io_async_start(struct io_async *a);

/**
 * Run @p fn(@p arg) on the helper thread. At most one job at a time:
 * io_async_wait for the last first.
 */
void io_async_submit(struct io_async *a, int (*fn)(void *arg), void *arg);

/** Whether a job was submitted and not yet waited for. */
static inline bool io_async_busy(const struct io_async *a)
{
	return a->busy;
}

/** Wait for the job in flight (none: returns 0 at once). @return its return value. */
int io_async_wait(struct io_async *a);

/** CPU seconds (user + system) the helper thread has used; 0 when unknown. */
double io_async_cpu_s(const struct io_async *a);

/** Wait for the job in flight, then end the thread. */
void io_async_stop(struct io_async *a);

#endif
