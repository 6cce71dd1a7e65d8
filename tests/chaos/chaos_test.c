/* Chaos under a real transfer (DESIGN §9 "Chaos", §3 invariants 2-3, §4).
 *
 * Two nodes on this machine (supervisors "xa-chaos-..." and
 * "xb-chaos-...", linked by kernel TCP on loopback, the same key, svc-gpu
 * READY on its CPU backend so that routing fails over between svc-gpu and
 * svc-simd) and a 1 GiB VM-image-like file sent from A to B with
 * `dwcp send` / `dwcp recv` as the user runs them. While it runs, this
 * process — the driver — signals a random service of a random node every
 * random 30-150 ms: SIGKILL (2 in 3) or SIGSTOP (1 in 3: the supervisor's
 * heartbeat check finds it hung and kills it). Before the next event on
 * the same node it waits until that service runs again (a new generation,
 * a new pid, READY or STANDBY); the other node's event may overlap (such
 * events are counted). There are $CHAOS_EVENTS events (default 50); when
 * a transfer ends before they are all done, the next one starts on a new
 * stream, and once they are done the last transfer is let finish.
 *
 * Then, what a user checks:
 *  - every transfer exited 0 and its output has the source's SHA-256
 *    (outputs are hashed by a child process as each transfer ends, then
 *    removed; a differing one is kept, and its differing 64 KiB blocks are
 *    reported);
 *  - every buffer is back in the pool, on both nodes;
 *  - every link is usable: an 8 MiB transfer from A to B and another from
 *    B to A arrive bit-identical;
 *  - on each node, each service restarted exactly as often as it was hit,
 *    and a service never hit still runs with the pid it had at the start.
 *
 * Printed, not asserted (figures of a shared, noisy machine): the events
 * per node and service, restart-to-READY P50/P99 (the supervisor's own
 * "recovered in X ms (death to READY)", read from both logs), signal to
 * up again as the driver saw it, and the throughput blackout P50/P99. The
 * blackout of an event is the longest time without growth of the
 * receiver's output (its temporary, sampled every 2 ms) from the signal
 * until the output grows again after the service is back; an event whose
 * window spans the end of a transfer has no blackout figure.
 *
 * Timeouts are hang guards only. On a failure the nodes' logs are copied
 * to /tmp/dwcp-chaos-logs-<pid>/ before teardown removes the run dirs.
 *
 * CHAOS_EVENTS=N: number of events (default 50). CHAOS_SEED=S: repeat a
 * run's random choices (the seed is printed; timing still differs).
 * CHAOS_KEEP_LOGS=1: keep the nodes' logs after a passing run too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define SRC_SIZE (1024 * MIB)
#define SHORT_SIZE (8 * MIB)
#define DEFAULT_EVENTS 50u
#define MAX_EVENTS 100000u
#define MAX_XFERS 256u
#define SAMPLE_MS 2u
#define UP_MS 60000u        /* hang guard: a hit service up again */
#define POOL_MS 60000u      /* hang guard: every buffer back in the pool */
#define STALL_MS 120000u    /* hang guard: no output growth while chaos runs */
#define XFER_GUARD_S 60u    /* dwcp send/recv --timeout: give up after this long without progress */

enum { NODE_A, NODE_B, N_NODES };
static const char *const node_name[N_NODES] = { "A (sender)", "B (receiver)" };

struct event {
	unsigned node, svc;
	int sig;
	pid_t pid;
	double gen;
	uint64_t t_sig, t_up;      /* ms, CLOCK_MONOTONIC; t_up 0 until up again */
	double rec_before;         /* last_recovery_ms at the signal */
	double recovery_ms;        /* the supervisor's death to READY; -1: not timed */
	unsigned xfer;             /* the transfer running at the signal */
	bool overlapped;           /* the other node had an event open at the signal */
	/* blackout window */
	bool win_open, win_valid;
	uint64_t last_growth;      /* the latest growth seen (t_sig at first) */
	uint64_t max_gap;
};

struct xfer {
	char stream[32], out[160];
	struct dwcp_xfer_proc snd, rcv;
	bool started, finished;
	int rs, rr;
	double seconds, resent, bytes_wire, rejected, duplicates;
	pid_t hasher;              /* compares the output with the source, then removes it */
	int hash_status;           /* its exit status: 0 equal; -1 while not known */
};

