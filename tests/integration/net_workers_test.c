/* svc-net as several workers ([net] workers; net_internal.h), seen as an
 * operator sees them: each worker is its own process with its own
 * connections to every peer; chunks of one transfer spread over the
 * sending node's workers; incoming connections spread over the receiving
 * node's workers by the kernel (SO_REUSEPORT), and every answer goes back
 * through the worker that received its chunk.
 *
 *  - workers = 2 on both nodes: a 256 MiB image arrives bit-identical,
 *    both of the sender's workers sent chunks, and each node's peer entry
 *    counts both workers' connections (2 x [net] connections);
 *  - kill -9 of one svc-net worker on each node in the middle of a
 *    transfer: the file still arrives bit-identical, the killed workers
 *    come back, the other worker of each node keeps its pid, and every
 *    pool buffer is free afterwards;
 *  - `dwcpctl upgrade svc-net` on both nodes mid-transfer upgrades both
 *    workers of each, and the file arrives bit-identical;
 *  - a sender holding another key gets nothing through either receiving
 *    worker: both commands fail naming authentication, no file appears;
 *  - a node whose [net] listen port another process already listens on
 *    does not start with two workers (they would share the port with
 *    that process silently), and says why.
 *
 * Timeouts are hang guards, never speed limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"
#include "tests/lib/xfer_assert.h"

#define MIB (1024ull * 1024ull)

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static struct dwcp_test_node solo;
static char dir[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_test_node_stop(&solo);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

/* A temporary dir with an image of @p mib MiB at @p src; @p out beside it. */
static void make_files(char src[128], char out[128], unsigned mib, uint64_t seed)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-netw-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, mib * MIB, seed), 0, "cannot write %s", src);
}

/* Two nodes of two svc-net workers each; B with a key of its own when
 * @p other_key (A cannot prove it holds B's). */
static void start_pair_keys(const char *tag, bool other_key)
{
	static const char *const extra[] = { "net.workers = 2", "simd.workers = 1", NULL };
	static char key[128], key_b[128];
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .hugepage_mb = 512, .extra = extra };
	int rc;

	snprintf(key, sizeof(key), "%s/shared.key", dir);
	snprintf(key_b, sizeof(key_b), "%s/other.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	cr_assert_eq(dwcp_xfer_keygen(key_b), 0, "dwcp keygen %s failed", key_b);
	c.key_a = key;
	c.key_b = other_key ? key_b : key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

static void start_pair(const char *tag)
{
	start_pair_keys(tag, false);
}

/* The connections of the only peer in @p direction ("out" or "in"). */
static double peer_connections(const char *inst, const char *direction)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	const cJSON *p;
	double v = -1;
	unsigned n = 0;

	cr_assert_not_null(st, "%s does not answer status", inst);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(st, "peers")) {
		if (strcmp(cJSON_GetObjectItemCaseSensitive(p, "direction")->valuestring, direction))
			continue;
		v = cJSON_GetObjectItemCaseSensitive(p, "connections")->valuedouble;
		n++;
	}
	cJSON_Delete(st);
	cr_assert_eq(n, 1u, "%s: %u %s peers in status", inst, n, direction);
	return v;
}

struct conns_want {
	const char *inst, *direction;
	double want;
};

static bool conns_are(void *arg)
{
	const struct conns_want *w = arg;

	return peer_connections(w->inst, w->direction) == w->want;
}

