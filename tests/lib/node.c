/* Integration-test helpers: a real dwcp node per test (node.h).
 *
 * Everything here talks to the node the way an operator or a service
 * does: the binaries of the same build (found from /proc/self/exe), the
 * control socket, /proc. The only cleverness is the guardian, which makes
 * cleanup independent of how the test process ends.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/attach.h"
#include "ipc/ctl_msg.h"
#include "ipc/eal.h"
#include "tests/lib/node.h"

const char *const dwcp_test_service_names[DWCP_TEST_SERVICES] = {
	"svc-net", "svc-rdma", "svc-gpu", "svc-simd", "svc-mem", "svc-prof",
};

/* ---- paths and names ---- */

/* "<build>" from "<build>/tests/<suite>/<binary>". */
static const char *build_dir(void)
{
	static char dir[400];
	char exe[400];
	ssize_t len;
	char *cut;

	if (dir[0])
		return dir;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	cut = strstr(exe, "/tests/");
	for (char *p = cut; p; p = strstr(p + 1, "/tests/"))
		cut = p;
	if (cut)
		*cut = '\0';
	snprintf(dir, sizeof(dir), "%s", cut ? exe : "build");
	return dir;
}

const char *dwcp_test_bin_dir(void)
{
	static char bin[408];

	if (!bin[0])
		snprintf(bin, sizeof(bin), "%s/bin", build_dir());
	return bin;
}

void dwcp_test_build_path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", build_dir(), rel);
}

