/* dwcp bench recovery: how long a service is gone when it crashes and
 * when it is upgraded, beside the floor of a cold restart.
 *
 * One node with all six services, restart backoff 1 ms and a 20 ms
 * heartbeat (as tests/integration/crash_test.c runs it: the figures are
 * then the recovery itself, not the backoff policy, which grows to 5 s
 * for a service that keeps dying). For each service, on the idle node:
 *   - N crashes: SIGKILL, then death -> READY as the supervisor timed it
 *     (status last_recovery_ms: the new generation's ready_ns minus the
 *     instant the pidfd said it died), and signal -> READY as this
 *     process sees it, polling status every POLL_MS;
 *   - N planned upgrades, `dwcpctl upgrade SVC --binary` the same binary:
 *     the pause the supervisor measured (SIGTERM of the old generation
 *     to READY of the new; status last_upgrade_pause_ms).
 * Under load — a client process pushing CRC32C descriptors, LOAD_WINDOW
 * in flight, through svc-simd, then through svc-gpu on its CPU backend —
 * N more crashes and N more upgrades of that service, each timed as the
 * blackout the client saw: the longest gap between two completions from
 * just before the event until traffic flows again. svc-net and svc-mem
 * get no blackout figure: their steps take transfer chunks (a stream, a
 * peer, a delta cache), which a bare descriptor is not.
 *
 * The reference, in the same run: a bare rte_eal_init of a secondary of
 * this node (same file-prefix, the same EAL options every service uses:
 * ipc/eal.c), N times, each in a freshly forked child. It is the part of
 * a cold restart no restart can avoid, so restart / floor says how much
 * the rest (exec, HELLO, region checks, init, the supervisor's reclaim)
 * adds. Absolute numbers move with the machine's load; ratios compare.
 *
 * This process never attaches: the load client and the floor samples are
 * forked children (a process can initialise DPDK's EAL once).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_eal.h>

#include "cli/cli_internal.h"
#include "common/ops/crc32c.h"
#include "common/timeutil.h"
#include "ipc/client.h"
#include "ipc/eal.h"
#include "bench_node.h"

#define MAX_COUNT    1000u
#define N_SERVICES   6u
#define LOAD_WINDOW  32u
#define LOAD_SIZE    1024u
#define POLL_MS      2u        /* status polling period for signal -> READY */
#define HANG_MS      30000u    /* hang guard of one wait, never a speed limit */
#define HUGE_DIR     "/dev/hugepages"
/* Services and clients use lcore ids 1 .. 2 * DWCP_MAX_SLOTS (one per slot
 * and generation parity); a floor sample takes one none of them has. */
#define FLOOR_LCORE  (2u * DWCP_MAX_SLOTS + 2u)
#define P99_GOAL_MS  50.0

static const char node_extra[] =
	"[supervisor]\nhuge_dir = " HUGE_DIR "\nheartbeat_ms = 20\nheartbeat_timeout_ms = 200\n"
	"restart_backoff_ms = 1\nrestart_backoff_max_ms = 1\n"
	"[pool]\nbuffers = 1024\nbuf_size = 4096\n"
	/* no listener: the default port may be another node's */
	"[net]\nlisten =\n"
	/* svc-gpu serves CRC32C on the CPU, so it can carry load */
	"[gpu]\ncpu_backend = true\n";

struct samples {
	double v[MAX_COUNT];
	unsigned n;
};

struct row {
	const char *name;
	unsigned load_slot;      /* the slot the load's step names; 0: no load for it */
	struct samples crash, polled, upgrade;            /* idle node */
	struct samples crash_l, upgrade_l;                /* under load */
	struct samples bo_crash, bo_upgrade;              /* blackouts under load */
	struct samples sb_crash, sb_polled;               /* with a hot standby */
};

enum load_phase { LOAD_STARTING, LOAD_RUNNING, LOAD_FAILED, LOAD_DONE };

/* Shared with the load client (MAP_SHARED, anonymous). */
struct load {
	int phase;                 /* enum load_phase; the client writes */
	char err[256];
	unsigned slot;             /* the driver writes: where the CRC runs */
	int stop;                  /* the driver writes: finish */
	uint64_t completed, errors;
	uint64_t mark;             /* the driver bumps it: a new gap window */
	uint64_t mark_seen;        /* the client: the window max_gap_ns is of */
	uint64_t max_gap_ns;       /* longest gap between completions in it */
};

