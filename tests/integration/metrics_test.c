/* svc-prof's Prometheus endpoint on real nodes: what a scraper gets is
 * valid exposition format (promtool, Prometheus's own checker, says so),
 * it agrees with `dwcpctl status` for the same node after a transfer and
 * after a service was killed and restarted, bad requests get errors and
 * idle connections are bounded, and a node that cannot have its address
 * says why instead of crash-looping.
 *
 * Both nodes of a pair are given the same [prof] listen on purpose: one
 * serves (dwcp_node_info names which), the other's svc-prof must be
 * STANDBY with the reason.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define BODY_MAX (1u << 20)

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64], *body;
static int prof_port;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-metrics-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	body = malloc(BODY_MAX);
	cr_assert_not_null(body);
}

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_rmdir(dir);
	free(body);
}

static int connect_prof(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)prof_port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Everything the server sends until it closes (10 s hang guard), into body. */
static size_t read_all(int fd)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 10000) != 1 || n + 1 >= BODY_MAX)
			break;
		r = read(fd, body + n, BODY_MAX - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	body[n] = '\0';
	return n;
}

/* One HTTP/1.0 request; the status code, with the body (headers cut) in body. */
static int http(const char *method, const char *path)
{
	char req[256];
	int fd = connect_prof(), code = -1;
	char *b;

	cr_assert_geq(fd, 0, "connect 127.0.0.1:%d: %s", prof_port, strerror(errno));
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_all(fd);
	close(fd);
	sscanf(body, "HTTP/1.%*d %d", &code);
	b = strstr(body, "\r\n\r\n");
	if (b)
		memmove(body, b + 4, strlen(b + 4) + 1);
	return code;
}

/* The value of the sample "NAME{...slot="SLOT"...}" or "NAME" (slot < 0). */
static double sample(const char *text, const char *name, int slot)
{
	char key[160], slot_l[32];
	size_t kl;

	snprintf(key, sizeof(key), "\n%s%s", name, slot < 0 ? " " : "{");
	snprintf(slot_l, sizeof(slot_l), "slot=\"%d\"", slot);
	kl = strlen(key);
	for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
		const char *eol = strchr(p + 1, '\n'), *sp;

		if (slot >= 0) {
			const char *close_b = strchr(p + kl, '}');
			const char *s = strstr(p + kl, slot_l);

			if (!close_b || !s || s > close_b || (eol && close_b > eol))
				continue;
			sp = close_b + 1;
		} else {
			sp = p + kl - 1;
		}
		return strtod(sp, NULL);
	}
	return NAN;
}

/* A free port after the three the pair takes (dwcp_xfer_ports is
 * deterministic per process). */
static void pick_port(void)
{
	int ports[4];

	dwcp_xfer_ports(ports, 4);
	prof_port = ports[3];
}

static void scrape(void)
{
	cr_assert_eq(http("GET", "/metrics"), 200, "GET /metrics: %.300s", body);
	/* sample() looks for "\nNAME": the first line has one too. */
	memmove(body + 1, body, strlen(body) + 1);
	body[0] = '\n';
}