static struct dwcp_xfer_pair pair;
static char dir[64], src[128], key[128], src_hash[65];
static struct event *ev;
static struct xfer *xf;
static unsigned n_xf;
static struct dwcp_xfer_proc short_snd, short_rcv;

static struct dwcp_test_node *node_of(unsigned i)
{
	return i == NODE_A ? &pair.a : &pair.b;
}

static void teardown(void)
{
	for (unsigned i = 0; xf && i < n_xf; i++) {
		dwcp_xfer_proc_free(&xf[i].snd);
		dwcp_xfer_proc_free(&xf[i].rcv);
		if (xf[i].hasher > 0) {
			kill(xf[i].hasher, SIGKILL);
			waitpid(xf[i].hasher, NULL, 0);
			xf[i].hasher = 0;
		}
	}
	dwcp_xfer_proc_free(&short_snd);
	dwcp_xfer_proc_free(&short_rcv);
	dwcp_xfer_pair_stop(&pair);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
	free(ev);
	free(xf);
	ev = NULL;
	xf = NULL;
	n_xf = 0;
}

static unsigned env_events(void)
{
	const char *s = getenv("CHAOS_EVENTS");
	char *end;
	unsigned long n;

	if (!s || !*s)
		return DEFAULT_EVENTS;
	n = strtoul(s, &end, 10);
	cr_assert(!*end && n > 0 && n <= MAX_EVENTS, "CHAOS_EVENTS='%s': expected 1..%u", s,
		  MAX_EVENTS);
	return (unsigned)n;
}

/* Keep the evidence, dump both nodes, fail. */
#define CHAOS_FAIL(...)                                                              \
	do {                                                                         \
		char why_[512], saved_[96];                                          \
		snprintf(why_, sizeof(why_), __VA_ARGS__);                           \
		snprintf(saved_, sizeof(saved_), "/tmp/dwcp-chaos-logs-%d", (int)getpid()); \
		dwcp_xfer_pair_dump(&pair, why_);                                    \
		dwcp_xfer_pair_save_logs(&pair, saved_);                             \
		fprintf(stderr, "chaos: FAILED: %s (logs kept in %s)\n", why_, saved_); \
		cr_assert_fail("%s", why_);                                          \
	} while (0)

static cJSON *status_of(unsigned node)
{
	cJSON *st = dwcp_test_status(node_of(node)->instance, NULL);

	if (!st)
		CHAOS_FAIL("node %s: the supervisor does not answer", node_name[node]);
	return st;
}

/* The services the driver hits: the six and their further workers
 * (svc-simd's: one per CPU; svc-net's and svc-mem's: one each, set in the
 * config below), as node A's status lists them (both nodes run the same
 * config on the same machine). */
#define CHAOS_SVC_MAX (DWCP_TEST_SERVICES + 31)
static char svc_names[CHAOS_SVC_MAX][32];
static unsigned n_svc;

static void load_services(void)
{
	cJSON *st = status_of(NODE_A);
	const cJSON *e;

	n_svc = 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(st, "services")) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");

		if (cJSON_IsString(nm) && n_svc < CHAOS_SVC_MAX)
			snprintf(svc_names[n_svc++], sizeof(svc_names[0]), "%s", nm->valuestring);
	}
	cJSON_Delete(st);
	cr_assert_geq(n_svc, DWCP_TEST_SERVICES, "node A lists %u services", n_svc);
}

/* ---- the receiver's output ---- */

/* Bytes the current transfer's `dwcp recv` has written so far. */
static long long out_bytes(const struct xfer *x)
{
	long long n = x->rcv.pid > 0 ? dwcp_xfer_recv_bytes(x->rcv.pid, x->out) : -1;

	if (n < 0)
		n = dwcp_xfer_file_size(x->out);
	return n < 0 ? 0 : n;
}

/* ---- transfers ---- */

static void xfer_start(unsigned i)
{
	struct xfer *x = &xf[i];
	int rc;

	cr_assert(i < MAX_XFERS, "more than %u transfers", MAX_XFERS);
	memset(x, 0, sizeof(*x));
	x->hash_status = -1;
	snprintf(x->stream, sizeof(x->stream), "chaos%u", i + 1);
	snprintf(x->out, sizeof(x->out), "%s/out-%u.img", dir, i + 1);
	rc = dwcp_xfer_recv_start(&x->rcv, NULL, pair.b.instance, x->stream, x->out, XFER_GUARD_S);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&x->snd, pair.a.instance, x->stream, src, "nodeb", XFER_GUARD_S,
				  NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	x->started = true;
	n_xf = i + 1;
}