struct ctx {
	const char *bin_dir;
	int standby;               /* the node runs [supervisor] hot_standby */
	char instance[32];
	unsigned count;
	struct load *load;
	pid_t load_pid;
	char err[512];
};

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void add(struct samples *s, double v)
{
	if (s->n < MAX_COUNT)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile; -1 when there are no samples. */
static double pct(const struct samples *s, double p)
{
	double v[MAX_COUNT];
	unsigned k;

	if (!s->n)
		return -1;
	memcpy(v, s->v, s->n * sizeof(v[0]));
	qsort(v, s->n, sizeof(v[0]), cmp_double);
	k = (unsigned)(p / 100.0 * s->n + 0.999999);
	return v[k ? k - 1 : 0];
}

/* ---- the load client (a forked child) ---- */

static void load_fail(struct load *l, const char *what, const char *why)
{
	snprintf(l->err, sizeof(l->err), "%s%s%s", what, why ? ": " : "", why ? why : "");
	__atomic_store_n(&l->phase, LOAD_FAILED, __ATOMIC_RELEASE);
	_exit(2);
}

static void load_prepare(struct dwcp_client *c, uint32_t idx, unsigned slot, uint64_t seq)
{
	const uint16_t step = dwcp_prog_step(slot, DWCP_OP_CRC32C);
	struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx);

	dwcp_client_set_prog(c, idx, &step, 1);
	h->len = LOAD_SIZE;
	h->seq = seq;
	h->result = 0;
}

/* One delivery: check it against the CRC of its payload, computed here
 * when the buffer was filled. */
static void load_check(struct dwcp_client *c, struct load *l, const uint32_t *bufs,
		       const uint32_t *crc, uint32_t idx)
{
	const struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx);
	unsigned k = 0;

	while (k < LOAD_WINDOW && bufs[k] != idx)
		k++;
	if (k == LOAD_WINDOW || h->status != DWCP_BUF_OK || h->result != crc[k])
		__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
}

/* The gap window: reset on the first completion after the driver's mark,
 * so the driver knows the window is open before it acts. */
static void load_gap(struct load *l, uint64_t now, uint64_t *last)
{
	uint64_t mark = ld(&l->mark);

	if (mark != l->mark_seen) {
		__atomic_store_n(&l->max_gap_ns, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&l->mark_seen, mark, __ATOMIC_RELEASE);
	} else if (*last && now - *last > l->max_gap_ns) {
		__atomic_store_n(&l->max_gap_ns, now - *last, __ATOMIC_RELEASE);
	}
	*last = now;
}

static void load_main(const char *instance, struct load *l)
{
	struct dwcp_client c;
	struct dwcp_err err = { 0 };
	uint32_t bufs[LOAD_WINDOW], crc[LOAD_WINDOW], ready[LOAD_WINDOW], got[LOAD_WINDOW];
	unsigned n_ready = LOAD_WINDOW;
	uint64_t seq = 0, last = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the bench died: so do we */
	if (dwcp_client_open(&c, instance, NULL, "bench-recovery", "dwcp-bench", &err))
		load_fail(l, "dwcp_client_open", err.msg);
	if (dwcp_client_alloc(&c, bufs, LOAD_WINDOW) != LOAD_WINDOW)
		load_fail(l, "could not allocate the load's buffers", NULL);
	for (unsigned i = 0; i < LOAD_WINDOW; i++) {
		uint8_t *d = dwcp_client_data(&c, bufs[i]);

		for (unsigned k = 0; k < LOAD_SIZE; k++)
			d[k] = (uint8_t)rand();
		crc[i] = dwcp_crc32c(0, d, LOAD_SIZE);
	}
	memcpy(ready, bufs, sizeof(ready));
	__atomic_store_n(&l->phase, LOAD_RUNNING, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		unsigned slot = __atomic_load_n(&l->slot, __ATOMIC_ACQUIRE), k, n;

		for (unsigned i = 0; i < n_ready; i++)
			load_prepare(&c, ready[i], slot, seq++);
		k = n_ready ? dwcp_client_submit(&c, ready, n_ready) : 0;
		memmove(ready, ready + k, (n_ready - k) * sizeof(ready[0]));
		n_ready -= k;
		n = dwcp_client_poll(&c, got, LOAD_WINDOW);
		if (n) {
			load_gap(l, dwcp_now_ns(), &last);
			for (unsigned i = 0; i < n; i++) {
				load_check(&c, l, bufs, crc, got[i]);
				ready[n_ready++] = got[i];
			}
			__atomic_fetch_add(&l->completed, n, __ATOMIC_RELEASE);
			continue;
		}
		if (dwcp_attach_supervisor_gone(&c.at))
			load_fail(l, "the supervisor died", NULL);
		/* Sleep, not spin: the bench node shares few CPUs with the
		 * restarts being timed. */
		dwcp_client_wait(&c, 1000000ull);
	}
	__atomic_store_n(&l->phase, LOAD_DONE, __ATOMIC_RELEASE);
	_exit(0);
}

