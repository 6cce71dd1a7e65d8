/* Test helpers for integration tests that run a real dwcp node: a
 * dwcp-supervisor and its six services on real hugepages.
 *
 * A node gets a unique instance name ("it-<test>-<pid>"), a generated
 * config file, and a guardian: a small process forked at start that
 * waits for the test process to end and, if the node was not stopped by
 * then (the test crashed, or Criterion killed it on a timeout), prints the
 * node's status and log tail and stops it. dwcp_test_node_stop() is the
 * normal teardown (call it from a Criterion .fini): `dwcp-supervisor stop`,
 * then SIGKILL of anything left, then removal of every file the node made.
 *
 * Status comes from the control socket (ipc/ctl_msg.h) as the JSON that
 * `dwcpctl status --json` prints, parsed with cJSON. Waits poll it and
 * take a timeout that is a hang guard, never a speed requirement.
 *
 * Concurrency: one thread; the helpers keep no global state except the
 * cached bin dir. Never call them from a process that attached as a
 * client (they fork and exec).
 */
#ifndef DWCP_TESTS_LIB_NODE_H
#define DWCP_TESTS_LIB_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define DWCP_TEST_SERVICES 6
#define DWCP_TEST_INST_MAX 32

extern const char *const dwcp_test_service_names[DWCP_TEST_SERVICES];

struct dwcp_test_node {
	char instance[DWCP_TEST_INST_MAX];
	char config[128];        /* the generated INI file */
	char inst_dir[320];      /* <run_dir>/<instance> */
	pid_t sup_pid;           /* from supervisor.pid after start */
	pid_t guardian;          /* 0 when none */
	int guardian_fd;         /* write end the guardian waits on */
	bool started;
};

/* ---- paths and names ---- */

/** The build's bin dir (build/bin), from /proc/self/exe. */
const char *dwcp_test_bin_dir(void);
/** @p out = "<build>/<rel>", e.g. rel "tests/bin/svc-abi-mismatch". */
void dwcp_test_build_path(char *out, size_t n, const char *rel);
/** "it-<test>-<pid>", @p test cut so that it fits 31 characters. */
void dwcp_test_instance_name(char *out, size_t n, const char *test);
/** $DWCP_RUN_DIR or /run/dwcp, as the binaries resolve it. */
const char *dwcp_test_run_dir(void);

/* ---- processes ---- */

/**
 * Run @p argv (argv[0] a path) with stdout and stderr captured into @p out
 * and @p err (NUL-terminated, cut to size; either may be NULL). Kills it
 * after @p timeout_ms (a hang guard).
 * @return its exit status, 128 + signal if killed, -ETIMEDOUT, -errno.
 */
int dwcp_test_run(char *const argv[], char *out, size_t out_n, char *err, size_t err_n,
		  unsigned timeout_ms);

/** utime + stime of @p pid in clock ticks; -1 when it cannot be read. */
long long dwcp_test_proc_ticks(pid_t pid);
/** Clock ticks per second (sysconf(_SC_CLK_TCK)). */
long dwcp_test_clock_ticks(void);
/** State letter of @p pid ('R', 'S', 'Z', ...), or 0 when it is gone. */
char dwcp_test_proc_state(pid_t pid);
/** True when @p pid is gone or a zombie (reparented zombies may linger). */
bool dwcp_test_proc_exited(pid_t pid);
/**
 * Poll @p pred every 10 ms until it holds. @return false when it still
 * does not after @p timeout_ms (a hang guard).
 */
bool dwcp_test_wait_until(bool (*pred)(void *arg), void *arg, unsigned timeout_ms);
/** Wait until dwcp_test_proc_exited(@p pid); false after @p timeout_ms. */
bool dwcp_test_wait_exited(pid_t pid, unsigned timeout_ms);
/** CLOCK_MONOTONIC in ms. */
uint64_t dwcp_test_now_ms(void);
void dwcp_test_sleep_ms(unsigned ms);

