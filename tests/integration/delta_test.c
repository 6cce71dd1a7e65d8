/* svc-mem's HDE steps between two real nodes: a sender node runs DELTA
 * against its delta cache, the chunk bytes (header and body) are copied
 * into a buffer of a receiver node, which runs UNDELTA against its own
 * cache — what a transport in between would do. Checked:
 *  - a first version (no bases yet) and a second with a few bytes changed
 *    come back bit-identical; the second's delta body is a small fraction
 *    of the data;
 *  - svc-mem killed (SIGKILL) on the receiver, then on the sender: their
 *    caches survive in the region, and the next version still finds its
 *    bases on both sides;
 *  - a receiver whose cache never saw the stream answers EBASE for a
 *    delta chunk; the raw resend it asks for brings the caches back in
 *    step, and the next delta decodes;
 *  - a node without a cache (delta_cache_mb = 0): DELTA emits only ZERO and
 *    RAW records, UNDELTA decodes those and answers EBASE for the rest;
 *  - svc-mem killed at random instants mid-step, on either node, forty
 *    times: some chunks come back EBASE (resent raw) or twice, none with
 *    a wrong byte, and the caches end in step;
 *  - chunks DELTA cannot take (misaligned offset, sealed, compressed,
 *    already a delta, not a chunk, over 64 KiB) fail EBADCHUNK and come
 *    back untouched; UNDELTA passes a raw chunk the cache cannot key on
 *    as it is.
 *
 * A process attaches to one node once (a DPDK secondary), so each batch
 * of chunks is run by a forked client child on its node; the children
 * and this process share the jobs through a MAP_SHARED block. Timeouts
 * are hang guards, never speed requirements.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ipc/chunk.h"
#include "ipc/client.h"
#include "common/ops/hde.h"
#include "tests/lib/node.h"

#define PG        4096u
#define BUF_SIZE  266240u                      /* 96-byte header + 256 KiB + the HDE bound */
#define SLOT      (BUF_SIZE)
#define N_CHUNKS  8u
#define MAX_JOBS  16u
#define STREAM    0xd17au
#define CLIENT_MS 60000u
#define UP_MS     60000u

struct job {
	uint32_t in_len, out_len;
	uint16_t status;
	uint8_t in[SLOT], out[SLOT];
};

struct shared {
	int failed, done;
	unsigned dups;             /* deliveries of a chunk already delivered (after a kill) */
	unsigned submitted;        /* jobs the client has submitted (the killer watches it) */
	char err[DWCP_ERR_MSG_MAX + 64];
	unsigned op, n;
	struct job jobs[MAX_JOBS];
};

static struct dwcp_test_node node_a, node_b;
static struct shared *sh;

static void teardown(void)
{
	dwcp_test_node_stop(&node_a);
	dwcp_test_node_stop(&node_b);
	if (sh)
		munmap(sh, sizeof(*sh));
	sh = NULL;
}

static void start2(struct dwcp_test_node *n, const char *name, const char *cache, const char *more)
{
	/* Restart at once, every time: the kill tests kill svc-mem often, and
	 * the default backoff would make them wait seconds for nothing. */
	const char *ovr[] = { "pool.buf_size = 266240", "pool.buffers = 128",
			      "supervisor.hugepage_mb = 128", "supervisor.restart_backoff_ms = 1",
			      "supervisor.restart_backoff_max_ms = 1", cache, more, NULL };

	if (!sh) {
		sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		cr_assert(sh != MAP_FAILED);
	}
	cr_assert_eq(dwcp_test_node_start(n, name, ovr), 0, "node %s did not start", name);
}

static void start(struct dwcp_test_node *n, const char *name, const char *cache)
{
	start2(n, name, cache, NULL);
}

/* ---- the data ---------------------------------------------------------- */

static uint32_t chunk_len(unsigned chunk)
{
	return chunk == N_CHUNKS - 1 ? 5 * PG + 1234 : 16 * PG;   /* the last one short */
}