/* promtool check metrics on what was scraped; skipped without promtool. */
static void promtool_accepts(void)
{
	char path[128], out[4096];
	FILE *f;
	int rc;

	if (dwcp_xfer_sh(NULL, 0, "command -v promtool") != 0) {
		fprintf(stderr, "skipped: no promtool (apt-get install prometheus): format not checked\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/metrics.txt", dir);
	f = fopen(path, "we");
	cr_assert_not_null(f);
	fputs(body + 1, f);
	fclose(f);
	rc = dwcp_xfer_sh(out, sizeof(out), "promtool check metrics < %s", path);
	cr_expect_eq(rc, 0, "promtool check metrics: %s", out);
}

/* Which of the pair answered: the instance in dwcp_node_info. */
static const struct dwcp_test_node *answering_node(void)
{
	char inst[64] = "";
	const char *p = strstr(body, "dwcp_node_info{instance=\"");

	cr_assert_not_null(p, "no dwcp_node_info");
	sscanf(p + strlen("dwcp_node_info{instance=\""), "%63[^\"]", inst);
	if (!strcmp(inst, pair.a.instance))
		return &pair.a;
	cr_assert_str_eq(inst, pair.b.instance, "metrics of an unknown node");
	return &pair.b;
}

/* Every peer in status has the same figures in the metrics. */
static void agree_on_peers(const cJSON *st)
{
	static const char *const pairs[][2] = {
		{ "connections", "dwcp_peer_connections" },
		{ "connects", "dwcp_peer_connects_total" },
		{ "tx_bytes", "dwcp_peer_sent_bytes_total" },
		{ "rx_bytes", "dwcp_peer_received_bytes_total" },
		{ "chunks_sent", "dwcp_peer_chunks_sent_total" },
		{ "chunks_resent", "dwcp_peer_chunks_resent_total" },
		{ "chunks_received", "dwcp_peer_chunks_received_total" },
		{ "chunks_acked", "dwcp_peer_ack_wait_seconds_count" },
	};
	const cJSON *p;
	unsigned n = 0;

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(st, "peers")) {
		for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
			char line[300];

			snprintf(line, sizeof(line), "\n%s{peer=\"%s\",name=\"%s\",direction=\"%s\"} %.0f\n",
				 pairs[k][1], cJSON_GetObjectItemCaseSensitive(p, "addr")->valuestring,
				 cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring,
				 cJSON_GetObjectItemCaseSensitive(p, "direction")->valuestring,
				 cJSON_GetObjectItemCaseSensitive(p, pairs[k][0])->valuedouble);
			cr_expect_not_null(strstr(body, line), "status has%s", line);
		}
		n++;
	}
	cr_expect_geq(n, 1u, "no peer in status after a transfer");
}

/* For every service and worker in status: state, restarts and steps as
 * the metrics say; the pool too. Counters are compared when both were
 * read with nothing moving (no transfer running). */
static void agree_with_status(const char *instance)
{
	cJSON *st = dwcp_test_status(instance, NULL);
	const cJSON *s;
	unsigned n = 0;

	cr_assert_not_null(st, "no status from %s", instance);
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(st, "services")) {
		int slot = (int)cJSON_GetObjectItemCaseSensitive(s, "slot")->valuedouble;
		const char *name = cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring;
		const char *state = cJSON_GetObjectItemCaseSensitive(s, "state")->valuestring;
		char key[64];

		if (!strcmp(state, "EMPTY"))
			continue;
		n++;
		cr_expect_eq(sample(body, "dwcp_service_restarts_total", slot),
			     cJSON_GetObjectItemCaseSensitive(s, "restarts")->valuedouble,
			     "%s: restarts differ", name);
		cr_expect_eq(sample(body, "dwcp_service_steps_total", slot),
			     cJSON_GetObjectItemCaseSensitive(s, "ops")->valuedouble, "%s: steps differ", name);
		cr_expect_eq(sample(body, "dwcp_service_redelivered_total", slot),
			     cJSON_GetObjectItemCaseSensitive(s, "redelivered")->valuedouble,
			     "%s: redelivered differ", name);
		snprintf(key, sizeof(key), "state=\"%s\"} 1", state);
		char line[200];

		snprintf(line, sizeof(line), "slot=\"%d\",%s", slot, key);
		cr_expect_not_null(strstr(body, line), "%s: status says %s, metrics do not (%s)", name,
				   state, line);
	}
	cr_expect_geq(n, 6u, "only %u services in status", n);
	cr_expect_eq(sample(body, "dwcp_pool_buffers", -1), (double)dwcp_test_pool_buffers(st));
	agree_on_peers(st);
	cJSON_Delete(st);
}

/* The only peer in @p dir ("out" or "in") of a node's status. */
static const cJSON *peer_of(const cJSON *st, const char *direction)
{
	const cJSON *p, *found = NULL;
	unsigned n = 0;

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(st, "peers")) {
		if (!strcmp(cJSON_GetObjectItemCaseSensitive(p, "direction")->valuestring, direction)) {
			found = p;
			n++;
		}
	}
	cr_assert_eq(n, 1u, "%u %s peers in status", n, direction);
	return found;
}

static double pnum(const cJSON *p, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);

	cr_assert(cJSON_IsNumber(v), "peer has no %s", key);
	return v->valuedouble;
}