/* ---- a node ---- */

/**
 * Write a config (small pool and hugepage defaults for tests, then
 * @p overrides: NULL-terminated "section.key = value" strings that replace
 * a default or add a key) and run `dwcp-supervisor start` on it.
 * @return 0 when start exited 0; its exit status otherwise, with its
 *         output printed. The node is torn down by dwcp_test_node_stop
 *         even when start failed half-way.
 */
int dwcp_test_node_start(struct dwcp_test_node *n, const char *test,
			 const char *const *overrides);

/** dwcp_test_node_start, with start's standard error in @p err (a failure's reason). */
int dwcp_test_node_start_err(struct dwcp_test_node *n, const char *test,
			     const char *const *overrides, char *err, size_t err_n);

/** Write the config file only (for tests that run start themselves). */
int dwcp_test_write_config(const char *path, const char *const *overrides);

/**
 * Stop the node and remove what it left: `dwcp-supervisor stop`, SIGKILL
 * of the supervisor and the services if still alive, the hugepage files,
 * the DPDK runtime dir, the instance dir and the config file. Idempotent.
 * @return the stop command's exit status (0 when it was already down).
 */
int dwcp_test_node_stop(struct dwcp_test_node *n);

/* ---- status ---- */

/**
 * The status document of @p instance (cJSON_Delete it), or NULL when the
 * supervisor does not answer. @p text (optional) receives the raw JSON,
 * malloc'd (free it).
 */
cJSON *dwcp_test_status(const char *instance, char **text);
/** The entry of service @p name in status @p st, or NULL. */
const cJSON *dwcp_test_service(const cJSON *st, const char *name);
/** Number field @p field of service @p svc; -1 when absent. */
double dwcp_test_svc_num(const cJSON *st, const char *svc, const char *field);
/** Number field @p field summed over every worker of service @p svc
 * (svc-simd, svc-simd.1, ...); 0 when none has it. */
double dwcp_test_workers_sum(const cJSON *st, const char *svc, const char *field);
/** String field of service @p svc; "" when absent. */
const char *dwcp_test_svc_str(const cJSON *st, const char *svc, const char *field);
/** pool.free; -1 when absent. */
long dwcp_test_pool_free(const cJSON *st);
/** pool.buffers; -1 when absent. */
long dwcp_test_pool_buffers(const cJSON *st);

/** The six services' pids from @p st, in dwcp_test_service_names order. */
void dwcp_test_service_pids(const cJSON *st, pid_t pids[DWCP_TEST_SERVICES]);

/**
 * Wait until service @p svc runs generation >= @p min_gen in state READY
 * or STANDBY with a pid. @return its status entry's pid, or -1 after
 * @p timeout_ms (status printed).
 */
pid_t dwcp_test_wait_service_up(const char *instance, const char *svc, double min_gen,
				unsigned timeout_ms);

/** Wait until pool.free == pool.buffers. @return the last free count seen. */
long dwcp_test_wait_pool_full(const char *instance, unsigned timeout_ms);

/* ---- diagnostics ---- */

/** Print the last @p lines of the node's supervisor.log to stderr. */
void dwcp_test_log_tail(const char *instance, unsigned lines);
/** Print the status JSON (or why there is none) and the log tail, with @p why. */
void dwcp_test_dump(const char *instance, const char *why);

/**
 * Assert @p cond; on failure dump the node (status JSON, log tail) before
 * Criterion reports. Needs <criterion/criterion.h> in the test.
 */
#define DWCP_NODE_ASSERT(inst, cond, fmt, ...)                                          \
	do {                                                                            \
		if (!(cond)) {                                                          \
			dwcp_test_dump((inst), #cond);                                  \
			cr_assert_fail("%s: " fmt, #cond, ##__VA_ARGS__);               \
		}                                                                       \
	} while (0)

#endif