void dwcp_test_instance_name(char *out, size_t n, const char *test)
{
	char pid[16];
	int room;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	room = (int)(DWCP_TEST_INST_MAX - 1) - 3 - 1 - (int)strlen(pid);
	snprintf(out, n, "it-%.*s-%s", room > 0 ? room : 0, test, pid);
	for (char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			*p = '_';
}

const char *dwcp_test_run_dir(void)
{
	return dwcp_attach_run_dir(NULL);
}

/* ---- processes ---- */

uint64_t dwcp_test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void dwcp_test_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

struct capture {
	int fd;
	char *buf;
	size_t cap, len;
};

/* Read what is there; @return false at EOF or error. */
static bool capture_read(struct capture *c)
{
	char scratch[4096];
	ssize_t r;

	if (c->fd < 0)
		return false;
	for (;;) {
		size_t room = c->buf && c->len + 1 < c->cap ? c->cap - 1 - c->len : 0;

		r = room ? read(c->fd, c->buf + c->len, room) : read(c->fd, scratch, sizeof(scratch));
		if (r > 0) {
			if (room)
				c->len += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return true;
		close(c->fd);
		c->fd = -1;
		return false;
	}
}

static void exec_child(char *const argv[], int out_fd, int err_fd)
{
	int nul = open("/dev/null", O_RDONLY);

	dup2(nul, 0);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	/* Nothing of the test process (Criterion's pipes, a guardian's
	 * pipe) may leak into a daemon that outlives the command. */
	close_range(3, ~0u, 0);
	signal(SIGPIPE, SIG_DFL);
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int dwcp_test_run(char *const argv[], char *out, size_t out_n, char *err, size_t err_n,
		  unsigned timeout_ms)
{
	struct capture c[2] = { { -1, out, out_n, 0 }, { -1, err, err_n, 0 } };
	int po[2], pe[2], status = 0, rc = -ETIMEDOUT;
	uint64_t deadline = dwcp_test_now_ms() + timeout_ms;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	if (pipe2(pe, O_CLOEXEC | O_NONBLOCK)) {
		close(po[0]);
		close(po[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_child(argv, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	c[0].fd = po[0];
	c[1].fd = pe[0];
	/* The command may leave a daemon holding our pipes: its exit, not
	 * EOF, ends the capture. */
	while (dwcp_test_now_ms() < deadline) {
		struct pollfd p[2] = { { c[0].fd, POLLIN, 0 }, { c[1].fd, POLLIN, 0 } };
		pid_t w;

		poll(p, 2, 20);
		capture_read(&c[0]);
		capture_read(&c[1]);
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
	}
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "dwcp_test_run: %s did not finish within %u ms: killed\n", argv[0],
			timeout_ms);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		capture_read(&c[i]);
		if (c[i].fd >= 0)
			close(c[i].fd);
		if (c[i].buf && c[i].cap)
			c[i].buf[c[i].len] = '\0';
	}
	return rc;
}

/* Fields of /proc/PID/stat after the ")" that closes comm: [0] is the
 * state (field 3 of proc(5)), [11] utime, [12] stime. */
static int read_stat(pid_t pid, char *state, long long *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", state,
			 &ut, &st) != 3)
		return -EINVAL;
	*ticks = (long long)(ut + st);
	return 0;
}

long long dwcp_test_proc_ticks(pid_t pid)
{
	char st;
	long long t;

	return pid > 0 && read_stat(pid, &st, &t) == 0 ? t : -1;
}

long dwcp_test_clock_ticks(void)
{
	return sysconf(_SC_CLK_TCK);
}

char dwcp_test_proc_state(pid_t pid)
{
	char st;
	long long t;

	return pid > 0 && read_stat(pid, &st, &t) == 0 ? st : 0;
}

bool dwcp_test_proc_exited(pid_t pid)
{
	char st = dwcp_test_proc_state(pid);

	return st == 0 || st == 'Z' || st == 'X';
}

bool dwcp_test_wait_until(bool (*pred)(void *arg), void *arg, unsigned timeout_ms)
{
	uint64_t deadline = dwcp_test_now_ms() + timeout_ms;

	while (!pred(arg)) {
		if (dwcp_test_now_ms() > deadline)
			return false;
		dwcp_test_sleep_ms(10);
	}
	return true;
}

static bool pid_exited(void *arg)
{
	return dwcp_test_proc_exited(*(pid_t *)arg);
}

bool dwcp_test_wait_exited(pid_t pid, unsigned timeout_ms)
{
	return dwcp_test_wait_until(pid_exited, &pid, timeout_ms);
}

/* ---- config ---- */

#define CFG_MAX 32

struct cfg_entry {
	char section[32], key[48], value[128];
};

/* "section.key = value" */
static int cfg_split(const char *s, struct cfg_entry *e)
{
	int k;

	e->value[0] = '\0';
	k = sscanf(s, " %31[^. ] . %47[^= ] = %127[^\n]", e->section, e->key, e->value);
	return k == 3 || (k == 2 && strchr(s, '=')) ? 0 : -EINVAL;   /* "key = " is an empty value */
}

static void cfg_set(struct cfg_entry *t, unsigned *n, const char *s)
{
	struct cfg_entry e;

	if (cfg_split(s, &e)) {
		fprintf(stderr, "dwcp test: bad override '%s' (want 'section.key = value')\n", s);
		return;
	}
	for (unsigned i = 0; i < *n; i++) {
		if (!strcmp(t[i].section, e.section) && !strcmp(t[i].key, e.key)) {
			t[i] = e;
			return;
		}
	}
	if (*n < CFG_MAX)
		t[(*n)++] = e;
}

int dwcp_test_write_config(const char *path, const char *const *overrides)
{
	static const char *const defaults[] = {
		"supervisor.hugepage_mb = 128", "pool.buffers = 1024", "pool.buf_size = 4096",
		/* Test nodes accept no transfers unless a test gives them a port:
		 * the built-in 0.0.0.0:7100 would collide between nodes. */
		"net.listen = ",
	};
	struct cfg_entry t[CFG_MAX];
	char index_dir[PATH_MAX + 32];
	unsigned n = 0;
	FILE *f;

	for (unsigned i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		cfg_set(t, &n, defaults[i]);
	/* Page indexes next to the config, removed with it: never in the
	 * host's /var/lib/dwcp/index. */
	snprintf(index_dir, sizeof(index_dir), "stream.index_dir = %.*s.index",
		 (int)(strlen(path) > 4 && !strcmp(path + strlen(path) - 4, ".ini") ? strlen(path) - 4 :
		       strlen(path)), path);
	cfg_set(t, &n, index_dir);
	for (; overrides && *overrides; overrides++)
		cfg_set(t, &n, *overrides);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "# generated by tests/lib/node.c\n");
	for (unsigned i = 0; i < n; i++) {
		bool first = true;

		for (unsigned j = 0; j < i; j++)
			first = first && strcmp(t[j].section, t[i].section) != 0;
		if (!first)
			continue;
		fprintf(f, "[%s]\n", t[i].section);
		for (unsigned j = i; j < n; j++)
			if (!strcmp(t[j].section, t[i].section))
				fprintf(f, "%s = %s\n", t[j].key, t[j].value);
	}
	return fclose(f) ? -errno : 0;
}

/* ---- the guardian ---- */

static void guardian_main(struct dwcp_test_node *n, int rfd)
{
	char c;
	ssize_t r;

	setsid();
	/* Hold nothing of the test process open (Criterion's pipes). */
	if (rfd > 3)
		close_range(3, (unsigned)rfd - 1, 0);
	close_range((unsigned)rfd + 1, ~0u, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	do
		r = read(rfd, &c, 1);
	while (r < 0 && errno == EINTR);
	if (r == 1)
		_exit(0);        /* the test stopped its node itself */
	dwcp_test_dump(n->instance, "the test process ended without stopping its node");
	n->guardian = 0;
	dwcp_test_node_stop(n);
	_exit(0);
}

static void guardian_start(struct dwcp_test_node *n)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		guardian_main(n, p[0]);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return;
	}
	n->guardian = pid;
	n->guardian_fd = p[1];
}

static void guardian_release(struct dwcp_test_node *n)
{
	void (*old)(int);

	if (!n->guardian)
		return;
	old = signal(SIGPIPE, SIG_IGN);   /* a guardian that is gone must not kill us */
	if (write(n->guardian_fd, "d", 1) != 1) {
		/* it is gone already */
	}
	signal(SIGPIPE, old);
	close(n->guardian_fd);
	waitpid(n->guardian, NULL, 0);
	n->guardian = 0;
}

/* ---- a node ---- */

static pid_t read_sup_pid(const struct dwcp_test_node *n)
{
	char p[400], buf[32] = "";
	FILE *f;

	snprintf(p, sizeof(p), "%s/supervisor.pid", n->inst_dir);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (pid_t)strtol(buf, NULL, 10);
}

int dwcp_test_node_start(struct dwcp_test_node *n, const char *test,
			 const char *const *overrides)
{
	char err[8192];

	return dwcp_test_node_start_err(n, test, overrides, err, sizeof(err));
}

int dwcp_test_node_start_err(struct dwcp_test_node *n, const char *test,
			     const char *const *overrides, char *err, size_t err_n)
{
	char sup[PATH_MAX], out[8192];
	int rc;

	memset(n, 0, sizeof(*n));
	dwcp_test_instance_name(n->instance, sizeof(n->instance), test);
	snprintf(n->config, sizeof(n->config), "/tmp/dwcp-%s.ini", n->instance);
	snprintf(n->inst_dir, sizeof(n->inst_dir), "%s/%s", dwcp_test_run_dir(), n->instance);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	n->started = true;
	rc = dwcp_test_write_config(n->config, overrides);
	if (rc) {
		fprintf(stderr, "cannot write %s: %s\n", n->config, strerror(-rc));
		return 1;
	}
	guardian_start(n);
	rc = dwcp_test_run((char *const[]){ sup, "--instance", n->instance, "--config", n->config,
					    "start", NULL },
			   out, sizeof(out), err, err_n, 120000);
	n->sup_pid = read_sup_pid(n);
	if (rc != 0) {
		fprintf(stderr, "dwcp-supervisor --instance %s start: exit %d\nstdout:\n%s\nstderr:\n%s\n",
			n->instance, rc, out, err);
		dwcp_test_log_tail(n->instance, 40);
	}
	return rc;
}

static bool is_dwcp_process(pid_t pid)
{
	char p[64], comm[32] = "";
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "svc-", 4) == 0 || strncmp(comm, "dwcp-supervisor", 15) == 0;
}

static void kill_leftover(pid_t pid, const char *what)
{
	if (pid <= 0 || dwcp_test_proc_exited(pid) || !is_dwcp_process(pid))
		return;
	fprintf(stderr, "teardown: %s (pid %d) still alive after stop: SIGKILL\n", what, (int)pid);
	kill(pid, SIGKILL);
	dwcp_test_wait_exited(pid, 10000);
}

/* Empty and remove @p path, not following a symlink there. */
static void remove_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

static void remove_files(const struct dwcp_test_node *n)
{
	char p[PATH_MAX];
	DIR *d = opendir("/dev/hugepages");
	struct dirent *e;

	/* Exactly this instance's: never another test's whose name starts the same. */
	while (d && (e = readdir(d)) != NULL)
		if (dwcp_eal_is_hugefile(e->d_name, n->instance))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	if (dwcp_eal_runtime_dir(p, sizeof(p), n->instance) == 0)
		remove_dir(p);
	remove_dir(n->inst_dir);
	snprintf(p, sizeof(p), "%.*s.index", (int)strlen(n->config) - 4, n->config);
	remove_dir(p);   /* the page indexes (dwcp_test_write_config) */
	unlink(n->config);
}

int dwcp_test_node_stop(struct dwcp_test_node *n)
{
	char sup[PATH_MAX], out[4096], err[4096];
	pid_t pids[DWCP_TEST_SERVICES] = { 0 }, sup_pid;
	cJSON *st;
	int rc;

	if (!n->started)
		return 0;
	n->started = false;
	st = dwcp_test_status(n->instance, NULL);
	if (st)
		dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
	sup_pid = read_sup_pid(n);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", n->instance, "stop", NULL }, out,
			   sizeof(out), err, sizeof(err), 90000);
	if (rc != 0)
		fprintf(stderr, "teardown: dwcp-supervisor --instance %s stop: exit %d\n%s%s\n",
			n->instance, rc, out, err);
	kill_leftover(sup_pid ? sup_pid : n->sup_pid, "dwcp-supervisor");
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		kill_leftover(pids[i], dwcp_test_service_names[i]);
	remove_files(n);
	guardian_release(n);
	return rc;
}

