/* The background job runner of dwcp recv's writes (cli/io_async.h): a job
 * runs on another thread while the owner goes on, its result comes back
 * by io_async_wait, one after another many times; the helper never takes
 * the owner's signals. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/io_async.h"

struct job {
	pthread_t ran_on;
	int gate[2];           /* the job waits for a byte here */
	int ret;
	sigset_t blocked;
};

static int run_job(void *arg)
{
	struct job *j = arg;
	char c;

	j->ran_on = pthread_self();
	pthread_sigmask(SIG_BLOCK, NULL, &j->blocked);
	if (j->gate[0] >= 0 && read(j->gate[0], &c, 1) != 1)
		return -EIO;
	return j->ret;
}

Test(io_async, a_job_runs_on_the_helper_while_the_owner_goes_on, .timeout = 30)
{
	struct io_async a;
	struct job j = { .ret = -ENOSPC };

	cr_assert_eq(pipe(j.gate), 0);
	cr_assert_eq(io_async_start(&a), 0);
	io_async_submit(&a, run_job, &j);
	/* the job is blocked on the gate until the owner opens it: had the
	 * job run on the owner's thread, or submit waited for it, this line
	 * would never be reached (the test's timeout would end it) */
	cr_assert_eq(write(j.gate[1], "g", 1), 1);
	cr_expect_eq(io_async_wait(&a), -ENOSPC, "the job's result comes back");
	cr_expect_not(io_async_busy(&a));
	cr_expect_not(pthread_equal(j.ran_on, pthread_self()), "the job ran on the owner's thread");
	cr_expect(sigismember(&j.blocked, SIGINT) && sigismember(&j.blocked, SIGTERM),
		  "the helper takes the owner's SIGINT/SIGTERM");
	cr_expect_eq(io_async_wait(&a), 0, "waiting with no job in flight");
	io_async_stop(&a);
	close(j.gate[0]);
	close(j.gate[1]);
}

Test(io_async, many_jobs_one_after_another)
{
	struct io_async a;
	struct job j = { .gate = { -1, -1 } };

	cr_assert_eq(io_async_start(&a), 0);
	for (int i = 0; i < 2000; i++) {
		j.ret = -i;
		io_async_submit(&a, run_job, &j);
		cr_assert_eq(io_async_wait(&a), -i);
	}
	io_async_stop(&a);
}

/* Stopping with a job in flight finishes it first. */
Test(io_async, stop_waits_for_the_job_in_flight)
{
	struct io_async a;
	struct job j = { .ret = 7 };

	cr_assert_eq(pipe(j.gate), 0);
	cr_assert_eq(io_async_start(&a), 0);
	io_async_submit(&a, run_job, &j);
	cr_assert_eq(write(j.gate[1], "g", 1), 1);
	io_async_stop(&a);
	cr_expect_eq(a.result, 7);
	close(j.gate[0]);
	close(j.gate[1]);
}