/* Version @p v of chunk @p chunk: zero, text, noise and counter pages;
 * each later version changes a few bytes in every third page (zero pages
 * included, so a zero page that changes must delta too). */
static uint32_t make_data(unsigned v, unsigned chunk, uint8_t *d)
{
	uint32_t len = chunk_len(chunk);

	for (uint32_t i = 0; i < len; i++) {
		uint32_t pg = chunk * 16 + i / PG;
		uint64_t x = (uint64_t)pg * 0x9e3779b97f4a7c15ull + (i % PG) * 0xbf58476d1ce4e5b9ull;

		switch (pg % 4) {
		case 0: d[i] = 0; break;
		case 1: d[i] = (uint8_t)"dwcp moves VM memory between hosts. "[i % 36]; break;
		case 2: d[i] = (uint8_t)((x ^ (x >> 29)) >> 23); break;
		default: d[i] = (uint8_t)(i / 7); break;
		}
	}
	for (unsigned w = 2; w <= v; w++)
		for (uint32_t p = 0; p * PG < len; p++) {
			uint32_t pl = len - p * PG < PG ? len - p * PG : PG;

			if ((p + w) % 3)
				continue;
			for (unsigned k = 0; k < 4; k++)
				d[p * PG + (w * 131 + p * 977 + k * 7) % pl] ^= (uint8_t)(w * 16 + k + 1);
		}
	return len;
}

/* Job i's input: chunk i of version v, raw. */
static void prepare_raw(unsigned v)
{
	sh->n = N_CHUNKS;
	for (unsigned i = 0; i < N_CHUNKS; i++) {
		struct dwcp_chunk_hdr *c = (struct dwcp_chunk_hdr *)sh->jobs[i].in;
		uint32_t len = make_data(v, i, dwcp_chunk_body(c));

		dwcp_chunk_init(c, STREAM, v * 100 + i, (uint64_t)i * 16 * PG, len);
		sh->jobs[i].in_len = DWCP_CHUNK_HDR_LEN + len;
	}
}

/* The transport: each job's output becomes its input on the other node. */
static void outputs_to_inputs(void)
{
	for (unsigned i = 0; i < sh->n; i++) {
		memcpy(sh->jobs[i].in, sh->jobs[i].out, sh->jobs[i].out_len);
		sh->jobs[i].in_len = sh->jobs[i].out_len;
	}
}

static const struct dwcp_chunk_hdr *out_hdr(unsigned i)
{
	return (const struct dwcp_chunk_hdr *)sh->jobs[i].out;
}

/* ---- the client child ------------------------------------------------- */

/* One job through [svc-mem op]. After a kill a chunk may come back twice
 * (architecture.md: "one duplicate chunk downstream"); a delivery of an
 * earlier job is dropped and counted. */
static void run_one(struct dwcp_client *c, struct job *j, unsigned op)
{
	const uint16_t prog[] = { dwcp_prog_step(DWCP_SLOT_MEM, op) };
	const struct dwcp_chunk_hdr *ch = (const struct dwcp_chunk_hdr *)j->in;
	uint32_t idx, got;
	struct dwcp_buf_hdr *h;

	while (dwcp_client_alloc(c, &idx, 1) != 1)
		dwcp_client_wait(c, 1000000);
	memcpy(dwcp_client_data(c, idx), j->in, j->in_len);
	h = dwcp_client_hdr(c, idx);
	h->len = j->in_len;
	h->stream = ch->stream;
	h->seq = ch->seq;
	dwcp_client_set_prog(c, idx, prog, 1);
	while (dwcp_client_submit(c, &idx, 1) != 1)
		dwcp_client_wait(c, 1000000);
	__atomic_add_fetch(&sh->submitted, 1, __ATOMIC_RELEASE);
	for (;;) {
		while (dwcp_client_poll(c, &got, 1) != 1)
			dwcp_client_wait(c, 5000000);
		h = dwcp_client_hdr(c, got);
		if (h->seq == ch->seq)
			break;
		sh->dups++;
		dwcp_client_free(c, got);
	}
	j->status = h->status;
	j->out_len = h->len <= SLOT ? h->len : SLOT;
	memcpy(j->out, dwcp_client_data(c, got), j->out_len);
	dwcp_client_free(c, got);
}

