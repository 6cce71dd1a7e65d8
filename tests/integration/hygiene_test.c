/* A node is a good neighbour on its host (issue 8): it takes no more
 * hugepage memory than [supervisor] hugepage_mb, a start that fails
 * leaves nothing behind, and what a start or a stop removes is this
 * instance's own and nobody else's.
 *
 * "Left behind" is what an operator would find: hugepage files of the
 * instance in /dev/hugepages, DPDK's runtime dir, the control socket and
 * the pid file. The lock and the log stay after a failed start as after
 * a stop (the log says why). Memory is counted from the instance's own
 * hugepage files (allocated blocks), not from the host's free count,
 * which other nodes on the machine move at the same time.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <rte_eal_memconfig.h>

#include "ipc/client.h"
#include "ipc/ctl_msg.h"
#include "ipc/eal.h"
#include "tests/lib/node.h"

#define HUGE_DIR "/dev/hugepages"

static struct dwcp_test_node node;
static char planted[8][PATH_MAX];
static unsigned n_planted;

static void teardown(void)
{
	dwcp_test_node_stop(&node);
	for (unsigned i = 0; i < n_planted; i++) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", planted[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "teardown: cannot remove %s\n", planted[i]);
	}
	n_planted = 0;
}

/* Bytes of hugepage memory the instance's files hold (0 when none). */
static unsigned long long huge_bytes(const char *inst, unsigned *files)
{
	DIR *d = opendir(HUGE_DIR);
	unsigned long long total = 0;
	struct dirent *e;
	struct stat st;

	*files = 0;
	while (d && (e = readdir(d)) != NULL) {
		if (!dwcp_eal_is_hugefile(e->d_name, inst) ||
		    fstatat(dirfd(d), e->d_name, &st, 0) != 0)
			continue;
		(*files)++;
		total += (unsigned long long)st.st_blocks * 512ull;
	}
	if (d)
		closedir(d);
	return total;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Nothing of @p inst but its lock and log is left. */
static void assert_nothing_left(const char *inst, const char *when)
{
	char p[PATH_MAX];
	unsigned files;

	huge_bytes(inst, &files);
	cr_assert_eq(files, 0, "%s: %u hugepage file(s) of '%s' left in " HUGE_DIR, when, files,
		     inst);
	cr_assert_eq(dwcp_eal_runtime_dir(p, sizeof(p), inst), 0);
	cr_assert(!exists(p), "%s: DPDK runtime dir %s left", when, p);
	dwcp_ctl_sock_path(p, sizeof(p), dwcp_test_run_dir(), inst);
	cr_assert(!exists(p), "%s: control socket %s left", when, p);
	snprintf(p, sizeof(p), "%s/supervisor.pid", node.inst_dir);
	cr_assert(!exists(p), "%s: %s left", when, p);
}

/* `dwcp-supervisor start` on a config of @p ovr, expected to fail;
 * @p err gets its stderr. @return its exit status. */
static int start_expect_failure(const char *test, const char *const *ovr, char *err, size_t n)
{
	char sup[PATH_MAX], out[8192];

	memset(&node, 0, sizeof(node));
	dwcp_test_instance_name(node.instance, sizeof(node.instance), test);
	snprintf(node.config, sizeof(node.config), "/tmp/dwcp-%s.ini", node.instance);
	snprintf(node.inst_dir, sizeof(node.inst_dir), "%s/%s", dwcp_test_run_dir(), node.instance);
	node.started = true;   /* teardown cleans up, whatever happens */
	cr_assert_eq(dwcp_test_write_config(node.config, ovr), 0, "cannot write %s", node.config);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	return dwcp_test_run((char *const[]){ sup, "--instance", node.instance, "--config",
					      node.config, "start", NULL },
			     out, sizeof(out), err, n, 120000);
}

Test(hygiene, start_failing_after_eal_init_leaves_no_files, .fini = teardown, .timeout = 300)
{
	/* 4096 buffers of 68 KiB (and the delta cache) need ~338 MiB: the
	 * EAL comes up on 128 MiB, then the region does not fit. */
	static const char *const ovr[] = { "supervisor.hugepage_mb = 128", "pool.buffers = 4096",
					   "pool.buf_size = 69632", NULL };
	char err[8192] = "";
	int rc = start_expect_failure("hygfit", ovr, err, sizeof(err));

	cr_assert_neq(rc, 0, "start of a region larger than hugepage_mb succeeded: it took memory past the limit");
	cr_assert(strstr(err, "hugepage_mb"), "the error does not name hugepage_mb:\n%s", err);
	assert_nothing_left(node.instance, "after a start whose region did not fit");
}

Test(hygiene, start_without_enough_hugepages_leaves_no_files, .fini = teardown, .timeout = 300)
{
	/* More than the host has (the suite's machines reserve 10 GiB). */
	static const char *const ovr[] = { "supervisor.hugepage_mb = 65536", NULL };
	long free_pages = dwcp_eal_free_hugepages();
	char err[8192] = "";
	int rc;

	cr_assert(free_pages >= 0 && free_pages * 2 < 65536, "the host has %ld free hugepages",
		  free_pages);
	rc = start_expect_failure("hygmem", ovr, err, sizeof(err));
	cr_assert_neq(rc, 0, "start without enough hugepages succeeded");
	cr_assert(strstr(err, "hugepages"), "the error does not say hugepages:\n%s", err);
	assert_nothing_left(node.instance, "after a start without enough hugepages");
}

Test(hygiene, node_stays_within_hugepage_mb, .fini = teardown, .timeout = 300)
{
	static const char *const ovr[] = { "supervisor.hugepage_mb = 128", NULL };
	unsigned long long bytes, limit = 128ull << 20;
	unsigned files;
	pid_t pid;
	int rc;

	rc = dwcp_test_node_start(&node, "hyglimit", ovr);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	bytes = huge_bytes(node.instance, &files);
	DWCP_NODE_ASSERT(node.instance, files >= 1 && bytes > 0, "no hugepage file of the node");
	DWCP_NODE_ASSERT(node.instance, bytes <= limit,
			 "the node holds %llu MiB of hugepages with hugepage_mb = 128", bytes >> 20);
	/* Services attaching again (a crash, a restart) take nothing more. */
	pid = dwcp_test_wait_service_up(node.instance, "svc-simd", 0, 30000);
	DWCP_NODE_ASSERT(node.instance, pid > 0, "svc-simd not up");
	cr_assert_eq(kill(pid, SIGKILL), 0);
	DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_service_up(node.instance, "svc-simd", 1, 30000) > 0,
			 "svc-simd did not come back");
	bytes = huge_bytes(node.instance, &files);
	DWCP_NODE_ASSERT(node.instance, bytes <= limit,
			 "after a restart the node holds %llu MiB with hugepage_mb = 128", bytes >> 20);
	cr_assert_eq(dwcp_test_node_stop(&node), 0, "stop failed");
	assert_nothing_left(node.instance, "after stop");
}

