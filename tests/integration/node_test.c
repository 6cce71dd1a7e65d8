/* Node lifecycle against real processes on real hugepages: start, status,
 * crash and hang recovery, planned restart, refusal of a second
 * supervisor, stop and its cleanup, start after a crashed run, two nodes
 * side by side, bad configs and command lines, and the control socket's
 * permissions and robustness.
 *
 * Every test starts its own node under a unique instance name and stops
 * it in .fini (tests/lib/node.h also stops it if the test process dies).
 * Waits are hang guards, not speed requirements; a failing check prints
 * the status JSON and the supervisor's log tail it was looking at.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ipc/ctl_msg.h"
#include "tests/lib/node.h"

#define UP_MS      30000   /* hang guard: a service back up after a restart */
#define EXIT_MS    30000   /* hang guard: a process gone */

static struct dwcp_test_node node, node_b;

static void teardown(void)
{
	dwcp_test_node_stop(&node);
	dwcp_test_node_stop(&node_b);
}

static void start_node(struct dwcp_test_node *n, const char *test, const char *const *ovr)
{
	int rc = dwcp_test_node_start(n, test, ovr);

	DWCP_NODE_ASSERT(n->instance, rc == 0, "dwcp-supervisor start failed (exit %d)", rc);
}

/* A fresh status document; the test fails (with a dump) when there is none. */
static cJSON *status_of(const char *inst)
{
	cJSON *st = dwcp_test_status(inst, NULL);

	DWCP_NODE_ASSERT(inst, st != NULL, "no status from instance %s", inst);
	return st;
}

static void pids_of(const char *inst, pid_t pids[DWCP_TEST_SERVICES])
{
	cJSON *st = status_of(inst);

	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
}

/* Every service but @p skip (NULL: none) still runs under the pid it had. */
static void assert_pids_unchanged(const char *inst, const pid_t before[DWCP_TEST_SERVICES],
				  const char *skip)
{
	pid_t now[DWCP_TEST_SERVICES];

	pids_of(inst, now);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++) {
		if (skip && !strcmp(skip, dwcp_test_service_names[i]))
			continue;
		DWCP_NODE_ASSERT(inst, now[i] == before[i], "%s: pid %d, was %d",
				 dwcp_test_service_names[i], (int)now[i], (int)before[i]);
	}
}

/* Kill @p svc with @p sig, wait for its next generation, and check it
 * came back as a new process, generation+1, restarts+1, nobody else
 * touched. */
static void crash_and_check(const char *inst, const char *svc, int sig)
{
	cJSON *st = status_of(inst);
	double gen = dwcp_test_svc_num(st, svc, "generation");
	double restarts = dwcp_test_svc_num(st, svc, "restarts");
	pid_t pids[DWCP_TEST_SERVICES], pid = (pid_t)dwcp_test_svc_num(st, svc, "pid"), np;

	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(inst, pid > 0, "%s has no pid", svc);
	cr_assert_eq(kill(pid, sig), 0, "kill(%d, %d): %s", (int)pid, sig, strerror(errno));
	np = dwcp_test_wait_service_up(inst, svc, gen + 1, UP_MS);
	DWCP_NODE_ASSERT(inst, np > 0, "%s did not come back after signal %d", svc, sig);
	DWCP_NODE_ASSERT(inst, np != pid, "%s: still pid %d", svc, (int)pid);
	DWCP_NODE_ASSERT(inst, dwcp_test_wait_exited(pid, EXIT_MS), "%s: old pid %d still runs",
			 svc, (int)pid);
	st = status_of(inst);
	DWCP_NODE_ASSERT(inst, dwcp_test_svc_num(st, svc, "generation") == gen + 1,
			 "%s: generation %.0f, expected %.0f", svc,
			 dwcp_test_svc_num(st, svc, "generation"), gen + 1);
	DWCP_NODE_ASSERT(inst, dwcp_test_svc_num(st, svc, "restarts") == restarts + 1,
			 "%s: restarts %.0f, expected %.0f", svc,
			 dwcp_test_svc_num(st, svc, "restarts"), restarts + 1);
	/* how it died, as dwcpctl status tells it: a kill from outside is
	 * not the supervisor's */
	if (sig == SIGKILL)
		DWCP_NODE_ASSERT(inst, !strcmp(dwcp_test_svc_str(st, svc, "last_death"), "killed by signal 9 (Killed)"),
				 "%s: last_death \"%s\"", svc, dwcp_test_svc_str(st, svc, "last_death"));
	cJSON_Delete(st);
	assert_pids_unchanged(inst, pids, svc);
}