static void client_main(const char *inst)
{
	struct dwcp_client c;
	struct dwcp_err err = { 0 };

	if (dwcp_client_open(&c, inst, NULL, "delta-test", "delta-test", &err)) {
		snprintf(sh->err, sizeof(sh->err), "open %s: %s", inst, err.msg);
		sh->failed = 1;
		return;
	}
	for (unsigned i = 0; i < sh->n; i++)
		run_one(&c, &sh->jobs[i], sh->op);
	sh->done = 1;
}

static void spin_us(unsigned us)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* Run every job through [svc-mem @p op] on node @p n. With @p kill_job
 * >= 0, kill -9 its svc-mem @p kill_us after the client submitted that
 * job (so it lands before, inside or after the step: a step takes some
 * tens of µs) and wait for the next generation. */
static void run_jobs_kill(const struct dwcp_test_node *n, unsigned op, int kill_job,
			  unsigned kill_us)
{
	uint64_t t0 = dwcp_test_now_ms();
	pid_t pid, mem = -1;
	double gen = -1;
	int st;

	if (kill_job >= 0) {
		cJSON *s = dwcp_test_status(n->instance, NULL);

		mem = s ? (pid_t)dwcp_test_svc_num(s, "svc-mem", "pid") : -1;
		gen = s ? dwcp_test_svc_num(s, "svc-mem", "generation") : -1;
		cJSON_Delete(s);
		DWCP_NODE_ASSERT(n->instance, mem > 0 && gen >= 0, "no svc-mem in status");
	}
	sh->op = op;
	sh->done = sh->failed = 0;
	sh->submitted = 0;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		client_main(n->instance);
		_exit(0);
	}
	if (mem > 0) {
		/* Busy: the kill must follow the submit within microseconds. */
		while (__atomic_load_n(&sh->submitted, __ATOMIC_ACQUIRE) <= (unsigned)kill_job &&
		       waitpid(pid, &st, WNOHANG) == 0 && dwcp_test_now_ms() - t0 < CLIENT_MS)
			;
		spin_us(kill_us);
		cr_assert_eq(kill(mem, SIGKILL), 0);
	}
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (dwcp_test_now_ms() - t0 > CLIENT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			dwcp_test_dump(n->instance, "client hung");
			cr_assert_fail("client on %s did not finish within %u ms", n->instance, CLIENT_MS);
		}
		dwcp_test_sleep_ms(1);
	}
	if (kill_job >= 0)
		DWCP_NODE_ASSERT(n->instance, dwcp_test_wait_service_up(n->instance, "svc-mem", gen + 1,
									 UP_MS) > 0,
				 "svc-mem did not come back");
	cr_assert(!sh->failed, "client failed: %s", sh->err);
	cr_assert(sh->done, "client died (wait status %d)", st);
}

static void run_jobs(const struct dwcp_test_node *n, unsigned op)
{
	run_jobs_kill(n, op, -1, 0);
}

/* ---- checks ------------------------------------------------------------- */

static void dump_job(unsigned i)
{
	const struct dwcp_chunk_hdr *c = out_hdr(i);

	fprintf(stderr, "job %u: status %u out_len %u; chunk stream %llu seq %llu offset %llu "
		"flags 0x%x codec %u orig %u body %u inner %u base_hash %016llx\n", i,
		sh->jobs[i].status, sh->jobs[i].out_len, (unsigned long long)c->stream,
		(unsigned long long)c->seq, (unsigned long long)c->offset, c->flags, c->codec,
		c->orig_len, c->body_len, c->inner_len, (unsigned long long)c->base_hash);
}