/* ---- the driver ---- */

static int fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
	return -1;
}

static const cJSON *svc_of(const cJSON *st, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(st, "services")) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");

		if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0)
			return s;
	}
	return NULL;
}

static double svc_num(const cJSON *st, const char *name, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(svc_of(st, name), field);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int svc_up(const cJSON *st, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(svc_of(st, name), "state");

	return cJSON_IsString(v) && (!strcmp(v->valuestring, "READY") ||
				     !strcmp(v->valuestring, "STANDBY"));
}

/* The load client must still run (or have never been started). */
static int load_alive(struct ctx *x)
{
	int st;

	if (!x->load_pid)
		return 0;
	if (__atomic_load_n(&x->load->phase, __ATOMIC_ACQUIRE) == LOAD_FAILED)
		return fail(x, "the load client failed: %s", x->load->err);
	if (waitpid(x->load_pid, &st, WNOHANG) == x->load_pid) {
		x->load_pid = 0;
		return fail(x, "the load client ended (wait status %#x)", st);
	}
	return 0;
}

/* SIGKILL service @p name; wait for its next generation READY (STANDBY
 * for a service without its device) and for the supervisor's timing. */
static int crash_event(struct ctx *x, const char *name, struct samples *sup,
		       struct samples *polled)
{
	cJSON *st;

	/* With [supervisor] hot_standby: kill only once the standby is parked,
	 * so the figure is the takeover's, not a standby's own attach. */
	for (uint64_t t0 = dwcp_now_ns(); x->standby;) {
		const cJSON *o, *ph;

		st = bench_node_status(x->instance);
		o = svc_of(st, name);
		ph = o ? cJSON_GetObjectItemCaseSensitive(o, "upgrade") : NULL;
		if (cJSON_IsString(ph) && strcmp(ph->valuestring, "standby") == 0) {
			cJSON_Delete(st);
			break;
		}
		cJSON_Delete(st);
		if (dwcp_now_ns() - t0 > HANG_MS * 1000000ull)
			return fail(x, "%s: no hot standby parked %u s after the last takeover", name,
				    HANG_MS / 1000);
		sleep_ms(POLL_MS);
	}
	st = bench_node_status(x->instance);
	pid_t pid = (pid_t)svc_num(st, name, "pid");
	double gen = svc_num(st, name, "generation"), prev = svc_num(st, name, "last_recovery_ms");
	uint64_t t0, ready_at = 0, deadline;

	cJSON_Delete(st);
	if (pid <= 0)
		return fail(x, "%s: no pid before a crash (does the supervisor answer?)", name);
	t0 = dwcp_now_ns();
	if (kill(pid, SIGKILL) != 0)
		return fail(x, "kill %s (pid %d): %s", name, (int)pid, strerror(errno));
	deadline = t0 + HANG_MS * 1000000ull;
	for (;;) {
		uint64_t now;
		double rec;
		int up;

		st = bench_node_status(x->instance);
		now = dwcp_now_ns();
		up = st && svc_num(st, name, "generation") >= gen + 1 && svc_up(st, name) &&
		     svc_num(st, name, "pid") > 0;
		rec = svc_num(st, name, "last_recovery_ms");
		cJSON_Delete(st);
		if (up && !ready_at) {
			ready_at = now;
			add(polled, (ready_at - t0) / 1e6);
		}
		/* The supervisor times the recovery on its next heartbeat
		 * tick after READY; a value equal to the last one is taken
		 * after a while (two recoveries as long to the ns). */
		if (up && (rec != prev || now - ready_at > 2000000000ull)) {
			add(sup, rec);
			return 0;
		}
		if (now > deadline)
			return fail(x, "%s not back %u s after SIGKILL", name, HANG_MS / 1000);
		if (load_alive(x))
			return -1;
		sleep_ms(POLL_MS);
	}
}

/* Run @p argv with stdout and stderr into @p out. @return its exit status. */
static int run_capture(char *const argv[], char *out, size_t n)
{
	int p[2], st = 0;
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + len, n - 1 - len)) > 0 || (r < 0 && errno == EINTR))
		len += r > 0 ? (size_t)r : 0;
	out[len] = '\0';
	close(p[0]);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* `dwcpctl upgrade NAME --binary <its own binary>`; the pause from status. */