/* ---- start and status ---- */

static void check_field(const char *inst, const cJSON *s, const char *field, bool string)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, field);
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");

	DWCP_NODE_ASSERT(inst, string ? cJSON_IsString(v) : cJSON_IsNumber(v),
			 "service %s: field '%s' missing or not a %s",
			 cJSON_IsString(nm) ? nm->valuestring : "?", field,
			 string ? "string" : "number");
}

/* svc-gpu and svc-rdma have no device here: STANDBY with a reason. With
 * the device they may be READY, then with an empty reason. */
static void check_device_state(const cJSON *st, const char *inst, const char *svc,
			       const char *standby_reason)
{
	const char *state = dwcp_test_svc_str(st, svc, "state");
	const char *reason = dwcp_test_svc_str(st, svc, "reason");

	if (!strcmp(state, "READY")) {
		DWCP_NODE_ASSERT(inst, reason[0] == '\0', "%s READY with reason '%s'", svc, reason);
		return;
	}
	DWCP_NODE_ASSERT(inst, !strcmp(state, "STANDBY"), "%s is %s", svc, state);
	DWCP_NODE_ASSERT(inst, strstr(reason, standby_reason) != NULL,
			 "%s STANDBY reason '%s' lacks '%s'", svc, reason, standby_reason);
}

static unsigned simd_workers(void)
{
	cpu_set_t set;
	unsigned n = sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;

	return n < 1 ? 1 : n > 32 ? 32 : n;
}

Test(node, start_brings_up_all_six, .fini = teardown, .timeout = 300)
{
	static const char *const num_fields[] = { "pid", "generation", "restarts", "uptime_s",
						   "heartbeat_age_ms", "buffers_held", "link_in",
						   "link_out" };
	const cJSON *svcs, *s;
	unsigned i = 0;
	cJSON *st;

	start_node(&node, "start", NULL);
	st = status_of(node.instance);
	svcs = cJSON_GetObjectItemCaseSensitive(st, "services");
	DWCP_NODE_ASSERT(node.instance, cJSON_IsObject(st) && cJSON_IsArray(svcs),
			 "status is not {\"services\": [...]}");
	/* The six, then svc-simd's further workers: [simd] workers = auto
	 * runs one per CPU this node may use (at most 32). */
	DWCP_NODE_ASSERT(node.instance,
			 cJSON_GetArraySize(svcs) == (int)(DWCP_TEST_SERVICES + simd_workers() - 1),
			 "%d services listed, expected the six and %u more svc-simd workers",
			 cJSON_GetArraySize(svcs), simd_workers() - 1);
	cJSON_ArrayForEach(s, svcs) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");
		char want[32];

		DWCP_NODE_ASSERT(node.instance, cJSON_IsObject(s), "services[%u] is not an object", i);
		check_field(node.instance, s, "name", true);
		if (i < DWCP_TEST_SERVICES)
			snprintf(want, sizeof(want), "%s", dwcp_test_service_names[i]);
		else
			snprintf(want, sizeof(want), "svc-simd.%u", i - DWCP_TEST_SERVICES + 1);
		DWCP_NODE_ASSERT(node.instance, !strcmp(nm->valuestring, want),
				 "services[%u] is %s, expected %s", i, nm->valuestring, want);
		check_field(node.instance, s, "state", true);
		check_field(node.instance, s, "reason", true);
		for (unsigned k = 0; k < sizeof(num_fields) / sizeof(num_fields[0]); k++)
			check_field(node.instance, s, num_fields[k], false);
		DWCP_NODE_ASSERT(node.instance,
				 cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(s, "links")),
				 "%s: 'links' is not an array", nm->valuestring);
		DWCP_NODE_ASSERT(node.instance, dwcp_test_svc_num(st, nm->valuestring, "pid") > 0,
				 "%s has no pid", nm->valuestring);
		DWCP_NODE_ASSERT(node.instance,
				 !dwcp_test_proc_exited((pid_t)dwcp_test_svc_num(st, nm->valuestring,
										  "pid")),
				 "%s: its pid does not run", nm->valuestring);
		DWCP_NODE_ASSERT(node.instance,
				 dwcp_test_svc_num(st, nm->valuestring, "generation") == 0 &&
				 dwcp_test_svc_num(st, nm->valuestring, "restarts") == 0,
				 "%s: a fresh node is at generation 0 with 0 restarts",
				 nm->valuestring);
		i++;
	}
	for (unsigned k = 0; k < DWCP_TEST_SERVICES; k++) {
		const char *svc = dwcp_test_service_names[k];

		if (!strcmp(svc, "svc-rdma"))
			check_device_state(st, node.instance, svc, "no RDMA device");
		else if (!strcmp(svc, "svc-gpu"))
			check_device_state(st, node.instance, svc, "no CUDA device");
		else
			DWCP_NODE_ASSERT(node.instance,
					 !strcmp(dwcp_test_svc_str(st, svc, "state"), "READY") &&
					 !dwcp_test_svc_str(st, svc, "reason")[0],
					 "%s is %s (reason '%s')", svc,
					 dwcp_test_svc_str(st, svc, "state"),
					 dwcp_test_svc_str(st, svc, "reason"));
	}
	cJSON_Delete(st);
}