#define JOB_ASSERT(i, cond, ...)                         \
	do {                                             \
		if (!(cond)) {                           \
			dump_job(i);                     \
			cr_assert_fail(__VA_ARGS__);     \
		}                                        \
	} while (0)

/* After DELTA: every job OK, a delta chunk. @return the body bytes. */
static uint64_t check_deltas(void)
{
	uint64_t body = 0;

	for (unsigned i = 0; i < sh->n; i++) {
		const struct dwcp_chunk_hdr *c = out_hdr(i);

		JOB_ASSERT(i, sh->jobs[i].status == DWCP_BUF_OK, "DELTA job %u: status %u", i,
			   sh->jobs[i].status);
		JOB_ASSERT(i, c->flags & DWCP_CHUNK_F_DELTA && c->body_len == c->inner_len &&
			   sh->jobs[i].out_len == DWCP_CHUNK_HDR_LEN + c->body_len &&
			   c->body_len <= DWCP_HDE_BOUND(c->orig_len),
			   "DELTA job %u: not a delta chunk", i);
		body += c->body_len;
	}
	return body;
}

/* After UNDELTA: every job OK and version @p v's data, bit for bit. */
static void check_data(unsigned v)
{
	static uint8_t want[16 * PG];

	for (unsigned i = 0; i < sh->n; i++) {
		const struct dwcp_chunk_hdr *c = out_hdr(i);
		uint32_t len = make_data(v, i, want);

		JOB_ASSERT(i, sh->jobs[i].status == DWCP_BUF_OK, "UNDELTA job %u (v%u): status %u", i,
			   v, sh->jobs[i].status);
		JOB_ASSERT(i, !(c->flags & DWCP_CHUNK_F_DELTA) && !c->base_hash && c->orig_len == len &&
			   c->body_len == len && c->inner_len == len &&
			   sh->jobs[i].out_len == DWCP_CHUNK_HDR_LEN + len,
			   "UNDELTA job %u (v%u): header", i, v);
		JOB_ASSERT(i, !memcmp(dwcp_chunk_body((struct dwcp_chunk_hdr *)c), want, len),
			   "UNDELTA job %u (v%u): data differs", i, v);
	}
}

static uint64_t data_bytes(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < N_CHUNKS; i++)
		n += chunk_len(i);
	return n;
}

/* Send version @p v from A to B; @return the delta body bytes. */
static uint64_t send_version(unsigned v)
{
	uint64_t body;

	prepare_raw(v);
	run_jobs(&node_a, DWCP_OP_DELTA);
	body = check_deltas();
	outputs_to_inputs();
	run_jobs(&node_b, DWCP_OP_UNDELTA);
	check_data(v);
	return body;
}

static void kill_mem(const struct dwcp_test_node *n)
{
	cJSON *st = dwcp_test_status(n->instance, NULL);
	pid_t pid = st ? (pid_t)dwcp_test_svc_num(st, "svc-mem", "pid") : -1;
	double gen = st ? dwcp_test_svc_num(st, "svc-mem", "generation") : -1;

	cJSON_Delete(st);
	DWCP_NODE_ASSERT(n->instance, pid > 0 && gen >= 0, "no svc-mem pid/generation in status");
	cr_assert_eq(kill(pid, SIGKILL), 0);
	DWCP_NODE_ASSERT(n->instance, dwcp_test_wait_service_up(n->instance, "svc-mem", gen + 1,
								 UP_MS) > 0,
			 "svc-mem did not come back");
}