Test(net_workers, a_transfer_spreads_over_both_nodes_workers, .fini = teardown, .timeout = 600)
{
	char src[128], out[128];
	double ops0, ops1;
	struct conns_want out_a = { NULL, "out", 8 }, in_b = { NULL, "in", 8 };

	make_files(src, out, 256, 5);
	start_pair("nwspread");
	for (unsigned k = 0; k < 2; k++) {
		const char *inst = k ? pair.b.instance : pair.a.instance;
		cJSON *st = dwcp_test_status(inst, NULL);

		cr_assert_not_null(st, "%s does not answer status", inst);
		cr_expect_str_eq(dwcp_test_svc_str(st, "svc-net.1", "state"), "READY",
				 "%s: svc-net.1 is not READY", inst);
		cJSON_Delete(st);
	}
	xa_start_transfer(&pair, &snd, &rcv, "spread", src, out, NULL);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	ops0 = xa_num(pair.a.instance, "svc-net", "ops");
	ops1 = xa_num(pair.a.instance, "svc-net.1", "ops");
	fprintf(stderr, "net_workers: the sender's svc-net did %.0f steps, svc-net.1 %.0f; the receiver's %.0f and %.0f\n",
		ops0, ops1, xa_num(pair.b.instance, "svc-net", "ops"), xa_num(pair.b.instance, "svc-net.1", "ops"));
	cr_expect_gt(ops0, 0, "the sender's svc-net sent no chunk of 1024");
	cr_expect_gt(ops1, 0, "the sender's svc-net.1 sent no chunk of 1024");
	/* 4 connections per peer and worker ([net] connections), all of
	 * them past the handshake, counted once whichever receiving worker
	 * the kernel gave each to. */
	out_a.inst = pair.a.instance;
	in_b.inst = pair.b.instance;
	cr_expect(dwcp_test_wait_until(conns_are, &out_a, 30000), "the sender counts %.0f connections to B, not 8",
		  peer_connections(pair.a.instance, "out"));
	cr_expect(dwcp_test_wait_until(conns_are, &in_b, 30000), "the receiver counts %.0f connections from A, not 8",
		  peer_connections(pair.b.instance, "in"));
	/* ... and status says how they are spread over the workers. */
	for (unsigned k = 0; k < 2; k++) {
		const char *inst = k ? pair.b.instance : pair.a.instance;
		char *text = NULL;
		cJSON *st = dwcp_test_status(inst, &text);
		const cJSON *p, *w;
		double sum = 0;
		int n = 0;

		cr_assert_not_null(st, "%s does not answer status", inst);
		p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "peers"), 0);
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(p, "connections_by_worker")) {
			sum += w->valuedouble;
			n++;
		}
		cr_expect_eq(n, 2, "%s: connections_by_worker has %d entries", inst, n);
		cr_expect_eq(sum, 8, "%s: the workers' connections add up to %.0f", inst, sum);
		cJSON_Delete(st);
		free(text);
	}
	{
		char ctl[PATH_MAX], out[8192] = "", err[1024] = "";

		snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
		cr_assert_eq(dwcp_test_run((char *const[]){ ctl, "--instance", pair.a.instance, "status", NULL },
					   out, sizeof(out), err, sizeof(err), 30000), 0, "dwcpctl status: %s", err);
		cr_expect(strstr(out, "8 connections (4 + 4 over the svc-net workers)"), "status: %s", out);
	}
}

static bool progress_seen(void *arg)
{
	(void)arg;
	return xa_num(pair.a.instance, "svc-net.1", "ops") > 100;
}

Test(net_workers, a_worker_killed_mid_transfer_costs_only_a_retry, .fini = teardown, .timeout = 600)
{
	static const char *const zstd[] = { "--codec", "zstd", NULL };
	pid_t a1, b1, keep_a, keep_b;
	char src[128], out[128];

	make_files(src, out, 768, 13);
	start_pair("nwkill");
	a1 = (pid_t)xa_num(pair.a.instance, "svc-net.1", "pid");
	b1 = (pid_t)xa_num(pair.b.instance, "svc-net.1", "pid");
	keep_a = (pid_t)xa_num(pair.a.instance, "svc-net", "pid");
	keep_b = (pid_t)xa_num(pair.b.instance, "svc-net", "pid");
	xa_start_transfer(&pair, &snd, &rcv, "kill", src, out, zstd);
	cr_assert(dwcp_test_wait_until(progress_seen, NULL, 120000),
		  "the sender's svc-net.1 never started sending");
	cr_assert(dwcp_xfer_running(&snd), "the transfer ended before a worker could be killed: make the file larger");
	cr_assert_eq(kill(a1, SIGKILL), 0);
	cr_assert_eq(kill(b1, SIGKILL), 0);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-net.1", 1, 30000), 0);
	cr_assert_gt(dwcp_test_wait_service_up(pair.b.instance, "svc-net.1", 1, 30000), 0);
	cr_expect_geq(xa_num(pair.a.instance, "svc-net.1", "restarts"), 1);
	cr_expect_geq(xa_num(pair.b.instance, "svc-net.1", "restarts"), 1);
	cr_expect_eq((pid_t)xa_num(pair.a.instance, "svc-net", "pid"), keep_a, "the sender's svc-net restarted");
	cr_expect_eq((pid_t)xa_num(pair.b.instance, "svc-net", "pid"), keep_b, "the receiver's svc-net restarted");
	xa_expect_pools_full(&pair);
}