/* "pid" of the supervisor and of each service in a status JSON text. */
static void parse_pids(const char *inst, const char *text, pid_t *sup,
		       pid_t pids[DWCP_TEST_SERVICES])
{
	cJSON *st = cJSON_Parse(text);
	const cJSON *p;

	DWCP_NODE_ASSERT(inst, st != NULL, "not JSON: '%s'", text);
	p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "supervisor"),
					     "pid");
	*sup = cJSON_IsNumber(p) ? (pid_t)p->valuedouble : -1;
	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
}

Test(node, supervisor_and_dwcpctl_status_agree, .fini = teardown, .timeout = 300)
{
	static char out1[256 * 1024], out2[256 * 1024];
	char sup[PATH_MAX], ctl[PATH_MAX], err[4096];
	pid_t s1, s2, p1[DWCP_TEST_SERVICES], p2[DWCP_TEST_SERVICES];
	int rc;

	start_node(&node, "agree", NULL);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", node.instance, "status", "--json",
					    NULL },
			   out1, sizeof(out1), err, sizeof(err), 30000);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "dwcp-supervisor status --json: exit %d: %s", rc,
			 err);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", node.instance, "status", "--json",
					    NULL },
			   out2, sizeof(out2), err, sizeof(err), 30000);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "dwcpctl status --json: exit %d: %s", rc, err);
	parse_pids(node.instance, out1, &s1, p1);
	parse_pids(node.instance, out2, &s2, p2);
	DWCP_NODE_ASSERT(node.instance, s1 > 0 && s1 == s2 && s1 == node.sup_pid,
			 "supervisor pid: %d vs %d (pid file %d)", (int)s1, (int)s2,
			 (int)node.sup_pid);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance, p1[i] > 0 && p1[i] == p2[i], "%s: pid %d vs %d",
				 dwcp_test_service_names[i], (int)p1[i], (int)p2[i]);
}

/* ---- recovery ---- */

Test(node, kill9_each_service_comes_back, .fini = teardown, .timeout = 300)
{
	start_node(&node, "kill9", NULL);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		crash_and_check(node.instance, dwcp_test_service_names[i], SIGKILL);
}

/* The default delta cache sizes itself to what hugepage_mb leaves, and
 * leaves the heap room for the service processes still to start: after
 * every service was killed and came back, status still shows that room.
 * And a killed process leaks nothing of the heap: each secondary's EAL
 * allocates its service-core tables there (~84 KiB), which a kill -9
 * never gave back until the services freed them right after EAL init
 * (ipc/eal.c). */
static double sup_num(const cJSON *st, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "supervisor"), field);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

