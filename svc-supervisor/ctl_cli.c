/* Control-socket commands and the status table (ctl_cli.h). The
 * supervisor sends status as JSON; `--json` prints it as is, otherwise it
 * becomes a table an operator reads at a glance. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "ipc/ctl_msg.h"
#include "ctl_cli.h"

#define CALL_MS 10000   /* requests answered at once */

/* One request (@p req, or the ext request @p xreq), its reply's text in
 * *@p text (inside @p buf). @return the exit status: 0, 1 (refused or
 * failed, printed), 3 (no supervisor). */
static int call_any(const char *run_dir, const char *instance, const struct dwcp_ctl_req *req,
		    const struct dwcp_ctl_req_ext *xreq, int timeout_ms, const char **text,
		    uint8_t *buf)
{
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	struct dwcp_err err = { 0 };
	int fd = dwcp_ctl_connect(run_dir, instance, &err), rc;

	if (fd < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 3;
	}
	rc = req ? dwcp_ctl_call(fd, req, buf, DWCP_CTL_REPLY_MAX, timeout_ms, &h, &payload, &err) :
		   dwcp_ctl_call_ext(fd, xreq, buf, DWCP_CTL_REPLY_MAX, timeout_ms, &h, &payload,
				     &err);
	close(fd);
	if (rc) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	*text = payload;
	if (h->status) {
		fprintf(stderr, "%s\n", *text);
		return 1;
	}
	return 0;
}

static int call(const char *run_dir, const char *instance, const struct dwcp_ctl_req *req,
		const char **text, uint8_t *buf)
{
	return call_any(run_dir, instance, req, NULL, CALL_MS, text, buf);
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void fmt_age(char *b, size_t n, double ms)
{
	if (ms < 0)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.0f", ms);
}

static void print_row(const cJSON *s)
{
	char hb[16], up[16];
	double p99 = num(s, "step_p99_us");
	const char *death = str(s, "last_death");

	fmt_age(hb, sizeof(hb), num(s, "heartbeat_age_ms"));
	snprintf(up, sizeof(up), "%.0fs", num(s, "uptime_s"));
	printf("%-10s %-9s %7.0f %4.0f %5.0f %8s %6s %6.0f %5.0f %5.0f %9.0f %8.1f  %s\n",
	       str(s, "name"), str(s, "state"), num(s, "pid"), num(s, "generation"),
	       num(s, "restarts"), num(s, "pid") ? up : "-", hb, num(s, "buffers_held"),
	       num(s, "link_in"), num(s, "link_out"), num(s, "ops_per_s"),
	       num(s, "bytes_per_s") / 1e6, str(s, "reason"));
	if (p99 > 0)
		printf("%-10s step latency p50 %.1f us, p99 %.1f us, p99.99 %.1f us\n", "",
		       num(s, "step_p50_us"), p99, num(s, "step_p9999_us"));
	/* why it restarted, without the log (the whole text: --json) */
	if (*death)
		printf("%-10s last crash %.0f s ago: %.160s%s\n", "", num(s, "last_death_age_s"), death,
		       strlen(death) > 160 ? " ..." : "");
}

/* The DPDK port, when the node owns one ([net] transport = dpdk). */
static void print_port(const cJSON *p)
{
	if (!p)
		return;
	printf("port %s (%s) mac %s mtu %.0f link %s: %.0f frames in (%.0f/s), %.0f out (%.0f/s); %.0f missed, %.0f dropped for a full ring, %.0f refused by the driver; mbufs in use %.0f of %.0f\n",
	       str(p, "devargs"), str(p, "driver"), str(p, "mac"), num(p, "mtu"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "link_up")) ? "up" : "DOWN",
	       num(p, "rx_frames"), num(p, "rx_pps"), num(p, "tx_frames"), num(p, "tx_pps"),
	       num(p, "rx_missed"), num(p, "rx_ring_full"), num(p, "tx_refused"), num(p, "mbufs_in_use"),
	       num(p, "mbufs"));
	if (num(p, "queues") > 1 || cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "consumers")) > 1) {
		const cJSON *c;

		printf("port queues: %.0f%s, UDP port %.0f; per svc-net worker (frames in / out):", num(p, "queues"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "rss")) ? " (RSS)" : "", num(p, "udp_port"));
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(p, "consumers"))
			printf(" %.0f: %.0f / %.0f%s", num(c, "worker"), num(c, "rx_frames"), num(c, "tx_frames"),
			       num(c, "pid") ? "" : " (none)");
		printf("\n");
	}
	printf("port datagrams: %.0f fragments out (%.0f resent, %.0f of them probes), %.0f in; NACKs %.0f sent, %.0f received; %.0f refused, %.0f dropped for want of a buffer, %.0f not sent for a full ring\n",
	       num(p, "dgram_frags_tx"), num(p, "dgram_frags_resent"), num(p, "dgram_probes"),
	       num(p, "dgram_frags_rx"), num(p, "dgram_nacks_tx"), num(p, "dgram_nacks_rx"),
	       num(p, "dgram_bad_rx"), num(p, "dgram_rx_nobuf"), num(p, "dgram_tx_ring_full"));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "zero_copy_tx")))
		printf("port zero-copy TX: on, %.0f fragments sent attached, %.0f attach mbufs out; %.0f neighbour requests sent\n",
		       num(p, "dgram_frags_zero_copy"), num(p, "attach_mbufs_in_use"), num(p, "neighbour_requests_tx"));
	else
		printf("port zero-copy TX: off (%s); %.0f neighbour requests sent\n", str(p, "zero_copy_tx_off"),
		       num(p, "neighbour_requests_tx"));
}