/* Child: compare @p out with the source; remove it when equal. */
static void __attribute__((noreturn)) hasher_main(const char *out)
{
	char h[65];
	long long first = -1;
	uint64_t blocks = 0;
	int rc = dwcp_xfer_sha256(out, h);

	if (rc) {
		fprintf(stderr, "chaos: cannot read %s: %s\n", out, strerror(-rc));
		_exit(2);
	}
	if (strcmp(h, src_hash) == 0) {
		unlink(out);
		_exit(0);
	}
	rc = dwcp_xfer_first_diff(src, out, 65536, &first, &blocks);
	fprintf(stderr,
		"chaos: %s (%lld bytes, sha256 %s) differs from %s (%lld bytes, sha256 %s): "
		"first difference at byte %lld, %llu 64 KiB blocks differ (compare: %d); kept\n",
		out, dwcp_xfer_file_size(out), h, src, dwcp_xfer_file_size(src), src_hash, first,
		(unsigned long long)blocks, rc);
	_exit(1);
}

/* Reap what ended; start hashing a finished transfer's output.
 * @return true when transfer @p i has ended (both commands). */
static bool xfer_poll(unsigned i)
{
	struct xfer *x = &xf[i];

	if (x->finished)
		return true;
	if (dwcp_xfer_running(&x->snd) || dwcp_xfer_running(&x->rcv))
		return false;
	x->rs = dwcp_xfer_wait(&x->snd, 0);
	x->rr = dwcp_xfer_wait(&x->rcv, 0);
	x->finished = true;
	x->seconds = dwcp_xfer_json_num(x->snd.out, "seconds");
	x->resent = dwcp_xfer_json_num(x->snd.out, "resent");
	x->bytes_wire = dwcp_xfer_json_num(x->snd.out, "bytes_wire");
	x->rejected = dwcp_xfer_json_num(x->snd.out, "rejected");
	x->duplicates = dwcp_xfer_json_num(x->rcv.out, "duplicates");
	if (x->rs != 0 || x->rr != 0) {
		dwcp_xfer_print(&x->snd);
		dwcp_xfer_print(&x->rcv);
		CHAOS_FAIL("transfer %u (stream %s): dwcp send exited %d, dwcp recv exited %d", i + 1,
			   x->stream, x->rs, x->rr);
	}
	fflush(NULL);
	x->hasher = fork();
	cr_assert(x->hasher >= 0, "fork: %s", strerror(errno));
	if (x->hasher == 0)
		hasher_main(x->out);
	return true;
}