Test(node, the_auto_delta_cache_leaves_room_for_restarts, .fini = teardown, .timeout = 300)
{
	cJSON *st;
	double budget, free_b, largest, cache, free0;

	start_node(&node, "heap", NULL);
	st = status_of(node.instance);
	free0 = sup_num(st, "hugepage_free_bytes");
	cJSON_Delete(st);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		crash_and_check(node.instance, dwcp_test_service_names[i], SIGKILL);
	st = status_of(node.instance);
	budget = sup_num(st, "hugepage_mb") * 1048576.0;
	free_b = sup_num(st, "hugepage_free_bytes");
	largest = sup_num(st, "hugepage_largest_free_bytes");
	cache = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "delta_cache"), "bytes")->valuedouble;
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(node.instance, budget > 0 && free_b > 0 && largest > 0 && largest <= free_b && free_b < budget,
			 "hugepage figures: budget %.0f, free %.0f, largest %.0f", budget, free_b, largest);
	DWCP_NODE_ASSERT(node.instance, free_b >= 8.0 * 1048576.0,
			 "%.1f MiB of the heap left after %u restarts: the cache left no room", free_b / 1048576.0,
			 DWCP_TEST_SERVICES);
	fprintf(stderr, "node heap: %.0f bytes free before %u kills, %.0f after\n", free0, DWCP_TEST_SERVICES, free_b);
	DWCP_NODE_ASSERT(node.instance, free0 - free_b < DWCP_TEST_SERVICES * 16384.0,
			 "%u kill -9 took %.0f bytes of the heap for good (%.0f each)", DWCP_TEST_SERVICES,
			 free0 - free_b, (free0 - free_b) / DWCP_TEST_SERVICES);
	DWCP_NODE_ASSERT(node.instance, cache >= 16.0 * 1048576.0 && cache < budget,
			 "auto delta cache of %.1f MiB in a %.0f MiB budget", cache / 1048576.0, budget / 1048576.0);
}

Test(node, sigstop_is_detected_as_hang, .fini = teardown, .timeout = 300)
{
	static const char *const ovr[] = { "supervisor.heartbeat_ms = 20",
					   "supervisor.heartbeat_timeout_ms = 200", NULL };

	char path[PATH_MAX], line[1024], want[64];
	bool said = false;
	cJSON *st;
	pid_t pid;
	FILE *f;

	start_node(&node, "sigstop", ovr);
	st = status_of(node.instance);
	pid = (pid_t)dwcp_test_svc_num(st, "svc-simd", "pid");
	cJSON_Delete(st);
	crash_and_check(node.instance, "svc-simd", SIGSTOP);
	/* The kill's log line is preceded by where it was stuck: its main
	 * thread stopped (state T), as an operator reading the log must see. */
	snprintf(path, sizeof(path), "%s/%s/supervisor.log", dwcp_test_run_dir(), node.instance);
	snprintf(want, sizeof(want), "svc-simd (pid %d) was stuck: %d ", (int)pid, (int)pid);
	f = fopen(path, "re");
	while (f && !said && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, want);

		said = p && strstr(p + strlen(want), " T ");
	}
	if (f)
		fclose(f);
	DWCP_NODE_ASSERT(node.instance, said, "%s has no line \"%s<tid> svc-simd T ...\" before the hang's kill",
			 path, want);
	/* and dwcpctl status says why it restarted, without the log */
	st = status_of(node.instance);
	snprintf(line, sizeof(line), "%s", dwcp_test_svc_str(st, "svc-simd", "last_death"));
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(node.instance,
			 strstr(line, "killed by signal 9") && strstr(line, "by the supervisor: no heartbeat for") &&
			 strstr(line, "; stuck: ") && strstr(line, " svc-simd T "),
			 "svc-simd's last_death in dwcpctl status: \"%s\"", line);
}

Test(node, dwcpctl_restart_starts_a_new_generation, .fini = teardown, .timeout = 300)
{
	char ctl[PATH_MAX], out[4096], err[4096];
	pid_t pids[DWCP_TEST_SERVICES], np;
	double gen;
	cJSON *st;
	int rc;

	start_node(&node, "restart", NULL);
	st = status_of(node.instance);
	gen = dwcp_test_svc_num(st, "svc-simd", "generation");
	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", node.instance, "restart", "svc-simd",
					    NULL },
			   out, sizeof(out), err, sizeof(err), 30000);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "dwcpctl restart: exit %d: %s%s", rc, out, err);
	DWCP_NODE_ASSERT(node.instance, strstr(out, "svc-simd") != NULL,
			 "dwcpctl restart said '%s'", out);
	np = dwcp_test_wait_service_up(node.instance, "svc-simd", gen + 1, UP_MS);
	DWCP_NODE_ASSERT(node.instance, np > 0 && np != pids[3], "svc-simd pid %d, was %d",
			 (int)np, (int)pids[3]);
	DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(pids[3], EXIT_MS),
			 "old svc-simd pid %d still runs", (int)pids[3]);
	st = status_of(node.instance);
	DWCP_NODE_ASSERT(node.instance, dwcp_test_svc_num(st, "svc-simd", "generation") == gen + 1,
			 "svc-simd generation %.0f, expected %.0f",
			 dwcp_test_svc_num(st, "svc-simd", "generation"), gen + 1);
	cJSON_Delete(st);
	assert_pids_unchanged(node.instance, pids, "svc-simd");
}