/* `dwcpctl restart svc-mem`: drain, clean exit, next generation. */
static void restart_mem(const struct dwcp_test_node *n)
{
	char ctl[512], out[2048] = "", err[2048] = "";
	cJSON *st = dwcp_test_status(n->instance, NULL);
	pid_t pid = st ? (pid_t)dwcp_test_svc_num(st, "svc-mem", "pid") : -1;
	double gen = st ? dwcp_test_svc_num(st, "svc-mem", "generation") : -1;
	int rc;

	cJSON_Delete(st);
	DWCP_NODE_ASSERT(n->instance, pid > 0 && gen >= 0, "no svc-mem pid/generation in status");
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", (char *)n->instance, "restart",
					    "svc-mem", NULL },
			   out, sizeof(out), err, sizeof(err), 30000);
	DWCP_NODE_ASSERT(n->instance, rc == 0, "dwcpctl restart: exit %d: %s%s", rc, out, err);
	DWCP_NODE_ASSERT(n->instance, dwcp_test_wait_service_up(n->instance, "svc-mem", gen + 1,
								 UP_MS) > 0,
			 "svc-mem did not come back");
	DWCP_NODE_ASSERT(n->instance, dwcp_test_wait_exited(pid, UP_MS), "old svc-mem still runs");
}

/* True when @p n's supervisor log has a line with both @p a and @p b
 * (the services log there); the line is printed. */
static bool log_has(const struct dwcp_test_node *n, const char *a, const char *b)
{
	char path[512], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/supervisor.log", n->inst_dir);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, a) && strstr(line, b);
	fclose(f);
	if (found)
		fprintf(stderr, "%s: %s", n->instance, line);
	return found;
}

/* ---- tests -------------------------------------------------------------- */

Test(delta, versions_round_trip_and_caches_survive_svc_mem_kills, .fini = teardown,
     .timeout = 300)
{
	uint64_t data = data_bytes(), b1, b2, b3, b4, b5;

	start(&node_a, "delta-a", "mem.delta_cache_mb = 16");
	start(&node_b, "delta-b", "mem.delta_cache_mb = 16");
	b1 = send_version(1);
	/* No bases yet: the body is the data, less the zero pages. */
	cr_expect_gt(b1, data / 2, "v1 delta %llu of %llu bytes", (unsigned long long)b1,
		     (unsigned long long)data);
	b2 = send_version(2);
	cr_expect_lt(b2, data / 50, "v2 (few bytes changed) delta %llu of %llu bytes",
		     (unsigned long long)b2, (unsigned long long)data);
	kill_mem(&node_b);
	b3 = send_version(3);
	cr_expect_lt(b3, data / 50, "v3 after a receiver restart: %llu bytes", (unsigned long long)b3);
	kill_mem(&node_a);
	b4 = send_version(4);
	cr_expect_lt(b4, data / 50, "v4 after a sender restart: %llu bytes", (unsigned long long)b4);
	/* An unchanged version costs a record per page. */
	cr_expect_lt(send_version(4), 1 + 10 * N_CHUNKS * 16, "unchanged version");
	/* A planned restart (SIGTERM, a clean exit) keeps it too, and the
	 * exiting process logs its cache figures. */
	restart_mem(&node_a);
	b5 = send_version(5);
	cr_expect_lt(b5, data / 50, "v5 after a planned sender restart: %llu bytes",
		     (unsigned long long)b5);
	cr_expect(log_has(&node_b, "delta cache:", "kept"),
		  "the restarted svc-mem did not report a kept cache");
	cr_expect(log_has(&node_a, "delta cache:", "hits"),
		  "svc-mem did not log its cache figures at exit");
	fprintf(stderr, "delta: %llu data bytes per version; bodies v1 %llu, v2 %llu, v3 %llu, "
		"v4 %llu, v5 %llu\n", (unsigned long long)data, (unsigned long long)b1,
		(unsigned long long)b2, (unsigned long long)b3, (unsigned long long)b4,
		(unsigned long long)b5);
	cr_expect_eq(dwcp_test_wait_pool_full(node_a.instance, 30000), 128, "A: buffers leaked");
	cr_expect_eq(dwcp_test_wait_pool_full(node_b.instance, 30000), 128, "B: buffers leaked");
}

