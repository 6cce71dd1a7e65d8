/* The chunk transforms of svc-simd on a real node: what a sender's
 * program does to a chunk (zstd, seal, checksum) and what a receiver's
 * undoes (verify, open, decompress) must give back every byte; a chunk
 * tampered with in between is caught by its checksum, and one whose
 * checksum was fixed up by the tamperer is caught by authentication; with
 * no key configured sealing fails with ENOKEY; and with svc-simd killed
 * again and again mid-pipeline every chunk still comes back intact and no
 * buffer leaks.
 *
 * A forked child is the client (a process attaches as a DPDK secondary
 * once); it reports through a MAP_SHARED block. Timeouts are hang guards.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/keyfile.h"
#include "common/timeutil.h"
#include "ipc/chunk.h"
#include "ipc/client.h"
#include "tests/lib/node.h"

#define MAX_DATA   65536u
#define WINDOW     64u
#define STREAM     0xc4u

struct result {
	int done, failed;
	char err[DWCP_ERR_MSG_MAX + 16];
	uint64_t delivered, distinct, wrong, bad_status, duplicates;
	uint16_t first_status;
	uint32_t sealed_equal_plain;   /* sealed bodies that still showed the plaintext */
	uint8_t seen[32768];
};

static struct dwcp_test_node node;
static struct result *res;
static char keypath[128];

static void teardown(void)
{
	dwcp_test_node_stop(&node);
	if (keypath[0])
		unlink(keypath);
	if (res)
		munmap(res, sizeof(*res));
	res = NULL;
}

/* Chunk seq's data: zero pages, text, random, in turns; some short. */
static uint32_t make_data(uint64_t seq, uint8_t *d)
{
	uint32_t len = seq % 7 == 0 ? (uint32_t)(seq * 977 % MAX_DATA) : MAX_DATA;
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;

	for (uint32_t i = 0; i < len; i++) {
		switch ((i / 4096 + seq) % 3) {
		case 0: d[i] = 0; break;
		case 1: d[i] = (uint8_t)"dwcp moves VM memory between hosts. "[i % 36]; break;
		default: x ^= x << 13; x ^= x >> 7; x ^= x << 17; d[i] = (uint8_t)x; break;
		}
	}
	return len;
}

static uint32_t fill(struct dwcp_client *c, uint32_t idx, uint64_t seq, const uint16_t *prog,
		     unsigned n)
{
	struct dwcp_chunk_hdr *ch = dwcp_client_data(c, idx);
	uint32_t len = make_data(seq, dwcp_chunk_body(ch));

	dwcp_chunk_init(ch, STREAM, seq, seq * 65536, len);
	dwcp_client_set_prog(c, idx, prog, n);
	dwcp_client_hdr(c, idx)->len = DWCP_CHUNK_HDR_LEN + len;
	dwcp_client_hdr(c, idx)->seq = seq;
	return len;
}

static void check_back(struct dwcp_client *c, uint32_t idx, uint8_t *scratch)
{
	const struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx);
	struct dwcp_chunk_hdr *ch = dwcp_client_data(c, idx);
	uint64_t seq = h->seq;
	uint32_t len;

	res->delivered++;
	if (h->status != DWCP_BUF_OK) {
		if (!res->bad_status++)
			res->first_status = h->status;
		return;
	}
	len = make_data(seq, scratch);
	if (seq >= sizeof(res->seen) || ch->seq != seq || ch->flags & DWCP_CHUNK_F_SEALED ||
	    ch->codec || ch->body_len != len || memcmp(dwcp_chunk_body(ch), scratch, len)) {
		res->wrong++;
		return;
	}
	if (res->seen[seq]++)
		res->duplicates++;
	else
		res->distinct++;
}

/* Push n chunks through @prog with WINDOW in flight; check each. */
static void client_roundtrip(const char *inst, const uint16_t *prog, unsigned nprog, uint64_t n)
{
	struct dwcp_client c;
	struct dwcp_err err = { 0 };
	uint8_t *scratch = malloc(MAX_DATA);
	uint32_t idx[WINDOW], got[32];
	uint64_t next = 0, inflight = 0;

	if (!scratch || dwcp_client_open(&c, inst, NULL, "chunk-test", "chunk-test", &err)) {
		snprintf(res->err, sizeof(res->err), "open: %s", err.msg);
		res->failed = 1;
		return;
	}
	while (res->distinct + res->wrong + res->bad_status < n) {
		unsigned k = 0, m;

		while (next < n && inflight + k < WINDOW && dwcp_client_alloc(&c, &idx[k], 1) == 1)
			fill(&c, idx[k++], next++, prog, nprog);
		for (unsigned i = 0; i < k;)
			i += dwcp_client_submit(&c, idx + i, k - i);
		inflight += k;
		m = dwcp_client_poll(&c, got, 32);
		if (!m) {
			dwcp_client_wait(&c, 5000000);
			continue;
		}
		for (unsigned i = 0; i < m; i++) {
			check_back(&c, got[i], scratch);
			dwcp_client_free(&c, got[i]);
		}
		/* A duplicate after a crash comes back too, so clamp. A lost
		 * chunk is never re-asked for: the hang guard fails the test. */
		inflight -= m < inflight ? m : inflight;
	}
	free(scratch);
	res->done = 1;
}

