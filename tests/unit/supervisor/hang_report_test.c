/* What the supervisor logs about a service it kills as hung: a real
 * process whose two threads are blocked (one reading an empty pipe, one
 * sleeping), then /proc-shaped trees with the odd cases (a name with
 * spaces and parentheses, a thread in user space, no stack to read). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "svc-supervisor/hang_report.c"

static void *sleeper(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "reaper");
	for (;;)
		pause();
	return NULL;
}

/* A child like a service stuck in a call: its main thread reads a pipe
 * nobody writes, a second thread waits in pause(). */
static pid_t stuck_child(int *pipe_w)
{
	int fds[2], ready[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(pipe(ready), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		pthread_t t;

		close(fds[1]);
		close(ready[0]);
		prctl(PR_SET_NAME, "svc-stuck");
		pthread_create(&t, NULL, sleeper, NULL);
		(void)!write(ready[1], "r", 1);
		(void)!read(fds[0], &c, 1);
		_exit(0);
	}
	close(fds[0]);
	close(ready[1]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*pipe_w = fds[1];
	return pid;
}

/* Until both threads sleep in their calls (a fresh thread may still be
 * on its way there). */
static void wait_asleep(pid_t pid, char *out, size_t n)
{
	for (int i = 0; i < 200; i++) {
		int rc = sup_hang_describe("/proc", pid, out, n);
		const char *second = strstr(out, "; "), *first = strstr(out, " S syscall ");

		cr_assert_eq(rc >= 0, true, "sup_hang_describe: %s", strerror(-rc));
		/* Each thread's own words: the first thread's " S syscall "
		 * before the "; " that starts the second's (a first thread
		 * caught running must not pass on the second's words). */
		if (rc == 2 && second && first && first < second && strstr(second, " S syscall "))
			return;
		usleep(10000);
	}
	cr_assert_fail("the child's threads never showed as asleep: %s", out);
}

Test(hang_report, names_each_thread_and_the_call_it_is_stuck_in)
{
	char out[1024], want[64];
	int w;
	pid_t pid = stuck_child(&w);

	wait_asleep(pid, out, sizeof(out));
	/* the main thread first (tids in order): read(2) is call 0, the other pause(2) */
	snprintf(want, sizeof(want), "%d svc-stuck S syscall %d", (int)pid, SYS_read);
	cr_expect_eq(strncmp(out, want, strlen(want)), 0, "got: %s", out);
	snprintf(want, sizeof(want), " reaper S syscall %d", SYS_pause);
	cr_expect_not_null(strstr(out, want), "got: %s", out);
	/* as root the kernel's stack says where: the pipe's read */
	if (geteuid() == 0)
		cr_expect_not_null(strstr(out, "pipe_read"), "got: %s", out);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(w);
}

Test(hang_report, a_short_buffer_is_cut_not_overrun)
{
	char out[40];
	int w;
	pid_t pid = stuck_child(&w);

	memset(out, 'x', sizeof(out));
	cr_expect_geq(sup_hang_describe("/proc", pid, out, 24), 1);
	cr_expect_leq(strlen(out), 23u);
	cr_expect_eq(out[24], 'x');   /* nothing written past the length given */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(w);
}

Test(hang_report, a_process_that_is_gone_is_an_error)
{
	char out[64];
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	cr_expect_eq(sup_hang_describe("/proc", pid, out, sizeof(out)), -ENOENT);
	cr_expect_str_empty(out);
}

/* ---- /proc-shaped trees ---- */

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	cr_assert_eq(system(cmd), 0);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/dwcp-hang-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

Test(hang_report_tree, the_driver_frame_is_named_past_the_scheduler, .init = setup, .fini = teardown)
{
	char out[512];

	/* a name with a space and a parenthesis: the stat line's last ')' ends it */
	put("7/task/7/stat", "7 (svc (rdma) x) D 1 7 7 0 -1 4194560 0\n");
	put("7/task/7/syscall", "16 0x3 0xc0181b01 0x7ffd 0x0 0x0 0x0 0x7ffd0 0x7f00\n");
	put("7/task/7/stack", "[<0>] __schedule+0x351/0xa20\n[<0>] schedule+0x5d/0xe0\n"
			      "[<0>] schedule_timeout+0x88/0x160\n[<0>] rxe_cleanup_task+0x44/0x90 [rdma_rxe]\n"
			      "[<0>] rxe_qp_destroy+0x2a/0x50 [rdma_rxe]\n[<0>] ib_destroy_qp_user+0x9a/0x1a0 [ib_core]\n"
			      "[<0>] ib_uverbs_cleanup_uobject+0x35/0x90\n[<0>] uverbs_destroy_uobject+0x33/0x190\n"
			      "[<0>] do_syscall_64+0x55/0xb0\n[<0>] entry_SYSCALL_64_after_hwframe+0x6e/0xd8\n");
	put("7/task/9/stat", "9 (reaper) R 1 7 7 0 -1 4194560 0\n");
	put("7/task/9/syscall", "running\n");
	put("7/task/9/stack", "");
	put("7/task/9/wchan", "0");
	cr_assert_eq(sup_hang_describe(root, 7, out, sizeof(out)), 2);
	cr_expect_str_eq(out, "7 svc (rdma) x D syscall 16 in "
			      "rxe_cleanup_task<-rxe_qp_destroy<-ib_destroy_qp_user<-ib_uverbs_cleanup_uobject; "
			      "9 reaper R running");
}

Test(hang_report_tree, without_a_stack_wchan_names_the_wait, .init = setup, .fini = teardown)
{
	char out[256];

	put("5/task/5/stat", "5 (svc-gpu) S 1 5 5 0 -1 4194560 0\n");
	put("5/task/5/syscall", "-1 0x7ffd 0x7f00\n");
	put("5/task/5/wchan", "futex_wait_queue");
	cr_assert_eq(sup_hang_describe(root, 5, out, sizeof(out)), 1);
	cr_expect_str_eq(out, "5 svc-gpu S not in a call in futex_wait_queue");
}

Test(hang_report_tree, threads_past_the_limit_are_counted, .init = setup, .fini = teardown)
{
	char out[2048], rel[64];
	const char *tail;

	for (int t = 100; t < 100 + SUP_HANG_MAX_THREADS + 3; t++) {
		snprintf(rel, sizeof(rel), "1/task/%d/stat", t);
		put(rel, "1 (w) S 1\n");
	}
	cr_assert_eq(sup_hang_describe(root, 1, out, sizeof(out)), SUP_HANG_MAX_THREADS);
	tail = strrchr(out, ';');
	cr_assert_not_null(tail);
	cr_expect_str_eq(tail, "; 3 more threads");
	cr_expect_eq(strncmp(out, "100 w S ?", 9), 0, "got: %s", out);   /* in tid order */
}