/* Reap the hasher of transfer @p i; wait for it when @p block. */
static void hasher_reap(unsigned i, bool block)
{
	struct xfer *x = &xf[i];
	int st;

	if (x->hasher <= 0)
		return;
	if (waitpid(x->hasher, &st, block ? 0 : WNOHANG) != x->hasher)
		return;
	x->hasher = 0;
	x->hash_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* An 8 MiB transfer from node @p from to the other, bit-identical. */
static void short_transfer(unsigned from, const char *to, const char *stream)
{
	char s[160], o[160], hs[65], ho[65];
	unsigned to_node = from == NODE_A ? NODE_B : NODE_A;
	int rs, rr, rc;

	snprintf(s, sizeof(s), "%s/%s.src", dir, stream);
	snprintf(o, sizeof(o), "%s/%s.out", dir, stream);
	cr_assert_eq(dwcp_xfer_make_image(s, SHORT_SIZE, 4242 + from), 0, "cannot write %s", s);
	dwcp_xfer_proc_free(&short_snd);
	dwcp_xfer_proc_free(&short_rcv);
	rc = dwcp_xfer_recv_start(&short_rcv, NULL, node_of(to_node)->instance, stream, o, 120);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&short_snd, node_of(from)->instance, stream, s, to, 120, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	rs = dwcp_xfer_wait(&short_snd, 300000);
	rr = dwcp_xfer_wait(&short_rcv, rs == 0 ? 60000 : 300000);
	if (rs || rr) {
		dwcp_xfer_print(&short_snd);
		dwcp_xfer_print(&short_rcv);
		CHAOS_FAIL("after the chaos, the %llu MiB transfer from node %s exited %d (send), %d (recv)",
			   SHORT_SIZE / MIB, node_name[from], rs, rr);
	}
	cr_assert_eq(dwcp_xfer_sha256(s, hs), 0);
	if (dwcp_xfer_sha256(o, ho) || strcmp(hs, ho))
		CHAOS_FAIL("after the chaos, the %llu MiB transfer from node %s arrived different: %s vs %s",
			   SHORT_SIZE / MIB, node_name[from], ho, hs);
	fprintf(stderr, "chaos: after: %llu MiB from node %s to node %s: ok, %.3f s, resent %.0f\n",
		SHORT_SIZE / MIB, node_name[from], node_name[to_node],
		dwcp_xfer_json_num(short_snd.out, "seconds"),
		dwcp_xfer_json_num(short_snd.out, "resent"));
	unlink(s);
	unlink(o);
}

/* ---- figures ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of @p n values (sorts them). */
static double pct(double *v, unsigned n, double p)
{
	unsigned k;

	if (!n)
		return -1;
	qsort(v, n, sizeof(v[0]), cmp_double);
	k = (unsigned)(p / 100.0 * n + 0.999999);
	return v[k ? k - 1 : 0];
}

/* The supervisor's "SVC: recovered in X ms (death to READY)" lines of
 * node @p node: appends them to @p v, counts them per service. */
static unsigned read_recoveries(unsigned node, double *v, unsigned cap,
				unsigned per_svc[CHAOS_SVC_MAX])
{
	char path[512], line[1024];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/supervisor.log", node_of(node)->inst_dir);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		for (unsigned s = 0; s < n_svc; s++) {
			char pat[64];
			const char *p;
			double ms;

			snprintf(pat, sizeof(pat), "%s: recovered in ", svc_names[s]);
			p = strstr(line, pat);
			if (p && sscanf(p + strlen(pat), "%lf", &ms) == 1) {
				per_svc[s]++;
				if (n < cap)
					v[n++] = ms;
			}
		}
	}
	if (f)
		fclose(f);
	return n;
}

/* ---- the driver ---- */

struct driver {
	unsigned target, fired, cur;          /* events wanted, fired; current transfer */
	int open[N_NODES];                    /* event open on a node (-1: none) */
	pid_t start_pid[N_NODES][CHAOS_SVC_MAX];
	double gen[N_NODES][CHAOS_SVC_MAX];
	unsigned kills[N_NODES][CHAOS_SVC_MAX], stops[N_NODES][CHAOS_SVC_MAX];
	unsigned overlaps;
	long long last_bytes;                 /* current transfer's output at the last sample */
	uint64_t last_growth, next_event, deadline;
	bool all_done;                        /* the last transfer has ended */
	unsigned pick_node, pick_svc;         /* the next event's choice */
	bool picked;
};

/* A worker "svc-simd.1" runs the binary svc-simd. */
static bool comm_is(pid_t pid, const char *name)
{
	char p[64], c[64] = "";
	size_t base = strcspn(name, ".");
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return false;
	if (!fgets(c, sizeof(c), f))
		c[0] = '\0';
	fclose(f);
	c[strcspn(c, "\n")] = '\0';
	return strlen(c) == base && strncmp(c, name, base) == 0;
}

/* One sample of the receiver's output: feed the open blackout windows. */
static void sample(struct driver *d, uint64_t now)
{
	long long b = out_bytes(&xf[d->cur]);

	if (b <= d->last_bytes)
		return;
	d->last_bytes = b;
	d->last_growth = now;
	for (unsigned i = d->fired; i-- > 0;) {
		struct event *e = &ev[i];

		if (!e->win_open)
			continue;
		if (now - e->last_growth > e->max_gap)
			e->max_gap = now - e->last_growth;
		e->last_growth = now;
		if (e->t_up && now > e->t_up)
			e->win_open = false;   /* grew after the service was back */
	}
}

/* An event whose window is still open when its transfer ends has no figure. */
static void close_windows_of_transfer(struct driver *d, unsigned x)
{
	for (unsigned i = 0; i < d->fired; i++)
		if (ev[i].win_open && ev[i].xfer == x) {
			ev[i].win_open = false;
			ev[i].win_valid = false;
		}
}

/* Is the open event of node @p n over: the service up again at a new
 * generation, and the supervisor's timing of the recovery published
 * (last_recovery_ms changes at its first heartbeat check after READY;
 * an event fired before then would leave that recovery untimed)? */