Test(net_workers, an_upgrade_mid_transfer_takes_each_worker_in_turn, .fini = teardown, .timeout = 600)
{
	static const char *const zstd[] = { "--codec", "zstd", NULL };
	char src[128], out[128], bin[PATH_MAX], ctl[PATH_MAX], text[4096] = "", err[1024] = "";
	int rc;

	make_files(src, out, 512, 17);
	start_pair("nwup");
	xa_start_transfer(&pair, &snd, &rcv, "up", src, out, zstd);
	cr_assert(dwcp_test_wait_until(progress_seen, NULL, 120000),
		  "the sender's svc-net.1 never started sending");
	snprintf(bin, sizeof(bin), "%s/svc-net", dwcp_test_bin_dir());
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	for (unsigned k = 0; k < 2; k++) {
		const char *inst = k ? pair.b.instance : pair.a.instance;

		rc = dwcp_test_run((char *const[]){ ctl, "--instance", (char *)inst, "upgrade", "svc-net",
						    "--binary", bin, NULL },
				   text, sizeof(text), err, sizeof(err), 120000);
		cr_assert_eq(rc, 0, "%s: dwcpctl upgrade svc-net: exit %d: %s %s", inst, rc, text, err);
	}
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	for (unsigned k = 0; k < 2; k++) {
		const char *inst = k ? pair.b.instance : pair.a.instance;

		cr_expect_eq(xa_num(inst, "svc-net", "upgrades"), 1, "%s: svc-net was not upgraded", inst);
		cr_expect_eq(xa_num(inst, "svc-net.1", "upgrades"), 1, "%s: svc-net.1 was not upgraded", inst);
	}
}

/* Whichever receiving worker the kernel gives a connection to, a sender
 * without the receiver's key gets nothing through. */
Test(net_workers, a_sender_with_another_key_is_refused_by_every_worker, .fini = teardown, .timeout = 300)
{
	char src[128], out[128];
	int rs, rr;

	make_files(src, out, 4, 29);
	start_pair_keys("nwkey", true);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "wkey", out, 20), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "wkey", src, pair.addr_b, 20, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 180000);
	rr = dwcp_xfer_wait(&rcv, 180000);
	cr_expect(rs != 0 && rs != -ETIMEDOUT, "dwcp send to a receiver with another key exited %d", rs);
	cr_expect(strstr(snd.err, "authentication"), "dwcp send's message does not say authentication: %s",
		  snd.err);
	cr_expect(rr != 0 && rr != -ETIMEDOUT, "dwcp recv exited %d", rr);
	cr_expect_eq(dwcp_xfer_file_size(out), -1, "a file appeared at --out %s", out);
	cr_expect_eq(xa_num(pair.b.instance, "svc-net", "ops") + xa_num(pair.b.instance, "svc-net.1", "ops"), 0,
		     "B's svc-net workers took chunks from a sender without its key");
	xa_expect_pools_full(&pair);
}

Test(net_workers, a_port_another_process_listens_on_is_refused, .fini = teardown, .timeout = 300)
{
	char listen[96], err[8192] = "";
	const char *cfg[] = { "net.workers = 2", listen, NULL };
	struct dwcp_xfer_pair_cfg c = { .tag = "nwport", .no_b = true };

	/* Node A of a pair listens on its port; a second node is given it too. */
	cr_assert_eq(dwcp_xfer_pair_start(&pair, &c), 0, "node A did not start");
	snprintf(listen, sizeof(listen), "net.listen = 127.0.0.1:%d", pair.port_a);
	cr_expect_neq(dwcp_test_node_start_err(&solo, "nwport2", cfg, err, sizeof(err)), 0,
		      "a node started on a port another node listens on, its two svc-net workers sharing it");
	cr_expect(strstr(err, "is in use by another process") && strstr(err, "another port"),
		  "start does not say why: %s", err);
	cr_expect_gt(xa_num(pair.a.instance, "svc-net", "pid"), 0, "node A lost its svc-net");
}