/* ---- status ---- */

cJSON *dwcp_test_status(const char *instance, char **text)
{
	struct dwcp_err err = { 0 };
	struct dwcp_ctl_req req;
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	uint8_t *buf;
	cJSON *root = NULL;
	int fd, rc;

	if (text)
		*text = NULL;
	fd = dwcp_ctl_connect(dwcp_test_run_dir(), instance, &err);
	if (fd < 0)
		return NULL;
	buf = malloc(DWCP_CTL_REPLY_MAX);
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	rc = buf ? dwcp_ctl_call(fd, &req, buf, DWCP_CTL_REPLY_MAX, 10000, &h, &payload, &err) :
		   -ENOMEM;
	close(fd);
	if (rc == 0 && h->status == 0) {
		root = cJSON_Parse(payload);
		if (text)
			*text = strdup(payload);
	}
	free(buf);
	return root;
}

const cJSON *dwcp_test_service(const cJSON *st, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(st, "services")) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");

		if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0)
			return s;
	}
	return NULL;
}

double dwcp_test_svc_num(const cJSON *st, const char *svc, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(dwcp_test_service(st, svc), field);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

double dwcp_test_workers_sum(const cJSON *st, const char *svc, const char *field)
{
	const cJSON *e;
	double sum = 0;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(st, "services")) {
		const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "service");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, field);

		if (cJSON_IsString(of) && !strcmp(of->valuestring, svc) && cJSON_IsNumber(v))
			sum += v->valuedouble;
	}
	return sum;
}