static void check_open(struct driver *d, unsigned n, uint64_t now)
{
	struct event *e;
	const char *svc, *state;
	double rec;
	cJSON *st;
	bool up;

	if (d->open[n] < 0)
		return;
	e = &ev[d->open[n]];
	svc = svc_names[e->svc];
	st = status_of(n);
	state = dwcp_test_svc_str(st, svc, "state");
	up = (!strcmp(state, "READY") || !strcmp(state, "STANDBY")) &&
	     dwcp_test_svc_num(st, svc, "generation") > e->gen &&
	     dwcp_test_svc_num(st, svc, "pid") > 0 && dwcp_test_svc_num(st, svc, "pid") != e->pid;
	rec = dwcp_test_svc_num(st, svc, "last_recovery_ms");
	if (up && !e->t_up)
		e->t_up = now;
	if (up && (rec != e->rec_before || now - e->t_up > 2000)) {
		e->recovery_ms = rec != e->rec_before ? rec : -1;
		d->gen[n][e->svc] = dwcp_test_svc_num(st, svc, "generation");
		d->open[n] = -1;
	}
	cJSON_Delete(st);
	if (!up && !e->t_up && now - e->t_sig > UP_MS)
		CHAOS_FAIL("event %u: node %s %s (pid %d) got signal %d %u s ago and is not up again at a new generation",
			   (unsigned)(e - ev) + 1, node_name[n], svc, (int)e->pid, e->sig, UP_MS / 1000);
}

/* Fire the picked event if its node has none open. */
static void fire(struct driver *d, uint64_t now)
{
	unsigned n = d->pick_node, s = d->pick_svc;
	const char *svc = svc_names[s];
	struct event *e = &ev[d->fired];
	double gen, rec;
	pid_t pid;
	cJSON *st;

	if (d->open[n] >= 0)
		return;
	st = status_of(n);
	pid = (pid_t)dwcp_test_svc_num(st, svc, "pid");
	gen = dwcp_test_svc_num(st, svc, "generation");
	rec = dwcp_test_svc_num(st, svc, "last_recovery_ms");
	if (gen != d->gen[n][s]) {
		char *text = cJSON_PrintUnformatted(st);

		fprintf(stderr, "status of node %s: %s\n", node_name[n], text ? text : "?");
		free(text);
		cJSON_Delete(st);
		CHAOS_FAIL("node %s %s is at generation %.0f, the driver expected %.0f: it restarted without being hit",
			   node_name[n], svc, gen, d->gen[n][s]);
	}
	cJSON_Delete(st);
	if (pid <= 0 || !comm_is(pid, svc))
		CHAOS_FAIL("node %s %s: status pid %d is not that service", node_name[n], svc,
			   (int)pid);
	memset(e, 0, sizeof(*e));
	e->node = n;
	e->svc = s;
	e->sig = random() % 3 == 0 ? SIGSTOP : SIGKILL;
	e->pid = pid;
	e->gen = gen;
	e->rec_before = rec;
	e->xfer = d->cur;
	e->overlapped = d->open[!n] >= 0;
	e->win_open = e->win_valid = true;
	e->t_sig = e->last_growth = now;
	if (kill(pid, e->sig))
		CHAOS_FAIL("kill(%d, %d): %s", (int)pid, e->sig, strerror(errno));
	if (e->sig == SIGKILL)
		d->kills[n][s]++;
	else
		d->stops[n][s]++;
	d->overlaps += e->overlapped;
	d->open[n] = (int)d->fired;
	d->fired++;
	d->picked = false;
	d->next_event = now + 30 + (uint64_t)(random() % 121);
}

/* Guards and transfer turnover; @return false once the chaos is over. */
static bool step(struct driver *d, uint64_t now)
{
	if (now > d->deadline)
		CHAOS_FAIL("the chaos still runs after its hang guard (%u events fired of %u)",
			   d->fired, d->target);
	if (now - d->last_growth > STALL_MS)
		CHAOS_FAIL("transfer %u: its output did not grow for %u s (at %lld bytes; hang guard)",
			   d->cur + 1, STALL_MS / 1000, d->last_bytes);
	if (!d->all_done && xfer_poll(d->cur)) {
		close_windows_of_transfer(d, d->cur);
		fprintf(stderr, "chaos: transfer %u (stream %s) done after %u events: %.3f s, %.0f resent, %.0f rejected, %.0f duplicates at the sink\n",
			d->cur + 1, xf[d->cur].stream, d->fired, xf[d->cur].seconds,
			xf[d->cur].resent, xf[d->cur].rejected, xf[d->cur].duplicates);
		if (d->fired >= d->target) {
			d->all_done = true;   /* the last one: only open events left */
		} else {
			xfer_start(++d->cur);
			d->last_bytes = 0;
			d->last_growth = now;
		}
	}
	if (d->all_done)
		d->last_growth = now;   /* no output to grow any more */
	for (unsigned i = 0; i < n_xf; i++)
		hasher_reap(i, false);
	return !(d->all_done && d->open[NODE_A] < 0 && d->open[NODE_B] < 0);
}