/* Create @p dir/@p name; with @p in_use, hold a shared lock on it as long
 * as the test runs, as DPDK does on the hugepage files of a live node
 * (DPDK's own start-up clears unlocked *map_* files of any prefix: stale
 * ones of dead nodes; a live neighbour's are locked). */
Test(hygiene, symlinked_instance_dir_is_refused_and_its_target_untouched, .fini = teardown,
     .timeout = 300)
{
	static const char *const ovr[] = { NULL };
	char target[] = "/tmp/dwcp-hyg-target-XXXXXX", err[8192] = "", p[PATH_MAX + 32];
	struct stat st;
	int rc;

	cr_assert(mkdtemp(target) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(planted[n_planted++], PATH_MAX, "%s", target);
	cr_assert_eq(chmod(target, 0755), 0);
	/* The run dir exists (other nodes use it); plant our instance's name. */
	dwcp_test_instance_name(node.instance, sizeof(node.instance), "hyglink");
	snprintf(node.inst_dir, sizeof(node.inst_dir), "%s/%s", dwcp_test_run_dir(), node.instance);
	mkdir(dwcp_test_run_dir(), 0755);
	cr_assert_eq(symlink(target, node.inst_dir), 0, "symlink %s: %s", node.inst_dir,
		     strerror(errno));
	snprintf(planted[n_planted++], PATH_MAX, "%s", node.inst_dir);
	rc = start_expect_failure("hyglink", ovr, err, sizeof(err));
	cr_assert_neq(rc, 0, "start through a symlinked instance dir succeeded");
	cr_assert(strstr(err, "symlink"), "the error does not say symlink:\n%s", err);
	cr_assert_eq(stat(target, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0755, "the symlink's target was chmod'ed to %04o",
		     st.st_mode & 07777);
	snprintf(p, sizeof(p), "%s/supervisor.lock", target);
	cr_assert(!exists(p), "a lock file was created in the symlink's target");
	snprintf(p, sizeof(p), "%s/supervisor.log", target);
	cr_assert(!exists(p), "a log was written in the symlink's target");
}

static void plant_file(const char *dir, const char *name, bool in_use)
{
	char *p = planted[n_planted++];
	int fd;

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert(fd >= 0, "cannot create %s: %s", p, strerror(errno));
	if (in_use)
		cr_assert_eq(flock(fd, LOCK_SH), 0, "flock %s: %s", p, strerror(errno));
	else
		close(fd);
}

Test(hygiene, start_and_stop_remove_only_this_instances_files, .fini = teardown, .timeout = 300)
{
	char inst[DWCP_TEST_INST_MAX], name[PATH_MAX + 16], rt[PATH_MAX];
	const char *others[3];
	int rc;

	dwcp_test_instance_name(inst, sizeof(inst), "hygown");
	/* Files of live instances whose names start with ours: "<inst>x" and
	 * "<inst>map_z" (whose hugepage file starts "<inst>map_"). */
	snprintf(name, sizeof(name), "%sxmap_0", inst);
	plant_file(HUGE_DIR, name, true);
	snprintf(name, sizeof(name), "%smap_zmap_0", inst);
	plant_file(HUGE_DIR, name, true);
	snprintf(name, sizeof(name), "%sx", inst);
	cr_assert_eq(dwcp_eal_runtime_dir(rt, sizeof(rt), name), 0);
	cr_assert_eq(mkdir(rt, 0700), 0, "mkdir %s: %s", rt, strerror(errno));
	snprintf(planted[n_planted++], PATH_MAX, "%s", rt);
	plant_file(rt, "config", false);
	for (unsigned i = 0; i < 3; i++)
		others[i] = planted[i];
	/* And a stale one of ours, which start must clear. */
	snprintf(name, sizeof(name), "%smap_7", inst);
	plant_file(HUGE_DIR, name, false);

	rc = dwcp_test_node_start(&node, "hygown", NULL);
	cr_assert_str_eq(node.instance, inst);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	cr_assert(!exists(planted[4]), "start left this instance's stale %s", planted[4]);
	for (unsigned i = 0; i < 3; i++)
		cr_assert(exists(others[i]), "start of '%s' removed %s", inst, others[i]);
	cr_assert_eq(dwcp_test_node_stop(&node), 0, "stop failed");
	for (unsigned i = 0; i < 3; i++)
		cr_assert(exists(others[i]), "stop of '%s' removed %s", inst, others[i]);
	snprintf(name, sizeof(name), "%s/config", rt);
	cr_assert(exists(name), "stop of '%s' emptied %s", inst, rt);
	assert_nothing_left(inst, "after stop");
}

/* A secondary killed while it holds DPDK's memory-hotplug read lock (a
 * hot standby SIGKILLed inside its rte_eal_init, by a crash or by the
 * stop itself) leaves a reader count there for good. The supervisor once
 * took the write lock at stop (rte_eal_cleanup) and spun forever: `stop`
 * of a node with hot standbys did not return. The race is rare; this
 * makes its outcome certain: a client takes the read lock and dies. */
static void die_holding_mem_read_lock(const char *inst)
{
	struct dwcp_client c;
	struct dwcp_err err = { 0 };

	if (dwcp_client_open(&c, inst, NULL, "lockdeath", "hygiene_test", &err) != 0) {
		fprintf(stderr, "lockdeath: %s\n", err.msg);
		_exit(2);
	}
	rte_mcfg_mem_read_lock();
	raise(SIGKILL);
	_exit(3);
}

Test(hygiene, stop_returns_after_a_secondary_died_holding_dpdk_memory_lock, .fini = teardown,
     .timeout = 300)
{
	static const char *const ovr[] = { "supervisor.hot_standby = true", NULL };
	int rc = dwcp_test_node_start(&node, "hyglock", ovr), status = 0;
	pid_t pid;

	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		die_holding_mem_read_lock(node.instance);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the client did not die holding the lock (wait status %#x)", status);
	rc = dwcp_test_node_stop(&node);
	cr_assert_eq(rc, 0, "dwcp-supervisor stop after a secondary died holding DPDK's memory lock: exit %d",
		     rc);
	assert_nothing_left(node.instance, "after stop");
}