static void print_table(const cJSON *root)
{
	const cJSON *sup = cJSON_GetObjectItemCaseSensitive(root, "supervisor");
	const cJSON *pool = cJSON_GetObjectItemCaseSensitive(root, "pool");
	const cJSON *s, *dc;

	printf("instance %s: supervisor pid %.0f, up %.0fs, ABI %.0f; pool %.0f/%.0f buffers free of %.0f bytes\n",
	       str(root, "instance"), num(sup, "pid"), num(sup, "uptime_s"),
	       num(sup, "abi_version"), num(pool, "free"), num(pool, "buffers"),
	       num(pool, "buf_size"));
	printf("%-10s %-9s %7s %4s %5s %8s %6s %6s %5s %5s %9s %8s  %s\n", "SERVICE", "STATE",
	       "PID", "GEN", "RESTR", "UPTIME", "HB_MS", "HELD", "IN", "OUT", "OPS/S", "MB/S", "NOTE");
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "services"))
		print_row(s);
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "clients"))
		print_row(s);
	dc = cJSON_GetObjectItemCaseSensitive(root, "delta_cache");
	if (cJSON_GetObjectItemCaseSensitive(dc, "pages"))
		printf("delta cache: %.0f of %.0f pages held (%.0f MiB), %.0f hits, %.0f misses, %.0f evictions, %.0f changed pages spared\n",
		       num(dc, "live"), num(dc, "pages"), num(dc, "bytes") / 1048576.0, num(dc, "hits"),
		       num(dc, "misses"), num(dc, "evictions"), num(dc, "spared"));
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "streams"))
		printf("stream %s: %s by pid %.0f%s%s%s%s\n", str(s, "name"), str(s, "role"),
		       num(s, "client_pid"), *str(s, "peer") ? " to " : "", str(s, "peer"),
		       *str(s, "net_error") ? ": " : "", str(s, "net_error"));
	print_port(cJSON_GetObjectItemCaseSensitive(root, "port"));
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "peers")) {
		char by[96] = "";
		const cJSON *w;
		size_t at = 0;

		/* "(4 + 4 over the svc-net workers)" */
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(s, "connections_by_worker"))
			if (at + 16 < sizeof(by))
				at += (size_t)snprintf(by + at, sizeof(by) - at, "%s%.0f", at ? " + " : " (",
						       w->valuedouble);
		if (at && at + 32 < sizeof(by))
			snprintf(by + at, sizeof(by) - at, " over the svc-net workers)");
		printf("peer %s%s%s (%s): transport %s; %.0f connections%s, %.0f connects, %.0f failed; %.0f bytes out, %.0f in; chunks %.0f sent, %.0f acked, %.0f resent, %.0f refused, %.0f received; %.0f chunks by rdma%s%s%s%s\n",
		       str(s, "addr"), *str(s, "name") ? " " : "", str(s, "name"), str(s, "direction"),
		       str(s, "transport"),
		       num(s, "connections"), by, num(s, "connects"), num(s, "connect_failures"),
		       num(s, "tx_bytes"), num(s, "rx_bytes"), num(s, "chunks_sent"),
		       num(s, "chunks_acked"), num(s, "chunks_resent"), num(s, "chunks_refused"),
		       num(s, "chunks_received"), num(s, "rdma_chunks"),
		       *str(s, "last_error") ? "; last error: " : "", str(s, "last_error"),
		       *str(s, "rdma_error") ? "; last rdma error: " : "", str(s, "rdma_error"));
	}
}