static void run_chaos(struct driver *d)
{
	uint64_t next_status = 0;

	d->last_growth = dwcp_test_now_ms();
	d->next_event = d->last_growth + 30 + (uint64_t)(random() % 121);
	d->deadline = d->last_growth + 600000ull + 20000ull * d->target;
	for (;;) {
		uint64_t now = dwcp_test_now_ms();

		sample(d, now);
		if (!step(d, now))
			break;
		if (now >= next_status) {
			check_open(d, NODE_A, now);
			check_open(d, NODE_B, now);
			next_status = now + 5;
		}
		if (d->fired < d->target && now >= d->next_event) {
			if (!d->picked) {
				d->pick_node = (unsigned)(random() % N_NODES);
				d->pick_svc = (unsigned)(random() % n_svc);
				d->picked = true;
			}
			fire(d, now);
		}
		dwcp_test_sleep_ms(SAMPLE_MS);
	}
}

static const char *sig_name(int sig)
{
	return sig == SIGKILL ? "SIGKILL" : "SIGSTOP";
}

/* An event's blackout, -1 when it has none. */
static double blackout_of(const struct event *e)
{
	return e->win_valid && !e->win_open ? (double)e->max_gap : -1;
}

static void report(struct driver *d)
{
	unsigned n = d->fired, nb, nu, nr, untimed = 0, logged = 0;
	unsigned per_log[N_NODES][CHAOS_SVC_MAX] = { { 0 } };
	double *black = calloc(n + 1, sizeof(double)), *up = calloc(n + 1, sizeof(double));
	double *rec = calloc(2 * n + 64, sizeof(double)), b50;
	unsigned worst[5], n_worst = 0;

	cr_assert(black && up && rec);
	fprintf(stderr, "chaos: %u events (%u with the other node's event still open):\n", n,
		d->overlaps);
	for (unsigned node = 0; node < N_NODES; node++)
		for (unsigned s = 0; s < n_svc; s++)
			fprintf(stderr, "chaos:   node %-12s %-8s %3u SIGKILL, %3u SIGSTOP\n",
				node_name[node], svc_names[s], d->kills[node][s],
				d->stops[node][s]);

	/* all events */
	nb = nu = nr = 0;
	for (unsigned i = 0; i < n; i++) {
		if (ev[i].t_up)
			up[nu++] = (double)(ev[i].t_up - ev[i].t_sig);
		if (blackout_of(&ev[i]) >= 0)
			black[nb++] = blackout_of(&ev[i]);
		if (ev[i].recovery_ms >= 0)
			rec[nr++] = ev[i].recovery_ms;
		else
			untimed++;
	}
	fprintf(stderr, "chaos: restart-to-READY (the supervisor's last_recovery_ms: death to READY) over %u events: P50 %.1f ms, P99 %.1f ms\n",
		nr, pct(rec, nr, 50), pct(rec, nr, 99));
	fprintf(stderr, "chaos: signal to up again as the driver polled it (SIGSTOP includes the 200 ms heartbeat timeout): P50 %.0f ms, P99 %.0f ms\n",
		pct(up, nu, 50), pct(up, nu, 99));
	b50 = pct(black, nb, 50);   /* sorts: the largest is last */
	fprintf(stderr, "chaos: throughput blackout (longest stall of the sink's output from the signal until it grows after recovery) over %u of %u events: P50 %.0f ms, P99 %.0f ms, max %.0f ms\n",
		nb, n, b50, pct(black, nb, 99), nb ? black[nb - 1] : -1.0);
	if (untimed)
		fprintf(stderr, "chaos: note: %u events whose recovery the supervisor did not time within 2 s of READY\n",
			untimed);

	/* per service, both nodes together */
	for (unsigned s = 0; s < n_svc; s++) {
		unsigned k = 0, kb = 0;

		for (unsigned i = 0; i < n; i++) {
			if (ev[i].svc != s)
				continue;
			if (ev[i].recovery_ms >= 0)
				rec[k++] = ev[i].recovery_ms;
			if (blackout_of(&ev[i]) >= 0)
				black[kb++] = blackout_of(&ev[i]);
		}
		b50 = pct(black, kb, 50);
		fprintf(stderr, "chaos:   %-8s restart-to-READY P50 %6.1f ms P99 %6.1f ms (%u); blackout P50 %5.0f ms max %5.0f ms (%u)\n",
			svc_names[s], pct(rec, k, 50), pct(rec, k, 99), k, b50,
			kb ? black[kb - 1] : -1.0, kb);
	}

	/* the longest blackouts */
	for (unsigned i = 0; i < n; i++) {
		unsigned j;

		if (blackout_of(&ev[i]) < 0)
			continue;
		if (n_worst < 5)
			n_worst++;
		else if (blackout_of(&ev[worst[4]]) >= blackout_of(&ev[i]))
			continue;
		for (j = n_worst - 1; j > 0 && blackout_of(&ev[worst[j - 1]]) < blackout_of(&ev[i]); j--)
			worst[j] = worst[j - 1];
		worst[j] = i;
	}
	for (unsigned w = 0; w < n_worst; w++) {
		const struct event *e = &ev[worst[w]];

		fprintf(stderr, "chaos:   longest blackout #%u: event %u, node %s %s %s, transfer %u, blackout %.0f ms, signal to up %.0f ms, restart-to-READY %.1f ms%s\n",
			w + 1, worst[w] + 1, node_name[e->node], svc_names[e->svc],
			sig_name(e->sig), e->xfer + 1, blackout_of(e),
			e->t_up ? (double)(e->t_up - e->t_sig) : -1.0, e->recovery_ms,
			e->overlapped ? " (overlapping an event on the other node)" : "");
	}

	/* cross-check: the supervisors' logs */
	for (unsigned node = 0; node < N_NODES; node++)
		logged += read_recoveries(node, rec, 2 * n + 64, per_log[node]);
	for (unsigned node = 0; node < N_NODES; node++)
		for (unsigned s = 0; s < n_svc; s++)
			if (per_log[node][s] != d->kills[node][s] + d->stops[node][s])
				fprintf(stderr, "chaos: note: node %s %s: %u \"recovered in\" log lines for %u events\n",
					node_name[node], svc_names[s], per_log[node][s],
					d->kills[node][s] + d->stops[node][s]);
	(void)logged;
	free(black);
	free(up);
	free(rec);
}