Test(delta, empty_receiver_cache_answers_ebase_and_a_raw_resend_resyncs, .fini = teardown,
     .timeout = 300)
{
	start(&node_a, "delta-ea", "mem.delta_cache_mb = 16");
	start(&node_b, "delta-eb", "mem.delta_cache_mb = 16");
	/* A sends v1 somewhere else; B never sees it. */
	prepare_raw(1);
	run_jobs(&node_a, DWCP_OP_DELTA);
	check_deltas();
	/* v2 from A to B: every chunk names bases B does not hold. */
	prepare_raw(2);
	run_jobs(&node_a, DWCP_OP_DELTA);
	check_deltas();
	outputs_to_inputs();
	run_jobs(&node_b, DWCP_OP_UNDELTA);
	for (unsigned i = 0; i < sh->n; i++) {
		JOB_ASSERT(i, sh->jobs[i].status == DWCP_BUF_EBASE, "job %u: status %u, want EBASE", i,
			   sh->jobs[i].status);
		JOB_ASSERT(i, sh->jobs[i].out_len == sh->jobs[i].in_len &&
			   !memcmp(sh->jobs[i].out, sh->jobs[i].in, sh->jobs[i].in_len),
			   "job %u: an EBASE chunk came back modified", i);
	}
	/* The sender resends v2 raw: B passes it on and remembers it. */
	prepare_raw(2);
	run_jobs(&node_b, DWCP_OP_UNDELTA);
	check_data(2);
	for (unsigned i = 0; i < sh->n; i++)
		JOB_ASSERT(i, !memcmp(sh->jobs[i].out, sh->jobs[i].in, sh->jobs[i].in_len),
			   "job %u: a raw chunk came back modified", i);
	/* Back in step: v3 decodes, and is small. */
	cr_expect_lt(send_version(3), data_bytes() / 50);
}

/* Kinds of the records of job i's delta body (parsed here). */
static unsigned kinds_with_base(unsigned i)
{
	const struct dwcp_chunk_hdr *c = out_hdr(i);
	struct dwcp_hde_rec r[DWCP_HDE_MAX_PAGES];
	int n = dwcp_hde_parse((const uint8_t *)c + DWCP_CHUNK_HDR_LEN, c->body_len, c->orig_len, r);
	unsigned k = 0;

	JOB_ASSERT(i, n >= 0, "job %u: body does not parse", i);
	for (int p = 0; p < n; p++)
		k += r[p].kind == DWCP_HDE_SAME || r[p].kind == DWCP_HDE_XOR;
	return k;
}

Test(delta, without_a_cache_only_zero_and_raw_records_and_ebase_for_the_rest, .fini = teardown,
     .timeout = 300)
{
	start(&node_a, "delta-na", "mem.delta_cache_mb = 16");
	start(&node_b, "delta-nb", "mem.delta_cache_mb = 0");
	/* B has no cache: its own DELTA of the same version twice never
	 * finds a base. */
	for (int round = 0; round < 2; round++) {
		prepare_raw(1);
		run_jobs(&node_b, DWCP_OP_DELTA);
		check_deltas();
		for (unsigned i = 0; i < sh->n; i++)
			JOB_ASSERT(i, kinds_with_base(i) == 0 && out_hdr(i)->base_hash == 0,
				   "job %u: a base record without a cache", i);
	}
	/* A's v1 (no bases yet) decodes on B; v2 (bases) is EBASE. */
	send_version(1);
	prepare_raw(2);
	run_jobs(&node_a, DWCP_OP_DELTA);
	check_deltas();
	outputs_to_inputs();
	run_jobs(&node_b, DWCP_OP_UNDELTA);
	for (unsigned i = 0; i < sh->n; i++)
		JOB_ASSERT(i, sh->jobs[i].status == (kinds_with_base(i) ? DWCP_BUF_EBASE : DWCP_BUF_OK),
			   "job %u: status %u", i, sh->jobs[i].status);
}