/* ---- one supervisor per instance ---- */

Test(node, second_start_is_refused, .fini = teardown, .timeout = 300)
{
	char sup[PATH_MAX], out[8192], err[8192];
	pid_t pids[DWCP_TEST_SERVICES];
	int rc;

	start_node(&node, "second", NULL);
	pids_of(node.instance, pids);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", node.instance, "--config",
					    node.config, "start", NULL },
			   out, sizeof(out), err, sizeof(err), 120000);
	DWCP_NODE_ASSERT(node.instance, rc != 0, "second start exited 0: %s", out);
	DWCP_NODE_ASSERT(node.instance, strstr(err, "already running") != NULL,
			 "second start (exit %d) stderr lacks 'already running': '%s'", rc, err);
	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(node.sup_pid),
			 "the first supervisor (pid %d) is gone", (int)node.sup_pid);
	assert_pids_unchanged(node.instance, pids, NULL);
}

/* ---- stop ---- */

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static void assert_node_files_gone(const struct dwcp_test_node *n)
{
	char pat[PATH_MAX], p[PATH_MAX];
	glob_t g;
	int grc;

	snprintf(pat, sizeof(pat), "/dev/hugepages/%smap_*", n->instance);
	grc = glob(pat, 0, NULL, &g);
	DWCP_NODE_ASSERT(n->instance, grc == GLOB_NOMATCH, "%zu hugepage files left, e.g. %s",
			 grc == 0 ? g.gl_pathc : 0, grc == 0 ? g.gl_pathv[0] : "?");
	if (grc == 0)
		globfree(&g);
	snprintf(p, sizeof(p), "/var/run/dpdk/%s", n->instance);
	DWCP_NODE_ASSERT(n->instance, !exists(p), "%s is still there", p);
	DWCP_NODE_ASSERT(n->instance,
			 dwcp_ctl_sock_path(p, sizeof(p), dwcp_test_run_dir(), n->instance) == 0 &&
			 !exists(p), "control socket %s is still there", p);
}

Test(node, stop_ends_everything_and_cleans_up, .fini = teardown, .timeout = 300)
{
	char sup[PATH_MAX], out[4096], err[4096];
	pid_t pids[DWCP_TEST_SERVICES];
	int rc;

	start_node(&node, "stop", NULL);
	pids_of(node.instance, pids);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", node.instance, "stop", NULL }, out,
			   sizeof(out), err, sizeof(err), 90000);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "stop: exit %d: %s%s", rc, out, err);
	DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(node.sup_pid, EXIT_MS),
			 "supervisor pid %d still runs after stop", (int)node.sup_pid);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(pids[i], EXIT_MS),
				 "%s (pid %d) still runs after stop (state %c)",
				 dwcp_test_service_names[i], (int)pids[i],
				 dwcp_test_proc_state(pids[i]));
	assert_node_files_gone(&node);
}

Test(node, start_after_a_crashed_supervisor, .fini = teardown, .timeout = 300)
{
	char sup[PATH_MAX], out[8192], err[8192];
	pid_t pids[DWCP_TEST_SERVICES], again[DWCP_TEST_SERVICES];
	int rc;

	start_node(&node, "crashed", NULL);
	pids_of(node.instance, pids);
	DWCP_NODE_ASSERT(node.instance, node.sup_pid > 0, "no supervisor.pid");
	cr_assert_eq(kill(node.sup_pid, SIGKILL), 0, "kill supervisor: %s", strerror(errno));
	DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(node.sup_pid, EXIT_MS),
			 "supervisor survived SIGKILL");
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(pids[i], EXIT_MS),
				 "%s (pid %d) outlived its supervisor (state %c)",
				 dwcp_test_service_names[i], (int)pids[i],
				 dwcp_test_proc_state(pids[i]));
	/* No cleanup: the stale hugepage file, DPDK dir and socket stay. */
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", node.instance, "--config",
					    node.config, "start", NULL },
			   out, sizeof(out), err, sizeof(err), 120000);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start after a crash: exit %d: %s%s", rc, out, err);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance,
				 dwcp_test_wait_service_up(node.instance, dwcp_test_service_names[i],
							   0, UP_MS) > 0,
				 "%s did not come up", dwcp_test_service_names[i]);
	pids_of(node.instance, again);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance, again[i] > 0 && again[i] != pids[i],
				 "%s: pid %d (was %d)", dwcp_test_service_names[i], (int)again[i],
				 (int)pids[i]);
}