const char *dwcp_test_svc_str(const cJSON *st, const char *svc, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(dwcp_test_service(st, svc), field);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static long pool_num(const cJSON *st, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(st, "pool"), field);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

long dwcp_test_pool_free(const cJSON *st)
{
	return pool_num(st, "free");
}

long dwcp_test_pool_buffers(const cJSON *st)
{
	return pool_num(st, "buffers");
}

void dwcp_test_service_pids(const cJSON *st, pid_t pids[DWCP_TEST_SERVICES])
{
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		pids[i] = (pid_t)dwcp_test_svc_num(st, dwcp_test_service_names[i], "pid");
}

static bool is_up(const cJSON *st, const char *svc, double min_gen)
{
	const char *state = dwcp_test_svc_str(st, svc, "state");

	return (!strcmp(state, "READY") || !strcmp(state, "STANDBY")) &&
	       dwcp_test_svc_num(st, svc, "generation") >= min_gen &&
	       dwcp_test_svc_num(st, svc, "pid") > 0;
}

pid_t dwcp_test_wait_service_up(const char *instance, const char *svc, double min_gen,
				unsigned timeout_ms)
{
	uint64_t deadline = dwcp_test_now_ms() + timeout_ms;
	char why[160];

	for (;;) {
		cJSON *st = dwcp_test_status(instance, NULL);
		bool up = st && is_up(st, svc, min_gen);
		pid_t pid = up ? (pid_t)dwcp_test_svc_num(st, svc, "pid") : -1;

		cJSON_Delete(st);
		if (up)
			return pid;
		if (dwcp_test_now_ms() > deadline)
			break;
		dwcp_test_sleep_ms(10);
	}
	snprintf(why, sizeof(why), "%s not READY/STANDBY at generation >= %.0f within %u ms", svc,
		 min_gen, timeout_ms);
	dwcp_test_dump(instance, why);
	return -1;
}

long dwcp_test_wait_pool_full(const char *instance, unsigned timeout_ms)
{
	uint64_t deadline = dwcp_test_now_ms() + timeout_ms;
	long free_n = -1;

	for (;;) {
		cJSON *st = dwcp_test_status(instance, NULL);
		long total = dwcp_test_pool_buffers(st);

		free_n = dwcp_test_pool_free(st);
		cJSON_Delete(st);
		if (total > 0 && free_n == total)
			return free_n;
		if (dwcp_test_now_ms() > deadline)
			return free_n;
		dwcp_test_sleep_ms(20);
	}
}

/* ---- diagnostics ---- */

void dwcp_test_log_tail(const char *instance, unsigned lines)
{
	char path[PATH_MAX], *buf, *start;
	unsigned k = 0;
	long size, from;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/supervisor.log", dwcp_test_run_dir(), instance);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "(no log: %s: %s)\n", path, strerror(errno));
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	from = size > 256 * 1024 ? size - 256 * 1024 : 0;
	fseek(f, from, SEEK_SET);
	buf = malloc((size_t)(size - from) + 1);
	n = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
	fclose(f);
	if (!buf)
		return;
	buf[n] = '\0';
	start = buf;
	for (char *p = buf + n; p > buf; p--) {
		/* p starts a line: count those from the end */
		if (p[-1] == '\n' && p != buf + n && ++k == lines) {
			start = p;
			break;
		}
	}
	fprintf(stderr, "---- last %u lines of %s ----\n%s---- end of log ----\n", lines, path,
		start);
	free(buf);
}

void dwcp_test_dump(const char *instance, const char *why)
{
	char *text = NULL;
	cJSON *st = dwcp_test_status(instance, &text);

	fprintf(stderr, "==== node %s: %s\n", instance, why);
	if (st)
		fprintf(stderr, "status: %s\n", text);
	else
		fprintf(stderr, "status: (the supervisor of %s does not answer)\n", instance);
	cJSON_Delete(st);
	free(text);
	dwcp_test_log_tail(instance, 40);
	fflush(stderr);
}