static int upgrade_event(struct ctx *x, const char *name, struct samples *pause)
{
	char ctl[600], bin[600], out[4096];
	cJSON *st = bench_node_status(x->instance);
	double gen = svc_num(st, name, "generation"), ups = svc_num(st, name, "upgrades");
	int rc;

	cJSON_Delete(st);
	if (gen < 0)
		return fail(x, "the supervisor does not answer before an upgrade of %s", name);
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", x->bin_dir);
	snprintf(bin, sizeof(bin), "%s/%s", x->bin_dir, name);
	rc = run_capture((char *const[]){ ctl, "--instance", x->instance, "upgrade", (char *)name,
					  "--binary", bin, NULL },
			 out, sizeof(out));
	if (rc != 0)
		return fail(x, "dwcpctl upgrade %s: exit %d: %s", name, rc, out);
	st = bench_node_status(x->instance);
	rc = st && svc_num(st, name, "generation") == gen + 1 && svc_num(st, name, "upgrades") == ups + 1;
	if (rc)
		add(pause, svc_num(st, name, "last_upgrade_pause_ms"));
	cJSON_Delete(st);
	if (!rc)
		return fail(x, "%s: the upgrade did not count as one (dwcpctl said: %s)", name, out);
	return 0;
}

/* Wait until the load client has completed @p n more descriptors. */
static int load_progress(struct ctx *x, uint64_t n)
{
	uint64_t want = ld(&x->load->completed) + n, deadline = dwcp_now_ns() + HANG_MS * 1000000ull;

	while (ld(&x->load->completed) < want) {
		if (load_alive(x))
			return -1;
		if (dwcp_now_ns() > deadline)
			return fail(x, "the load made no progress for %u s", HANG_MS / 1000);
		sleep_ms(1);
	}
	return 0;
}

/* One event under load: open a gap window, act, wait until traffic has
 * flowed again for a while, read the longest gap. */
static int loaded_event(struct ctx *x, struct row *r, int upgrade)
{
	uint64_t mark = ld(&x->load->mark) + 1, deadline = dwcp_now_ns() + HANG_MS * 1000000ull;
	static struct samples polled;   /* signal -> READY is reported for the idle node only */
	int rc;

	polled.n = 0;
	__atomic_store_n(&x->load->mark, mark, __ATOMIC_RELEASE);
	while (ld(&x->load->mark_seen) != mark) {
		if (load_alive(x))
			return -1;
		if (dwcp_now_ns() > deadline)
			return fail(x, "the load completed nothing for %u s", HANG_MS / 1000);
		sleep_ms(1);
	}
	rc = upgrade ? upgrade_event(x, r->name, &r->upgrade_l) :
		       crash_event(x, r->name, &r->crash_l, &polled);
	if (rc || load_progress(x, 8 * LOAD_WINDOW))
		return -1;
	add(upgrade ? &r->bo_upgrade : &r->bo_crash, ld(&x->load->max_gap_ns) / 1e6);
	return 0;
}