Test(node, two_instances_are_independent, .fini = teardown, .timeout = 300)
{
	pid_t pa[DWCP_TEST_SERVICES], pb[DWCP_TEST_SERVICES];

	start_node(&node, "twoA", NULL);
	start_node(&node_b, "twoB", NULL);
	DWCP_NODE_ASSERT(node.instance, strcmp(node.instance, node_b.instance) != 0, "same name");
	pids_of(node.instance, pa);
	pids_of(node_b.instance, pb);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		for (unsigned k = 0; k < DWCP_TEST_SERVICES; k++)
			DWCP_NODE_ASSERT(node.instance, pa[i] != pb[k], "pid %d in both nodes",
					 (int)pa[i]);
	crash_and_check(node.instance, "svc-simd", SIGKILL);
	assert_pids_unchanged(node_b.instance, pb, NULL);
	pids_of(node.instance, pa);
	crash_and_check(node_b.instance, "svc-mem", SIGKILL);
	assert_pids_unchanged(node.instance, pa, NULL);
	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(node.sup_pid) &&
			 !dwcp_test_proc_exited(node_b.sup_pid), "a supervisor is gone");
}

/* ---- refusals ---- */

Test(node, unknown_config_key_is_refused, .fini = teardown, .timeout = 120)
{
	char inst[DWCP_TEST_INST_MAX], path[128], sup[PATH_MAX], out[4096], err[4096], want[160];
	FILE *f;
	int rc;

	dwcp_test_instance_name(inst, sizeof(inst), "badkey");
	snprintf(path, sizeof(path), "/tmp/dwcp-%s.ini", inst);
	f = fopen(path, "w");
	cr_assert(f != NULL, "cannot write %s", path);
	fprintf(f, "[supervisor]\nheartbeat_ms = 100\nheartbeet_timeout_ms = 900\n");
	fclose(f);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", inst, "--config", path, "start",
					    NULL },
			   out, sizeof(out), err, sizeof(err), 60000);
	unlink(path);
	if (rc == 0) {
		/* It came up after all: let .fini stop it. */
		snprintf(node.instance, sizeof(node.instance), "%s", inst);
		snprintf(node.inst_dir, sizeof(node.inst_dir), "%s/%s", dwcp_test_run_dir(), inst);
		node.started = true;
	}
	cr_assert_neq(rc, 0, "start with an unknown key exited 0: %s", out);
	snprintf(want, sizeof(want), "%s:3", path);
	cr_assert(strstr(err, "heartbeet_timeout_ms") != NULL && strstr(err, want) != NULL,
		  "message does not name the key and '%s': '%s'", want, err);
	cr_assert(dwcp_test_status(inst, NULL) == NULL, "a node %s answers", inst);
}

/* @return exit status; @p err receives stderr. */
static int run_cli(const char *bin, char *const *args, char *err, size_t err_n)
{
	char path[PATH_MAX], out[4096];
	char *argv[8] = { path };
	unsigned i = 0;

	snprintf(path, sizeof(path), "%s/%s", dwcp_test_bin_dir(), bin);
	for (; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	return dwcp_test_run(argv, out, sizeof(out), err, err_n, 30000);
}

static void expect_usage(const char *bin, char *const *args)
{
	char err[8192];
	int rc = run_cli(bin, args, err, sizeof(err));

	cr_assert_eq(rc, 2, "%s %s ...: exit %d, expected 2; stderr: '%s'", bin, args[0], rc, err);
	cr_assert(strstr(err, "usage:") != NULL, "%s %s ...: no usage on stderr: '%s'", bin,
		  args[0], err);
}

Test(node, bad_command_lines_exit_2_with_usage, .timeout = 120)
{
	char inst[DWCP_TEST_INST_MAX];

	dwcp_test_instance_name(inst, sizeof(inst), "badcli");
	expect_usage("dwcp-supervisor", (char *[]){ "--instance", inst, "frobnicate", NULL });
	expect_usage("dwcp-supervisor", (char *[]){ "--instance", inst, "--frobnicate", "start",
						    NULL });
	expect_usage("dwcp-supervisor", (char *[]){ "--instance", inst, NULL });
	expect_usage("dwcpctl", (char *[]){ "--instance", inst, "frobnicate", NULL });
	expect_usage("dwcpctl", (char *[]){ "--instance", inst, "--frobnicate", "status", NULL });
	expect_usage("dwcpctl", (char *[]){ "--instance", inst, "restart", NULL });
}

/* ---- the control socket ---- */

static int connect_ctl(const char *inst)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	dwcp_ctl_sock_path(sa.sun_path, sizeof(sa.sun_path), dwcp_test_run_dir(), inst);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %s: %s",
		     sa.sun_path, strerror(errno));
	return fd;
}