int sup_cli_status(const char *run_dir, const char *instance, bool json)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	struct dwcp_ctl_req req;
	const char *text = NULL;
	cJSON *root;
	int rc;

	if (!buf)
		return 1;
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	rc = call(run_dir, instance, &req, &text, buf);
	if (rc == 0 && json) {
		printf("%s\n", text);
	} else if (rc == 0) {
		root = cJSON_Parse(text);
		if (root)
			print_table(root);
		else
			rc = 1;
		cJSON_Delete(root);
	}
	free(buf);
	return rc;
}

/* ---- dwcpctl top ---------------------------------------------------- */

static volatile sig_atomic_t top_stop;

static void on_top_signal(int sig)
{
	top_stop = sig;
}

/* The client (send or recv process) a stream belongs to, for its rates. */
static const cJSON *client_of(const cJSON *root, double pid)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "clients"))
		if (num(c, "pid") == pid)
			return c;
	return NULL;
}

static void top_row(const cJSON *s)
{
	printf("%-12s %-9s %5.0f %9.0f %8.1f %9.1f %9.1f %6.0f %5.0f %5.0f\n", str(s, "name"),
	       str(s, "state"), num(s, "restarts"), num(s, "ops_per_s"), num(s, "bytes_per_s") / 1e6,
	       num(s, "step_p50_us"), num(s, "step_p99_us"), num(s, "buffers_held"),
	       num(s, "link_in"), num(s, "link_out"));
}

static void top_frame(const cJSON *root, bool clear)
{
	const cJSON *pool = cJSON_GetObjectItemCaseSensitive(root, "pool");
	const cJSON *dc = cJSON_GetObjectItemCaseSensitive(root, "delta_cache"), *s;

	if (clear)
		printf("\033[H\033[2J");
	printf("dwcp %s: pool %.0f/%.0f free, delta cache %.0f/%.0f pages (%.0f hits, %.0f misses); rates over the last second\n",
	       str(root, "instance"), num(pool, "free"), num(pool, "buffers"), num(dc, "live"),
	       num(dc, "pages"), num(dc, "hits"), num(dc, "misses"));
	printf("%-12s %-9s %5s %9s %8s %9s %9s %6s %5s %5s\n", "SERVICE", "STATE", "RESTR", "STEPS/S",
	       "MB/S", "P50_US", "P99_US", "HELD", "IN", "OUT");
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "services"))
		top_row(s);
	printf("%-24s %-5s %8s %9s %8s  %s\n", "STREAM", "ROLE", "PID", "CHUNKS/S", "MB/S", "PEER");
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "streams")) {
		const cJSON *c = client_of(root, num(s, "client_pid"));

		printf("%-24s %-5s %8.0f %9.0f %8.1f  %s%s%s\n", str(s, "name"), str(s, "role"),
		       num(s, "client_pid"), c ? num(c, "ops_per_s") : 0,
		       c ? num(c, "bytes_per_s") / 1e6 : 0, str(s, "peer"),
		       *str(s, "net_error") ? "  error: " : "", str(s, "net_error"));
	}
	print_port(cJSON_GetObjectItemCaseSensitive(root, "port"));
	printf("%-32s %-3s %5s %9s %9s %8s %8s %8s  %s\n", "PEER", "DIR", "CONNS", "OUT_MB/S",
	       "IN_MB/S", "RESENT", "REFUSED", "ACK_MS", "LAST ERROR");
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "peers")) {
		char who[96];

		snprintf(who, sizeof(who), "%s%s%s", str(s, "addr"), *str(s, "name") ? " " : "",
			 str(s, "name"));
		printf("%-32s %-3s %5.0f %9.1f %9.1f %8.0f %8.0f %8.2f  %s\n", who, str(s, "direction"),
		       num(s, "connections"), num(s, "tx_bytes_per_s") / 1e6,
		       num(s, "rx_bytes_per_s") / 1e6, num(s, "chunks_resent"),
		       num(s, "chunks_refused"), num(s, "ack_wait_ms_avg"), str(s, "last_error"));
	}
	fflush(stdout);
}