static int start_load(struct ctx *x, unsigned slot)
{
	uint64_t deadline = dwcp_now_ns() + HANG_MS * 1000000ull;

	x->load = mmap(NULL, sizeof(*x->load), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (x->load == MAP_FAILED) {
		x->load = NULL;
		return fail(x, "mmap: %s", strerror(errno));
	}
	x->load->slot = slot;
	fflush(NULL);
	x->load_pid = fork();
	if (x->load_pid < 0)
		return fail(x, "fork: %s", strerror(errno));
	if (x->load_pid == 0)
		load_main(x->instance, x->load);
	while (__atomic_load_n(&x->load->phase, __ATOMIC_ACQUIRE) == LOAD_STARTING) {
		if (load_alive(x))
			return -1;
		if (dwcp_now_ns() > deadline)
			return fail(x, "the load client did not attach within %u s", HANG_MS / 1000);
		sleep_ms(5);
	}
	return load_progress(x, 16 * LOAD_WINDOW);
}

static void stop_load(struct ctx *x)
{
	int st;

	if (x->load_pid > 0) {
		__atomic_store_n(&x->load->stop, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < 5000 && waitpid(x->load_pid, &st, WNOHANG) == 0; i++)
			sleep_ms(1);
		if (waitpid(x->load_pid, &st, WNOHANG) == 0) {
			kill(x->load_pid, SIGKILL);
			waitpid(x->load_pid, &st, 0);
		}
		x->load_pid = 0;
	}
}

/* One bare EAL init of a secondary of this node, in a forked child. */
static int floor_sample(struct ctx *x, struct samples *s)
{
	int p[2], st;
	double ms = -1;
	pid_t pid;

	if (pipe(p))
		return fail(x, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct dwcp_eal_params ep = { .prog = "dwcp-bench-floor", .file_prefix = x->instance,
					      .huge_dir = HUGE_DIR, .lcore = FLOOR_LCORE,
					      .primary = 0 };
		struct dwcp_err err = { 0 };
		uint64_t t0 = dwcp_now_ns();
		int rc = dwcp_eal_init(&ep, &err);

		ms = rc ? -1 : (dwcp_now_ns() - t0) / 1e6;
		if (write(p[1], &ms, sizeof(ms)) != (ssize_t)sizeof(ms))
			_exit(1);
		if (rc)
			fprintf(stderr, "floor sample: %s\n", err.msg);
		else
			rte_eal_cleanup();   /* untimed: leave no per-process files behind */
		_exit(rc ? 1 : 0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &ms, sizeof(ms)) != (ssize_t)sizeof(ms))
		ms = -1;
	close(p[0]);
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	if (ms < 0)
		return fail(x, "a bare secondary rte_eal_init of instance %s failed", x->instance);
	add(s, ms);
	return 0;
}

static int wait_all_up(struct ctx *x, const struct row *rows)
{
	uint64_t deadline = dwcp_now_ns() + HANG_MS * 1000000ull;

	for (;;) {
		cJSON *st = bench_node_status(x->instance);
		unsigned up = 0;

		for (unsigned i = 0; st && i < N_SERVICES; i++)
			up += (unsigned)svc_up(st, rows[i].name);
		cJSON_Delete(st);
		if (up == N_SERVICES)
			return 0;
		if (dwcp_now_ns() > deadline)
			return fail(x, "not every service came up within %u s", HANG_MS / 1000);
		sleep_ms(10);
	}
}

static int measure(struct ctx *x, struct row *rows, struct samples *floor_s)
{
	if (wait_all_up(x, rows))
		return -1;
	for (unsigned i = 0; i < N_SERVICES; i++) {
		fprintf(stderr, "  %s: %u crashes, %u upgrades (idle node)\n", rows[i].name, x->count,
			x->count);
		for (unsigned k = 0; k < x->count; k++)
			if (crash_event(x, rows[i].name, &rows[i].crash, &rows[i].polled))
				return -1;
		for (unsigned k = 0; k < x->count; k++)
			if (upgrade_event(x, rows[i].name, &rows[i].upgrade))
				return -1;
	}
	fprintf(stderr, "  reference: %u bare rte_eal_init of a secondary\n", x->count);
	for (unsigned k = 0; k < x->count; k++)
		if (floor_sample(x, floor_s))
			return -1;
	for (unsigned i = 0; i < N_SERVICES; i++) {
		struct row *r = &rows[i];

		if (!r->load_slot)
			continue;
		fprintf(stderr, "  %s: %u crashes, %u upgrades under load\n", r->name, x->count,
			x->count);
		if (!x->load_pid && start_load(x, r->load_slot))
			return -1;
		__atomic_store_n(&x->load->slot, r->load_slot, __ATOMIC_RELEASE);
		if (load_progress(x, 16 * LOAD_WINDOW))
			return -1;
		for (unsigned k = 0; k < x->count; k++)
			if (loaded_event(x, r, 0))
				return -1;
		for (unsigned k = 0; k < x->count; k++)
			if (loaded_event(x, r, 1))
				return -1;
	}
	return 0;
}

/* The same crashes on a node with [supervisor] hot_standby. */
static int measure_standby(struct ctx *x, struct row *rows)
{
	if (wait_all_up(x, rows))
		return -1;
	for (unsigned i = 0; i < N_SERVICES; i++) {
		fprintf(stderr, "  %s: %u crashes with a hot standby\n", rows[i].name, x->count);
		for (unsigned k = 0; k < x->count; k++)
			if (crash_event(x, rows[i].name, &rows[i].sb_crash, &rows[i].sb_polled))
				return -1;
	}
	return 0;
}

static void cell(const struct samples *s)
{
	if (s->n)
		printf(" %7.1f %7.1f", pct(s, 50), pct(s, 99));
	else
		printf(" %7s %7s", "-", "-");
}

static void report(const struct ctx *x, const struct row *rows, const struct samples *floor_s)
{
	double f50 = pct(floor_s, 50), f99 = pct(floor_s, 99);
	unsigned over = 0;

	printf("reference: bare rte_eal_init of a secondary of this node (--file-prefix=%s, the services' EAL options), %u forked children: P50 %.1f ms, P99 %.1f ms\n\n",
	       x->instance, floor_s->n, f50, f99);
	printf("%-9s %-15s %-15s %-15s %-15s %-15s %-13s %s\n", "", "crash restart", "signal->READY",
	       "upgrade pause", "blackout crash", "blackout upgr.", "restart/floor", "crash P99");
	printf("%-9s", "service");
	for (unsigned i = 0; i < 6; i++)
		printf(" %7s %7s", "P50", "P99");
	printf(" < %.0f ms\n", P99_GOAL_MS);
	for (unsigned i = 0; i < N_SERVICES; i++) {
		const struct row *r = &rows[i];
		int ok = pct(&r->crash, 99) < P99_GOAL_MS;

		printf("%-9s", r->name);
		cell(&r->crash);
		cell(&r->polled);
		cell(&r->upgrade);
		cell(&r->bo_crash);
		cell(&r->bo_upgrade);
		printf(" %6.2fx %6.2fx %s\n", pct(&r->crash, 50) / f50, pct(&r->crash, 99) / f99,
		       ok ? "yes" : "no");
		over += !ok;
	}
	printf("\nwith [supervisor] hot_standby = true (a parked successor takes over):\n");
	printf("%-9s %-15s %-15s %s\n", "", "crash restart", "signal->READY", "crash P99");
	printf("%-9s %7s %7s %7s %7s < %.0f ms\n", "service", "P50", "P99", "P50", "P99", P99_GOAL_MS);
	for (unsigned i = 0; i < N_SERVICES; i++) {
		const struct row *r = &rows[i];

		printf("%-9s", r->name);
		cell(&r->sb_crash);
		cell(&r->sb_polled);
		printf(" %s\n", r->sb_crash.n && pct(&r->sb_crash, 99) < P99_GOAL_MS ? "yes" : "no");
	}
	printf("\nunder load (%u descriptors of %u B in flight through the service):\n",
	       LOAD_WINDOW, LOAD_SIZE);
	for (unsigned i = 0; i < N_SERVICES; i++) {
		const struct row *r = &rows[i];

		if (!r->load_slot)
			continue;
		printf("%-9s crash restart P50 %.1f P99 %.1f ms, upgrade pause P50 %.1f P99 %.1f ms\n",
		       r->name, pct(&r->crash_l, 50), pct(&r->crash_l, 99), pct(&r->upgrade_l, 50),
		       pct(&r->upgrade_l, 99));
	}
	printf("\nms; crash restart = death -> READY as the supervisor timed it (last_recovery_ms);\n"
	       "signal->READY = SIGKILL -> READY seen by polling status every %u ms; upgrade pause =\n"
	       "SIGTERM of the old generation -> READY of the new (last_upgrade_pause_ms);\n"
	       "blackout = the longest gap between two completions of the load around the event\n"
	       "(- : no load this service can carry); restart/floor = crash restart over the floor.\n",
	       POLL_MS);
	printf("crash restart P99 under %.0f ms: cold restart %s (%u of %u services over)",
	       P99_GOAL_MS, over ? "no" : "yes, for every service", over, N_SERVICES);
	over = 0;
	for (unsigned i = 0; i < N_SERVICES; i++)
		over += !(rows[i].sb_crash.n && pct(&rows[i].sb_crash, 99) < P99_GOAL_MS);
	printf("; with hot standby %s (%u of %u over)\n", over ? "no" : "yes, for every service",
	       over, N_SERVICES);
	printf("load: %lu descriptors completed, %lu wrong\n",
	       x->load ? ld(&x->load->completed) : 0ul, x->load ? ld(&x->load->errors) : 0ul);
}

static int parse(int argc, char **argv, unsigned *count)
{
	static const struct option lo[] = { { "count", required_argument, NULL, 'n' },
					    { NULL, 0, NULL, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end;
		unsigned long v = optarg ? strtoul(optarg, &end, 10) : 0;

		if (c == '?' || *end || v == 0 || v > MAX_COUNT) {
			fprintf(stderr, "dwcp bench recovery: bad option (want --count N, 1..%u)\n",
				MAX_COUNT);
			return -EINVAL;
		}
		*count = (unsigned)v;
	}
	return 0;
}

int dwcp_cli_bench_recovery(int argc, char **argv)
{
	static struct row rows[N_SERVICES] = {
		{ .name = "svc-net" }, { .name = "svc-rdma" },
		{ .name = "svc-gpu", .load_slot = DWCP_SLOT_GPU },
		{ .name = "svc-simd", .load_slot = DWCP_SLOT_SIMD },
		{ .name = "svc-mem" }, { .name = "svc-prof" },
	};
	static struct samples floor_s;
	struct bench_node_cfg cfg = { .hugepage_mb = 256, .services = NULL, .extra = node_extra };
	struct ctx x = { .count = 20 };
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int rc;

	if (parse(argc, argv, &x.count))
		return 2;
	exe[n > 0 ? n : 0] = '\0';
	x.bin_dir = dirname(exe);
	snprintf(x.instance, sizeof(x.instance), "brec%d", (int)getpid());
	printf("dwcp bench recovery: %u crashes (SIGKILL) and %u upgrades per service on node %s\n"
	       "(restart backoff 1 ms, heartbeat 20 ms), then as many of each under load\n\n",
	       x.count, x.count, x.instance);
	fflush(stdout);
	if (bench_node_start_cfg(x.bin_dir, x.instance, &cfg, x.err, sizeof(x.err))) {
		fprintf(stderr, "dwcp bench recovery: %s\n", x.err);
		return 1;
	}
	rc = measure(&x, rows, &floor_s);
	stop_load(&x);
	bench_node_stop(x.bin_dir, x.instance);
	if (!rc) {
		static char extra_sb[sizeof(node_extra) + 64];

		snprintf(extra_sb, sizeof(extra_sb), "%s[supervisor]\nhot_standby = true\n", node_extra);
		cfg.extra = extra_sb;
		snprintf(x.instance, sizeof(x.instance), "brecs%d", (int)getpid());
		x.standby = 1;
		if (bench_node_start_cfg(x.bin_dir, x.instance, &cfg, x.err, sizeof(x.err))) {
			fprintf(stderr, "dwcp bench recovery: %s\n", x.err);
			return 1;
		}
		rc = measure_standby(&x, rows);
		bench_node_stop(x.bin_dir, x.instance);
	}
	if (rc) {
		fprintf(stderr, "dwcp bench recovery: %s\n", x.err);
		return 1;
	}
	report(&x, rows, &floor_s);
	return x.load && ld(&x.load->errors) ? 1 : 0;
}