/* `dwcpctl top` on A lists the peer as status does. */
static void top_shows_the_peer(const cJSON *want)
{
	char ctl[PATH_MAX], err[1024], *text = malloc(1 << 20);
	const cJSON *peers;
	cJSON *top;
	int rc;

	cr_assert_not_null(text);
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.a.instance, "top", "--once", "--json", NULL },
			   text, 1 << 20, err, sizeof(err), 30000);
	cr_assert_eq(rc, 0, "dwcpctl top: exit %d: %s", rc, err);
	top = cJSON_Parse(text);
	cr_assert_not_null(top, "not JSON: %.200s", text);
	peers = cJSON_GetObjectItemCaseSensitive(top, "peers");
	cr_assert_eq(cJSON_GetArraySize(peers), 1, "peers: %.300s", text);
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(peers, 0), "addr")->valuestring,
			 cJSON_GetObjectItemCaseSensitive(want, "addr")->valuestring);
	cr_expect_eq(pnum(cJSON_GetArrayItem(peers, 0), "chunks_sent"), pnum(want, "chunks_sent"));
	cJSON_Delete(top);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.a.instance, "top", "--once", NULL },
			   text, 1 << 20, err, sizeof(err), 30000);
	cr_assert_eq(rc, 0, "dwcpctl top: exit %d: %s", rc, err);
	cr_expect(strstr(text, "\nPEER ") && strstr(text, cJSON_GetObjectItemCaseSensitive(want, "addr")->valuestring),
		  "no peer row:\n%s", text);
	free(text);
}

/* After an A -> B transfer, idle: A's outgoing peer is B and B's incoming
 * one is A, and what one wrote the other read, chunk for chunk. */
static void peers_agree_across_the_pair(void)
{
	cJSON *sa = dwcp_test_status(pair.a.instance, NULL), *sb = dwcp_test_status(pair.b.instance, NULL);
	const cJSON *out, *in;

	cr_assert(sa && sb, "no status");
	out = peer_of(sa, "out");
	in = peer_of(sb, "in");
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(in, "name")->valuestring, pair.a.instance,
			 "B names its sender by another instance");
	cr_expect_geq(pnum(out, "connections"), 1, "A has no connection to B");
	cr_expect_eq(pnum(out, "connections"), pnum(in, "connections"), "A and B count other connections");
	cr_expect_geq(pnum(out, "connects"), 1);
	cr_expect_gt(pnum(out, "chunks_acked"), 0, "A saw no chunk acknowledged");
	cr_expect_leq(pnum(out, "chunks_acked"), pnum(out, "chunks_sent"));
	cr_expect_eq(pnum(out, "chunks_sent"), pnum(in, "chunks_received"),
		     "A wrote %.0f chunks, B read %.0f", pnum(out, "chunks_sent"), pnum(in, "chunks_received"));
	cr_expect_eq(pnum(out, "chunks_refused"), 0);
	/* B counts from its peer's HELLO, A from the connect: A's handshake bytes. */
	cr_expect_geq(pnum(out, "tx_bytes"), pnum(in, "rx_bytes"));
	cr_expect_gt(pnum(in, "rx_bytes"), 0);
	cr_expect_geq(pnum(in, "tx_bytes"), pnum(out, "chunks_acked") * 8, "B's ACKs are not counted");
	cr_expect_gt(pnum(out, "ack_wait_ms_avg"), 0);
	top_shows_the_peer(out);
	cJSON_Delete(sa);
	cJSON_Delete(sb);
}

/* The continuous profile (built-in [prof] sample_hz) samples the
 * services of the node that serves: its figures are in /metrics, and once
 * transfers made svc-simd work, /profile and /profile.svg show it. Where
 * the kernel gives no perf events, svc-prof samples nothing and says so
 * (dwcp_prof_sampled_threads 0): skipped. */