/* The figures top shows, as one object per frame (for scripts). */
static void top_json(const cJSON *root)
{
	static const char *const svc_keys[] = { "name", "service", "worker", "slot", "state", "pid",
		"restarts", "ops_per_s", "bytes_per_s", "step_p50_us", "step_p99_us",
		"step_p9999_us", "buffers_held", "link_in", "link_out", "ops", "errors" };
	cJSON *o = cJSON_CreateObject(), *arr;
	const cJSON *s;
	char *text;

	cJSON_AddItemToObject(o, "instance",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "instance"), 1));
	cJSON_AddItemToObject(o, "pool", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "pool"), 1));
	cJSON_AddItemToObject(o, "delta_cache",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "delta_cache"), 1));
	arr = cJSON_AddArrayToObject(o, "services");
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "services")) {
		cJSON *e = cJSON_CreateObject();

		for (size_t k = 0; k < sizeof(svc_keys) / sizeof(svc_keys[0]); k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, svc_keys[k]);

			if (v)
				cJSON_AddItemToObject(e, svc_keys[k], cJSON_Duplicate(v, 1));
		}
		cJSON_AddItemToArray(arr, e);
	}
	arr = cJSON_AddArrayToObject(o, "streams");
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "streams")) {
		const cJSON *c = client_of(root, num(s, "client_pid"));
		cJSON *e = cJSON_Duplicate(s, 1);

		cJSON_AddNumberToObject(e, "chunks_per_s", c ? num(c, "ops_per_s") : 0);
		cJSON_AddNumberToObject(e, "bytes_per_s", c ? num(c, "bytes_per_s") : 0);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddItemToObject(o, "peers", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "peers"), 1));
	if (cJSON_GetObjectItemCaseSensitive(root, "port"))
		cJSON_AddItemToObject(o, "port", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "port"), 1));
	text = cJSON_PrintUnformatted(o);
	if (text)
		printf("%s\n", text);
	fflush(stdout);
	free(text);
	cJSON_Delete(o);
}

int sup_cli_top(const char *run_dir, const char *instance, bool json, unsigned count,
		unsigned interval_ms)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	struct sigaction sa = { .sa_handler = on_top_signal };
	struct dwcp_ctl_req req;
	bool tty = isatty(STDOUT_FILENO) && !json;
	int rc = 0;

	if (!buf)
		return 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	for (unsigned i = 0; !top_stop && (!count || i < count); i++) {
		const char *text = NULL;
		cJSON *root;

		if (i)
			usleep(interval_ms * 1000u);   /* a signal cuts it short */
		if (top_stop)
			break;
		rc = call(run_dir, instance, &req, &text, buf);
		if (rc)
			break;
		root = cJSON_Parse(text);
		if (!root) {
			fprintf(stderr, "dwcpctl top: the supervisor's status is not JSON\n");
			rc = 1;
			break;
		}
		if (json)
			top_json(root);
		else
			top_frame(root, tty);
		cJSON_Delete(root);
	}
	free(buf);
	return rc;
}

int sup_cli_restart(const char *run_dir, const char *instance, const char *service)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	struct dwcp_ctl_req req;
	const char *text = NULL;
	int rc;

	if (!buf)
		return 1;
	if (dwcp_ctl_req_restart(&req, service)) {
		fprintf(stderr, "service name '%s' is too long\n", service);
		free(buf);
		return 2;
	}
	rc = call(run_dir, instance, &req, &text, buf);
	if (rc == 0)
		printf("%s\n", text);
	free(buf);
	return rc;
}

/* The supervisor holds its lock until its very last step. */
static int wait_unlocked(const char *run_dir, const char *instance, int timeout_s)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s/supervisor.lock", run_dir, instance);
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (int i = 0; i < timeout_s * 10; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			close(fd);
			return 0;
		}
		usleep(100000);
	}
	close(fd);
	return -ETIMEDOUT;
}