/* Seal a chunk, tamper with it, and try to open it: the results go in res. */
static void client_tamper(const char *inst)
{
	const uint16_t seal[] = { dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_LZ4),
				  dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_SEAL),
				  dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_CHECKSUM) };
	const uint16_t open[] = { dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_VERIFY),
				  dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_OPEN),
				  dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_DECOMPRESS) };
	struct dwcp_client c;
	struct dwcp_err err = { 0 };
	uint32_t idx, got;
	struct dwcp_chunk_hdr *ch;
	uint8_t *plain = malloc(MAX_DATA);

	if (!plain || dwcp_client_open(&c, inst, NULL, "tamper", "tamper", &err) ||
	    dwcp_client_alloc(&c, &idx, 1) != 1) {
		snprintf(res->err, sizeof(res->err), "open: %s", err.msg);
		res->failed = 1;
		return;
	}
	for (int round = 0; round < 3; round++) {
		if (round == 0) {
			fill(&c, idx, 1, seal, 3);
		} else {
			dwcp_client_set_prog(&c, idx, open, 3);
		}
		while (dwcp_client_submit(&c, &idx, 1) != 1)
			;
		while (dwcp_client_poll(&c, &got, 1) != 1)
			dwcp_client_wait(&c, 5000000);
		idx = got;
		ch = dwcp_client_data(&c, idx);
		if (round == 0) {
			uint32_t len = make_data(1, plain);

			res->sealed_equal_plain = ch->body_len == len &&
						  !memcmp(dwcp_chunk_body(ch), plain, len);
			dwcp_chunk_body(ch)[ch->body_len / 2] ^= 0x40;   /* on the wire */
		} else if (round == 1) {
			res->first_status = dwcp_client_hdr(&c, idx)->status;   /* expect EBADCRC */
			dwcp_client_hdr(&c, idx)->status = DWCP_BUF_OK;
			ch->crc = dwcp_chunk_crc(ch);                          /* a clever tamperer */
		} else {
			res->bad_status = dwcp_client_hdr(&c, idx)->status;    /* expect EAUTH */
		}
	}
	free(plain);
	res->done = 1;
}

static pid_t fork_client(void (*fn)(const char *), const char *inst)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn(inst);
		_exit(0);
	}
	return pid;
}

static const char *g_inst;
static const uint16_t *g_prog;
static unsigned g_nprog;
static uint64_t g_n;

static void roundtrip_main(const char *inst)
{
	client_roundtrip(inst, g_prog, g_nprog, g_n);
}

static void start_node(const char *test, bool with_key)
{
	char kv[200];
	const char *ovr[] = { "pool.buf_size = 69632", "pool.buffers = 512", "supervisor.hugepage_mb = 256",
			      with_key ? kv : NULL, NULL };
	struct dwcp_err err = { 0 };

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(res != MAP_FAILED);
	memset(res, 0, sizeof(*res));
	if (with_key) {
		snprintf(keypath, sizeof(keypath), "/tmp/dwcp-chunk-key-%d", (int)getpid());
		unlink(keypath);
		cr_assert_eq(dwcp_keyfile_write(keypath, &err), 0, "keygen: %s", err.msg);
		snprintf(kv, sizeof(kv), "crypto.key_file = %s", keypath);
	}
	cr_assert_eq(dwcp_test_node_start(&node, test, ovr), 0, "node did not start");
	g_inst = node.instance;
}

static void wait_client(pid_t pid, unsigned timeout_ms)
{
	uint64_t t0 = dwcp_test_now_ms();
	int st;

	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (dwcp_test_now_ms() - t0 > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			dwcp_test_dump(node.instance, "client hung");
			cr_assert_fail("client did not finish within %u ms: delivered %llu distinct %llu",
				timeout_ms, (unsigned long long)res->delivered,
				(unsigned long long)res->distinct);
		}
		dwcp_test_sleep_ms(20);
	}
	cr_assert(!res->failed, "client failed: %s", res->err);
	cr_assert(res->done, "client died (wait status %d)", st);
}