Test(chaos, transfer_survives_random_kills_and_hangs_of_every_service, .fini = teardown)
{
	const char *const extra[] = { "supervisor.heartbeat_ms = 20",
				      "supervisor.heartbeat_timeout_ms = 200",
				      "supervisor.restart_backoff_ms = 1",
				      "supervisor.restart_backoff_max_ms = 1",
				      "net.resend_ms = 300",
				      "gpu.cpu_backend = true",
				      /* workers of every kind that has them, so that
				       * the driver hits svc-net.1 and svc-mem.1 too
				       * (auto gives them 1 on a small host) */
				      "net.workers = 2",
				      "mem.workers = 2",
				      NULL };
	struct dwcp_xfer_pair_cfg c = { .tag = "chaos", .cache_mb = 32, .extra = extra };
	struct driver d = { .target = env_events(), .open = { -1, -1 } };
	unsigned seed = getenv("CHAOS_SEED") ? (unsigned)strtoul(getenv("CHAOS_SEED"), NULL, 10) :
					       (unsigned)getpid() ^ (unsigned)time(NULL);
	uint64_t compared = 0, t0;
	int rc;

	ev = calloc(d.target, sizeof(*ev));
	xf = calloc(MAX_XFERS, sizeof(*xf));
	cr_assert(ev && xf, "out of memory");
	snprintf(dir, sizeof(dir), "/tmp/dwcp-chaos-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, SRC_SIZE, 4711), 0, "cannot write %s", src);
	cr_assert_eq(dwcp_xfer_sha256(src, src_hash), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	load_services();
	for (unsigned n = 0; n < N_NODES; n++) {
		cJSON *st = status_of(n);

		for (unsigned s = 0; s < n_svc; s++) {
			d.start_pid[n][s] = (pid_t)dwcp_test_svc_num(st, svc_names[s], "pid");
		}
		for (unsigned s = 0; s < n_svc; s++) {
			const char *svc = svc_names[s];
			const char *state = dwcp_test_svc_str(st, svc, "state");

			d.gen[n][s] = dwcp_test_svc_num(st, svc, "generation");
			if (strcmp(state, "READY") && strcmp(state, "STANDBY"))
				CHAOS_FAIL("node %s %s is %s before the chaos", node_name[n], svc,
					   state);
		}
		if (strcmp(dwcp_test_svc_str(st, "svc-gpu", "state"), "READY"))
			CHAOS_FAIL("node %s svc-gpu is %s, not READY on its CPU backend: no routing failover to test",
				   node_name[n], dwcp_test_svc_str(st, "svc-gpu", "state"));
		cJSON_Delete(st);
	}
	fprintf(stderr, "chaos: nodes %s and %s, %u events, random seed %u (CHAOS_SEED)\n",
		pair.a.instance, pair.b.instance, d.target, seed);
	srandom(seed);

	t0 = dwcp_test_now_ms();
	xfer_start(0);
	run_chaos(&d);
	fprintf(stderr, "chaos: %u events over %u transfer(s) of %llu MiB in %.1f s\n", d.fired,
		n_xf, SRC_SIZE / MIB, (dwcp_test_now_ms() - t0) / 1000.0);
	report(&d);

	/* Every output equal to the source. */
	for (unsigned i = 0; i < n_xf; i++) {
		hasher_reap(i, true);
		if (xf[i].hash_status != 0)
			CHAOS_FAIL("transfer %u (stream %s): the output is not the source (compare exit %d; see above)",
				   i + 1, xf[i].stream, xf[i].hash_status);
		compared += SRC_SIZE;
	}
	fprintf(stderr, "chaos: %llu bytes compared over %u transfers: all equal to the source (sha256 %s)\n",
		(unsigned long long)compared, n_xf, src_hash);

	/* Nothing leaked. */
	for (unsigned n = 0; n < N_NODES; n++) {
		long free_n = dwcp_test_wait_pool_full(node_of(n)->instance, POOL_MS);
		cJSON *st = status_of(n);
		long total = dwcp_test_pool_buffers(st);

		cJSON_Delete(st);
		if (free_n != total)
			CHAOS_FAIL("node %s: %ld of %ld buffers free %u s after the last transfer: %ld leaked",
				   node_name[n], free_n, total, POOL_MS / 1000, total - free_n);
		fprintf(stderr, "chaos: node %s: pool %ld of %ld free: 0 leaked\n", node_name[n],
			free_n, total);
	}

	/* Every link usable, both ways. */
	short_transfer(NODE_A, "nodeb", "after-ab");
	short_transfer(NODE_B, "nodea", "after-ba");

	/* Restarts only where hit. */
	for (unsigned n = 0; n < N_NODES; n++) {
		cJSON *st = status_of(n);

		for (unsigned s = 0; s < n_svc; s++) {
			const char *svc = svc_names[s];
			unsigned hits = d.kills[n][s] + d.stops[n][s];
			double restarts = dwcp_test_svc_num(st, svc, "restarts");
			pid_t pid = (pid_t)dwcp_test_svc_num(st, svc, "pid");

			if (restarts != hits) {
				cJSON_Delete(st);
				CHAOS_FAIL("node %s %.31s restarted %.0f times, hit %u times", node_name[n],
					   svc, restarts, hits);
			}
			if (!hits && pid != d.start_pid[n][s]) {
				cJSON_Delete(st);
				CHAOS_FAIL("node %s %.31s: pid %d, was %d, never hit", node_name[n], svc,
					   (int)pid, (int)d.start_pid[n][s]);
			}
		}
		cJSON_Delete(st);
	}
	fprintf(stderr, "chaos: every service restarted exactly as often as it was hit; ok\n");
	if (getenv("CHAOS_KEEP_LOGS") && *getenv("CHAOS_KEEP_LOGS")) {
		char saved[96];

		snprintf(saved, sizeof(saved), "/tmp/dwcp-chaos-logs-%d", (int)getpid());
		dwcp_xfer_pair_save_logs(&pair, saved);
		fprintf(stderr, "chaos: logs kept in %s (CHAOS_KEEP_LOGS)\n", saved);
	}
}