static void continuous_profile_sees_transfers(const char *src, const char *out)
{
	static const char *const zstd[] = { "--codec", "zstd", NULL };
	double threads;
	bool seen = false;

	scrape();
	threads = sample(body, "dwcp_prof_sampled_threads", -1);
	cr_assert(!isnan(threads), "no dwcp_prof_sampled_threads in /metrics");
	if (threads == 0) {
		fprintf(stderr, "skipped: no perf events here: the continuous profile samples nothing\n");
		return;
	}
	/* At 19 Hz a short transfer leaves a handful of samples; stacks are
	 * named and added every 2 s. Send until svc-simd shows (bounded),
	 * with zstd: under codec = auto a loopback send on a busy 2-CPU host
	 * goes raw, and svc-simd's CRC alone is seldom caught working. */
	for (unsigned i = 0; i < 20 && !seen; i++) {
		char stream[16];

		snprintf(stream, sizeof(stream), "cont%u", i);
		dwcp_xfer_proc_free(&snd);
		dwcp_xfer_proc_free(&rcv);
		cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, 120), 0);
		cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, zstd), 0);
		cr_assert_eq(dwcp_xfer_wait(&snd, 150000), 0, "send failed");
		cr_assert_eq(dwcp_xfer_wait(&rcv, 150000), 0, "recv failed");
		dwcp_test_sleep_ms(2500);
		cr_assert_eq(http("GET", "/profile"), 200);
		seen = strstr(body, "svc-simd") != NULL;
	}
	cr_expect(seen, "svc-simd never showed in the continuous profile:\n%.2000s", body);
	cr_expect(strstr(body, "svc-prof;") == NULL, "svc-prof samples itself");
	cr_assert_eq(http("GET", "/profile.svg"), 200);
	cr_expect(strstr(body, "<svg") && strstr(body, "</svg>"), "not an SVG: %.200s", body);
	scrape();
	cr_expect_gt(sample(body, "dwcp_prof_samples_total", -1), 0);
	cr_expect(sample(body, "dwcp_prof_sampler_cpu_seconds_total", -1) >= 0);
}

static bool pool_full(void *arg)
{
	const char *inst = arg;
	cJSON *st = dwcp_test_status(inst, NULL);
	bool full = st && dwcp_test_pool_free(st) == dwcp_test_pool_buffers(st);

	cJSON_Delete(st);
	return full;
}

Test(metrics, a_scrape_is_valid_and_agrees_with_status_after_a_transfer_and_a_restart,
     .init = setup, .fini = teardown, .timeout = 300)
{
	char listen_l[64], src[128], out[128], h_src[65], h_out[65];
	const char *extra[] = { listen_l, NULL };
	struct dwcp_xfer_pair_cfg cfg = { .tag = "met", .extra = extra };
	const struct dwcp_test_node *srv, *other;
	cJSON *st;
	pid_t pid;

	pick_port();
	snprintf(listen_l, sizeof(listen_l), "prof.listen = 127.0.0.1:%d", prof_port);
	cr_assert_eq(dwcp_xfer_pair_start(&pair, &cfg), 0, "the pair did not start");

	/* One node has the address; the other says why it has not. */
	scrape();
	srv = answering_node();
	other = srv == &pair.a ? &pair.b : &pair.a;
	pid = dwcp_test_wait_service_up(other->instance, "svc-prof", 0, 30000);
	cr_assert_gt(pid, 0);
	st = dwcp_test_status(other->instance, NULL);
	cr_expect_str_eq(dwcp_test_svc_str(st, "svc-prof", "state"), "STANDBY");
	cr_expect(strstr(dwcp_test_svc_str(st, "svc-prof", "reason"), "cannot serve metrics") != NULL,
		  "reason: %s", dwcp_test_svc_str(st, "svc-prof", "reason"));
	cJSON_Delete(st);

	/* A transfer moves the counters; idle again, they must agree. */
	snprintf(src, sizeof(src), "%s/src.img", dir);
	snprintf(out, sizeof(out), "%s/out.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, 32u << 20, 7), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "met", out, 120), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "met", src, "nodeb", 120, NULL), 0);
	cr_assert_eq(dwcp_xfer_wait(&snd, 150000), 0, "send failed");
	cr_assert_eq(dwcp_xfer_wait(&rcv, 150000), 0, "recv failed");
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0);
	cr_assert_str_eq(h_src, h_out);
	cr_assert(dwcp_test_wait_until(pool_full, (void *)srv->instance, 30000), "pool never refilled");
	cr_assert(dwcp_test_wait_until(pool_full, (void *)other->instance, 30000), "pool never refilled");
	scrape();
	promtool_accepts();
	agree_with_status(srv->instance);
	peers_agree_across_the_pair();
	st = dwcp_test_status(srv->instance, NULL);
	cr_expect_gt(dwcp_test_workers_sum(st, "svc-simd", "ops"), 0, "the transfer did no steps");
	cJSON_Delete(st);

	/* kill -9 of svc-simd: restarts and generation move, and still agree. */
	st = dwcp_test_status(srv->instance, NULL);
	pid = (pid_t)dwcp_test_svc_num(st, "svc-simd", "pid");
	cJSON_Delete(st);
	cr_assert_gt(pid, 0);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_gt(dwcp_test_wait_service_up(srv->instance, "svc-simd", 1, 60000), 0);
	scrape();
	cr_expect_eq(sample(body, "dwcp_service_restarts_total", 4), 1.0, "svc-simd restarts");
	agree_with_status(srv->instance);
	/* A -> B transfers work both nodes' svc-simd: whichever serves. */
	continuous_profile_sees_transfers(src, out);
}