/* Send @p len bytes of @p msg; expect an error reply. */
static void send_garbage(const char *inst, int fd, const void *msg, size_t len)
{
	static uint8_t buf[DWCP_CTL_REPLY_MAX];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct dwcp_ctl_hdr h;
	ssize_t n;

	DWCP_NODE_ASSERT(inst, send(fd, msg, len, 0) == (ssize_t)len, "send %zu bytes: %s", len,
			 strerror(errno));
	DWCP_NODE_ASSERT(inst, poll(&p, 1, 10000) == 1, "no reply to %zu bytes of garbage", len);
	n = recv(fd, buf, sizeof(buf), 0);
	DWCP_NODE_ASSERT(inst, n >= (ssize_t)sizeof(h), "reply of %zd bytes to %zu bytes of garbage",
			 n, len);
	memcpy(&h, buf, sizeof(h));
	DWCP_NODE_ASSERT(inst, h.magic == DWCP_CTL_MAGIC && h.status < 0,
			 "reply to %zu bytes of garbage: magic %#x status %d", len, h.magic,
			 h.status);
	DWCP_NODE_ASSERT(inst, h.len > 1 && h.len == (size_t)n - sizeof(h) &&
			 buf[n - 1] == '\0', "error reply without a message (len %u)", h.len);
}

Test(node, control_socket_is_private_and_survives_garbage, .fini = teardown, .timeout = 300)
{
	char path[PATH_MAX], dir[PATH_MAX];
	pid_t pids[DWCP_TEST_SERVICES];
	struct dwcp_ctl_req req;
	uint8_t junk[4096];
	struct stat sb;
	int fd;

	start_node(&node, "ctlsock", NULL);
	pids_of(node.instance, pids);
	dwcp_ctl_sock_path(path, sizeof(path), dwcp_test_run_dir(), node.instance);
	cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
	cr_assert(S_ISSOCK(sb.st_mode), "%s is not a socket", path);
	cr_assert_eq(sb.st_mode & 07777, 0600, "%s has mode %04o", path, sb.st_mode & 07777);
	snprintf(dir, sizeof(dir), "%s/%s", dwcp_test_run_dir(), node.instance);
	cr_assert_eq(stat(dir, &sb), 0, "stat %s: %s", dir, strerror(errno));
	cr_assert_eq(sb.st_mode & 07777, 0700, "%s has mode %04o", dir, sb.st_mode & 07777);

	srandom((unsigned)getpid());
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)random();
	junk[0] ^= 0x5a;   /* never the magic by chance */
	fd = connect_ctl(node.instance);
	send_garbage(node.instance, fd, junk, 1);
	send_garbage(node.instance, fd, junk, 15);
	send_garbage(node.instance, fd, junk, sizeof(struct dwcp_ctl_req));
	send_garbage(node.instance, fd, junk, 200);
	send_garbage(node.instance, fd, junk, sizeof(junk));
	/* Right magic and version, wrong type; then right type, unterminated name. */
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	req.hdr.type = 0x7777;
	send_garbage(node.instance, fd, &req, sizeof(req));
	dwcp_ctl_req_init(&req, DWCP_CTL_RESTART);
	memset(req.u.target.name, 'x', sizeof(req.u.target.name));
	send_garbage(node.instance, fd, &req, sizeof(req));
	close(fd);
	/* Many connections that vanish mid-conversation. */
	for (int i = 0; i < 100; i++) {
		fd = connect_ctl(node.instance);
		DWCP_NODE_ASSERT(node.instance, send(fd, junk, (size_t)(1 + i % 64), 0) > 0,
				 "send: %s", strerror(errno));
		close(fd);
	}
	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(node.sup_pid),
			 "the supervisor died of garbage");
	assert_pids_unchanged(node.instance, pids, NULL);
}