static const uint16_t full_prog[] = {
	DWCP_PROG_STEP(DWCP_SLOT_SIMD, DWCP_OP_ZSTD), DWCP_PROG_STEP(DWCP_SLOT_SIMD, DWCP_OP_SEAL),
	DWCP_PROG_STEP(DWCP_SLOT_SIMD, DWCP_OP_CHECKSUM), DWCP_PROG_STEP(DWCP_SLOT_SIMD, DWCP_OP_VERIFY),
	DWCP_PROG_STEP(DWCP_SLOT_SIMD, DWCP_OP_OPEN), DWCP_PROG_STEP(DWCP_SLOT_SIMD, DWCP_OP_DECOMPRESS),
};

Test(chunk, sender_and_receiver_steps_give_back_every_byte, .fini = teardown, .timeout = 300)
{
	start_node("chunk-rt", true);
	g_prog = full_prog;
	g_nprog = 6;
	g_n = 2000;
	wait_client(fork_client(roundtrip_main, node.instance), 240000);
	cr_expect_eq(res->wrong, 0, "%llu chunks came back different", (unsigned long long)res->wrong);
	cr_expect_eq(res->bad_status, 0, "%llu chunks failed, first status %u",
		     (unsigned long long)res->bad_status, res->first_status);
	cr_expect_eq(res->distinct, g_n);
	cr_expect_eq(res->duplicates, 0, "no crash, so no duplicate");
	cr_expect_eq(dwcp_test_wait_pool_full(node.instance, 30000), 512, "buffers leaked");
}

Test(chunk, tampered_chunk_fails_checksum_then_authentication, .fini = teardown, .timeout = 120)
{
	start_node("chunk-tamper", true);
	wait_client(fork_client(client_tamper, node.instance), 60000);
	cr_expect_eq(res->sealed_equal_plain, 0, "the sealed body is the plaintext");
	cr_expect_eq(res->first_status, DWCP_BUF_EBADCRC, "tampered chunk: status %u", res->first_status);
	cr_expect_eq(res->bad_status, DWCP_BUF_EAUTH, "re-checksummed tampered chunk: status %llu",
		     (unsigned long long)res->bad_status);
	cr_expect_eq(dwcp_test_wait_pool_full(node.instance, 30000), 512, "buffers leaked");
}

Test(chunk, sealing_without_a_key_fails_enokey, .fini = teardown, .timeout = 120)
{
	start_node("chunk-nokey", false);
	g_prog = full_prog;
	g_nprog = 6;
	g_n = 10;
	wait_client(fork_client(roundtrip_main, node.instance), 60000);
	cr_expect_eq(res->bad_status, 10, "every chunk fails: %llu", (unsigned long long)res->bad_status);
	cr_expect_eq(res->first_status, DWCP_BUF_ENOKEY, "status %u", res->first_status);
}

Test(chunk, simd_killed_mid_pipeline_every_chunk_comes_back_intact, .fini = teardown, .timeout = 400)
{
	cJSON *st;
	pid_t client;
	unsigned kills = 0;

	start_node("chunk-kill", true);
	g_prog = full_prog;
	g_nprog = 6;
	g_n = 30000;
	client = fork_client(roundtrip_main, node.instance);
	for (unsigned i = 0; i < 10 && !res->done; i++) {
		pid_t simd;

		dwcp_test_sleep_ms(50 + (unsigned)(rand() % 200));
		st = dwcp_test_status(node.instance, NULL);
		simd = st ? (pid_t)dwcp_test_svc_num(st, "svc-simd", "pid") : 0;
		cJSON_Delete(st);
		if (simd > 0 && !res->done && kill(simd, SIGKILL) == 0)
			kills++;
		cr_assert(dwcp_test_wait_service_up(node.instance, "svc-simd", kills, 60000) > 0);
	}
	wait_client(client, 300000);
	fprintf(stderr, "chunk kill: %u kills, %llu duplicates (end-to-end dedup absorbs them)\n",
		kills, (unsigned long long)res->duplicates);
	cr_expect_geq(kills, 5, "only %u kills landed while chunks were in flight", kills);
	cr_expect_eq(res->wrong, 0, "%llu chunks came back different", (unsigned long long)res->wrong);
	cr_expect_eq(res->bad_status, 0, "first status %u", res->first_status);
	cr_expect_eq(res->distinct, g_n);
	cr_expect_eq(dwcp_test_wait_pool_full(node.instance, 30000), 512, "buffers leaked");
}