int sup_cli_stop(const char *run_dir, const char *instance, int timeout_s)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	struct dwcp_ctl_req req;
	const char *text = NULL;
	int rc;

	if (!buf)
		return 1;
	dwcp_ctl_req_init(&req, DWCP_CTL_STOP);
	rc = call(run_dir, instance, &req, &text, buf);
	if (rc == 0)
		printf("%s\n", text);
	free(buf);
	if (rc == 3) {
		printf("instance '%s' is not running\n", instance);
		return 0;
	}
	if (rc)
		return rc;
	if (wait_unlocked(run_dir, instance, timeout_s)) {
		fprintf(stderr, "instance '%s' did not stop within %d s\n", instance, timeout_s);
		return 1;
	}
	printf("instance '%s' stopped\n", instance);
	return 0;
}

/* Print the text of a request answered when done. */
static int run_print(const char *run_dir, const char *instance, const struct dwcp_ctl_req *req,
		     const struct dwcp_ctl_req_ext *xreq, int timeout_ms)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	const char *text = NULL;
	int rc;

	if (!buf)
		return 1;
	rc = call_any(run_dir, instance, req, xreq, timeout_ms, &text, buf);
	if (rc == 0)
		printf("%s\n", text);
	free(buf);
	return rc;
}

int sup_cli_drain(const char *run_dir, const char *instance, const char *service, int timeout_s)
{
	struct dwcp_ctl_req req;

	if (timeout_s < 1 || timeout_s > 3600) {
		fprintf(stderr, "dwcpctl drain: --timeout %d: give 1..3600 seconds\n", timeout_s);
		return 2;
	}
	if (dwcp_ctl_req_drain(&req, service, (uint32_t)timeout_s * 1000u)) {
		fprintf(stderr, "service name '%s' is too long\n", service);
		return 2;
	}
	/* The supervisor answers by its own timeout; ours is a hang guard. */
	return run_print(run_dir, instance, &req, NULL, timeout_s * 1000 + CALL_MS);
}

int sup_cli_resume(const char *run_dir, const char *instance, const char *service)
{
	struct dwcp_ctl_req req;

	if (dwcp_ctl_req_resume(&req, service)) {
		fprintf(stderr, "service name '%s' is too long\n", service);
		return 2;
	}
	return run_print(run_dir, instance, &req, NULL, 4 * CALL_MS);
}

int sup_cli_workers_of(const char *run_dir, const char *instance, const char *service,
		       char names[][32], int max)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	struct dwcp_ctl_req req;
	const char *text = NULL;
	const cJSON *s;
	cJSON *root = NULL;
	int n = -1;

	if (!buf)
		return -1;
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	if (call(run_dir, instance, &req, &text, buf) == 0 && (root = cJSON_Parse(text)) != NULL) {
		n = 0;
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "services"))
			if (num(s, "worker") > 0 && !strcmp(str(s, "service"), service) && n < max)
				snprintf(names[n++], 32, "%s", str(s, "name"));
	}
	cJSON_Delete(root);
	free(buf);
	return n;
}

int sup_cli_upgrade(const char *run_dir, const char *instance, const char *service,
		    const char *binary)
{
	static struct dwcp_ctl_req_ext req;
	char abs[PATH_MAX];

	/* The supervisor runs in another directory: send an absolute path,
	 * and say here what is wrong with a path that leads nowhere. */
	if (!realpath(binary, abs)) {
		fprintf(stderr, "dwcpctl upgrade: --binary %s: %s\n", binary, strerror(errno));
		return 2;
	}
	if (access(abs, X_OK) != 0) {
		fprintf(stderr, "dwcpctl upgrade: --binary %s is not executable: chmod +x %s\n", abs,
			abs);
		return 2;
	}
	if (dwcp_ctl_req_upgrade(&req, service, abs)) {
		fprintf(stderr, "dwcpctl upgrade: service name '%s' or path '%s' is too long (%d bytes at most)\n",
			service, abs, DWCP_CTL_TEXT_MAX - 1);
		return 2;
	}
	/* Attach, drain and init each have the supervisor's bounds; a hang
	 * guard only. */
	return run_print(run_dir, instance, NULL, &req, 300000);
}