Test(delta, chunks_delta_cannot_take_fail_ebadchunk_untouched, .fini = teardown,
     .timeout = 120)
{
	start(&node_a, "delta-bad", "mem.delta_cache_mb = 16");
	prepare_raw(1);
	sh->n = 5;
	((struct dwcp_chunk_hdr *)sh->jobs[0].in)->offset += 512;            /* misaligned */
	((struct dwcp_chunk_hdr *)sh->jobs[1].in)->flags |= DWCP_CHUNK_F_SEALED;
	((struct dwcp_chunk_hdr *)sh->jobs[2].in)->codec = 1;                  /* compressed */
	((struct dwcp_chunk_hdr *)sh->jobs[3].in)->flags |= DWCP_CHUNK_F_DELTA; /* DELTA twice */
	((struct dwcp_chunk_hdr *)sh->jobs[3].in)->base_hash = 1;
	((struct dwcp_chunk_hdr *)sh->jobs[4].in)->magic ^= 1;                 /* not a chunk */
	{
		/* More data than HDE takes (256 KiB), though it fits the buffer. */
		struct dwcp_chunk_hdr *c = (struct dwcp_chunk_hdr *)sh->jobs[5].in;
		const uint32_t big = DWCP_HDE_MAX_DATA + 3000;

		cr_assert_leq(DWCP_CHUNK_HDR_LEN + big, BUF_SIZE);
		memset(dwcp_chunk_body(c), 0x3c, big);
		dwcp_chunk_init(c, STREAM, 5, 0, big);
		sh->jobs[5].in_len = DWCP_CHUNK_HDR_LEN + big;
		sh->n = 6;
	}
	run_jobs(&node_a, DWCP_OP_DELTA);
	for (unsigned i = 0; i < sh->n; i++) {
		JOB_ASSERT(i, sh->jobs[i].status == DWCP_BUF_EBADCHUNK, "DELTA job %u: status %u", i,
			   sh->jobs[i].status);
		JOB_ASSERT(i, !memcmp(sh->jobs[i].out, sh->jobs[i].in, sh->jobs[i].in_len),
			   "DELTA job %u: input modified", i);
	}
	/* UNDELTA: the same, except that a raw chunk the cache cannot key
	 * (jobs 0 and 5) just passes, and job 3 is now a (corrupt) delta body. */
	run_jobs(&node_a, DWCP_OP_UNDELTA);
	for (unsigned i = 0; i < sh->n; i++) {
		unsigned want = i == 0 || i == 5 ? DWCP_BUF_OK : DWCP_BUF_EBADCHUNK;

		JOB_ASSERT(i, sh->jobs[i].status == want, "UNDELTA job %u: status %u, want %u", i,
			   sh->jobs[i].status, want);
		JOB_ASSERT(i, !memcmp(sh->jobs[i].out, sh->jobs[i].in, sh->jobs[i].in_len),
			   "UNDELTA job %u: input modified", i);
	}
	cr_expect_eq(dwcp_test_wait_pool_full(node_a.instance, 30000), 128, "buffers leaked");
}

/* A buffer too small for the records (8 KiB, a chunk that fills it):
 * DELTA sends the chunk raw instead, and still remembers it, so the next
 * DELTA of the same data is a small delta that fits. */
Test(delta, a_delta_that_does_not_fit_travels_raw_and_is_remembered, .fini = teardown,
     .timeout = 120)
{
	const uint32_t len = 8192 - DWCP_CHUNK_HDR_LEN;
	struct dwcp_chunk_hdr *c;

	start2(&node_a, "delta-fit", "mem.delta_cache_mb = 16", "pool.buf_size = 8192");
	for (int round = 0; round < 2; round++) {
		sh->n = 1;
		c = (struct dwcp_chunk_hdr *)sh->jobs[0].in;
		for (uint32_t i = 0; i < len; i++)     /* no zero page: no ZERO record */
			dwcp_chunk_body(c)[i] = (uint8_t)(i * 131 + 7);
		dwcp_chunk_init(c, STREAM, 1, 0, len);
		sh->jobs[0].in_len = DWCP_CHUNK_HDR_LEN + len;
		run_jobs(&node_a, DWCP_OP_DELTA);
		JOB_ASSERT(0, sh->jobs[0].status == DWCP_BUF_OK, "round %d: status %u", round,
			   sh->jobs[0].status);
		if (round == 0)
			JOB_ASSERT(0, sh->jobs[0].out_len == sh->jobs[0].in_len &&
				   !memcmp(sh->jobs[0].out, sh->jobs[0].in, sh->jobs[0].in_len),
				   "a delta that does not fit did not travel raw");
		else
			JOB_ASSERT(0, out_hdr(0)->flags & DWCP_CHUNK_F_DELTA &&
				   out_hdr(0)->body_len == 1 + 2 * DWCP_HDE_SAME_LEN,
				   "the raw chunk was not remembered");
	}
}