#define PROF_MAX_CONNS 16   /* PROF_HTTP_MAX_CONNS (svc-prof/prof_internal.h) */

static int open_fds(pid_t pid)
{
	char out[64];

	/* Sockets only: the continuous profile opens perf events as it goes. */
	if (dwcp_xfer_sh(out, sizeof(out), "ls -l /proc/%d/fd | grep -c socket:", (int)pid) > 1)
		return -1;
	return atoi(out);
}

/* Every one of @p fd sees EOF or a reset (hang guard 120 s: the server's
 * idle timeout is 10 s, and those still in the backlog get theirs once
 * accepted). */
static bool wait_all_closed(const int *fd, int n)
{
	uint64_t t0 = dwcp_test_now_ms();
	int closed = 0;
	bool done[40] = { false };

	while (closed < n && dwcp_test_now_ms() - t0 < 120000) {
		for (int i = 0; i < n; i++) {
			struct pollfd p = { .fd = fd[i], .events = POLLIN };
			char c;

			if (!done[i] && poll(&p, 1, 0) == 1 && read(fd[i], &c, 1) <= 0) {
				done[i] = true;
				closed++;
			}
		}
		dwcp_test_sleep_ms(100);
	}
	if (closed < n)
		fprintf(stderr, "%d of %d idle connections still open\n", n - closed, n);
	return closed == n;
}

Test(metrics, bad_requests_get_errors_and_idle_connections_are_bounded, .init = setup,
     .fini = teardown, .timeout = 300)
{
	char listen_l[64];
	const char *extra[] = { listen_l, NULL };
	struct dwcp_xfer_pair_cfg cfg = { .tag = "mbad", .no_b = true, .extra = extra };
	char out[128];
	int idle[40], n_idle = 0, fds0;
	pid_t prof;
	cJSON *st;

	pick_port();
	snprintf(listen_l, sizeof(listen_l), "prof.listen = 127.0.0.1:%d", prof_port);
	cr_assert_eq(dwcp_xfer_pair_start(&pair, &cfg), 0, "the node did not start");
	cr_expect_eq(http("POST", "/metrics"), 405);
	cr_expect_eq(http("GET", "/"), 404);

	/* An open stream (a recv waiting for its sender) is listed with its
	 * progress, and the whole still passes promtool. */
	snprintf(out, sizeof(out), "%s/waiting.img", dir);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.a.instance, "waiting", out, 120), 0);
	for (unsigned t = 0; t < 300; t++) {
		scrape();
		if (strstr(body, "dwcp_stream_info{stream=\"waiting\",role=\"recv\""))
			break;
		dwcp_test_sleep_ms(100);
	}
	cr_expect(strstr(body, "dwcp_stream_chunks_total{stream=\"waiting\",role=\"recv\"} 0\n") != NULL,
		  "no progress of the open stream:\n%.3000s", body);
	cr_expect_eq(sample(body, "dwcp_streams{role=\"recv\"}", -1), 1);
	promtool_accepts();
	dwcp_xfer_proc_free(&rcv);
	cr_expect_eq(http("GET", "/metrics/../etc/passwd"), 404);

	/* 40 clients that connect and say nothing: svc-prof holds at most 16
	 * of them (the rest wait in the kernel's backlog), and drops each
	 * after its idle timeout, so they cannot keep scrapes out for good. */
	st = dwcp_test_status(pair.a.instance, NULL);
	prof = (pid_t)dwcp_test_svc_num(st, "svc-prof", "pid");
	cJSON_Delete(st);
	fds0 = open_fds(prof);
	cr_assert_gt(fds0, 0);
	for (int i = 0; i < 40; i++)
		if ((idle[n_idle] = connect_prof()) >= 0)
			n_idle++;
	dwcp_test_sleep_ms(1000);
	cr_expect_leq(open_fds(prof) - fds0, PROF_MAX_CONNS, "svc-prof holds %d more descriptors",
		      open_fds(prof) - fds0);
	cr_expect(wait_all_closed(idle, n_idle), "idle connections were never dropped");
	for (int i = 0; i < n_idle; i++)
		close(idle[i]);
	cr_expect_leq(open_fds(prof), fds0, "svc-prof kept descriptors of dropped clients");
	scrape();
	st = dwcp_test_status(pair.a.instance, NULL);
	cr_expect_eq(dwcp_test_svc_num(st, "svc-prof", "restarts"), 0, "svc-prof restarted");
	cr_expect_str_eq(dwcp_test_svc_str(st, "svc-prof", "state"), "READY");
	cJSON_Delete(st);
}