/* Kill svc-mem at random instants, on the sender during DELTA and on the
 * receiver during UNDELTA, version after version. A kill may cost an
 * EBASE (the redone step finds the cache already holding the new
 * version) and a raw resend, or a duplicate delivery; it never costs a
 * wrong byte, and after the resend the caches are in step again. */
Test(delta, svc_mem_killed_mid_step_never_yields_wrong_data, .fini = teardown, .timeout = 400)
{
	unsigned ebase = 0, rounds = 40;
	uint64_t seed = 0x5eed;

	start(&node_a, "delta-ka", "mem.delta_cache_mb = 16");
	start(&node_b, "delta-kb", "mem.delta_cache_mb = 16");
	send_version(1);
	for (unsigned v = 2; v < 2 + rounds; v++) {
		uint64_t r = (seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 24;
		int job = (int)(r % N_CHUNKS);
		unsigned us = (unsigned)(r >> 8) % 150;
		bool on_sender = v % 2;

		prepare_raw(v);
		run_jobs_kill(&node_a, DWCP_OP_DELTA, on_sender ? job : -1, us);
		check_deltas();
		outputs_to_inputs();
		run_jobs_kill(&node_b, DWCP_OP_UNDELTA, on_sender ? -1 : job, us);
		/* Resend raw what the receiver could not rebuild. */
		{
			static uint8_t want[16 * PG];
			bool resend[N_CHUNKS] = { false };
			unsigned k = 0;

			for (unsigned i = 0; i < N_CHUNKS; i++) {
				const struct dwcp_chunk_hdr *c = out_hdr(i);
				uint32_t len = make_data(v, i, want);

				if (sh->jobs[i].status == DWCP_BUF_EBASE) {
					resend[i] = true;
					ebase++;
					continue;
				}
				JOB_ASSERT(i, sh->jobs[i].status == DWCP_BUF_OK, "v%u job %u: status %u", v, i,
					   sh->jobs[i].status);
				JOB_ASSERT(i, c->orig_len == len && c->body_len == len &&
					   !memcmp(dwcp_chunk_body((struct dwcp_chunk_hdr *)c), want, len),
					   "v%u job %u: WRONG DATA after a kill", v, i);
			}
			prepare_raw(v);
			for (unsigned i = 0; i < N_CHUNKS; i++)
				if (resend[i])
					memmove(&sh->jobs[k++], &sh->jobs[i], sizeof(sh->jobs[0]));
			if (k) {
				sh->n = k;
				run_jobs(&node_b, DWCP_OP_UNDELTA);
				for (unsigned i = 0; i < k; i++)
					JOB_ASSERT(i, sh->jobs[i].status == DWCP_BUF_OK, "raw resend: status %u",
						   sh->jobs[i].status);
			}
		}
	}
	/* In step again: the next version decodes whole, and is small. */
	cr_expect_lt(send_version(2 + rounds), data_bytes() / 50);
	fprintf(stderr, "delta kill: %u rounds, %u EBASE answers resent raw, %u duplicates\n", rounds,
		ebase, sh->dups);
	cr_expect_eq(dwcp_test_wait_pool_full(node_a.instance, 30000), 128, "A: buffers leaked");
	cr_expect_eq(dwcp_test_wait_pool_full(node_b.instance, 30000), 128, "B: buffers leaked");
}