/* `dwcpctl top`: the frames a script reads (--json) list every service
 * and worker as status does and an open stream with its role; the table
 * is redrawn as often as asked. */
Test(metrics, top_shows_every_service_and_an_open_stream, .init = setup, .fini = teardown,
     .timeout = 300)
{
	struct dwcp_xfer_pair_cfg cfg = { .tag = "mtop" };
	char ctl[PATH_MAX], out[128], *text = malloc(1 << 20), err[4096];
	const cJSON *s, *svcs, *streams;
	cJSON *st, *top;
	int rc, frames = 0;
	unsigned n = 0;

	cr_assert_not_null(text);
	cr_assert_eq(dwcp_xfer_pair_start(&pair, &cfg), 0, "the pair did not start");
	snprintf(out, sizeof(out), "%s/never.img", dir);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "topstream", out, 120), 0);
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	/* The recv registers its stream once attached: wait for it in top. */
	for (unsigned t = 0; t < 300; t++) {
		rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.b.instance, "top", "--once",
						    "--json", NULL },
				   text, 1 << 20, err, sizeof(err), 30000);
		cr_assert_eq(rc, 0, "dwcpctl top --once --json: exit %d: %s", rc, err);
		if (strstr(text, "\"topstream\""))
			break;
		dwcp_test_sleep_ms(100);
	}
	top = cJSON_Parse(text);
	cr_assert_not_null(top, "not JSON: %.200s", text);
	st = dwcp_test_status(pair.b.instance, NULL);
	cr_assert_not_null(st);
	svcs = cJSON_GetObjectItemCaseSensitive(top, "services");
	cr_expect_eq(cJSON_GetArraySize(svcs),
		     cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "services")));
	cJSON_ArrayForEach(s, svcs) {
		const char *name = cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring;

		n++;
		cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(s, "state")->valuestring,
				 dwcp_test_svc_str(st, name, "state"), "%s", name);
	}
	cr_expect_geq(n, 6u);
	streams = cJSON_GetObjectItemCaseSensitive(top, "streams");
	cr_assert_eq(cJSON_GetArraySize(streams), 1, "streams: %.300s", text);
	s = cJSON_GetArrayItem(streams, 0);
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring, "topstream");
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(s, "role")->valuestring, "recv");
	cr_expect(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "bytes_per_s")));
	cJSON_Delete(top);
	cJSON_Delete(st);

	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.b.instance, "top", "--count", "3",
					    "--interval", "0.2", NULL },
			   text, 1 << 20, err, sizeof(err), 30000);
	cr_expect_eq(rc, 0, "dwcpctl top --count 3: exit %d: %s", rc, err);
	for (const char *p = strstr(text, "SERVICE "); p; p = strstr(p + 1, "SERVICE "))
		frames++;
	cr_expect_eq(frames, 3, "%d frames:\n%s", frames, text);
	cr_expect(strstr(text, "topstream") != NULL, "no stream row:\n%s", text);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.b.instance, "status", "--once", NULL },
			   text, 1 << 20, err, sizeof(err), 30000);
	cr_expect_eq(rc, 2, "--once without top: exit %d", rc);
	cr_expect(strstr(err, "top command only") != NULL, "%s", err);
	free(text);
}
