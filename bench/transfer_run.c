/* The end-to-end part of `dwcp bench transfer`: two throw-away nodes on
 * loopback (A with peers.b, B listening), `dwcp recv` on B and `dwcp send`
 * on A as separate processes, exactly as an operator runs them; the
 * figures come from their --json output, and the received file is
 * compared with the image byte for byte.
 *
 * The nodes run on built-in defaults (delta cache, pool, codec, workers)
 * except for what a run sets on purpose: their ports, the key, [simd]
 * workers for a row of the scaling table, and [stream] index_dir in our
 * temporary directory, so that no fingerprint index from an earlier run
 * (of this bench or of anything else on the host) makes pages KEPT.
 *
 * CPU per run: see transfer_cpu.c.
 *
 * Everything is created in one temporary directory, which clean-up
 * removes whole: on success, failure and SIGINT/SIGTERM alike.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/timeutil.h"
#include "ipc/attach.h"
#include "ipc/shm.h"
#include "bench_node.h"
#include "transfer_pvt.h"

#define CMP_IO         (1u * MIB)   /* read size when comparing files */
#define RECV_SETTLE_MS 500u         /* let recv attach before send starts */
/* The services an operator's node runs: all (the built-in default). */
#define NODE_SERVICES NULL
/* Room in hugepage memory beyond the region itself (EAL's own heap and
 * segment rounding). */
#define HUGE_SLACK_MB 128u

extern char **environ;

static double now_s(void)
{
	return (double)dwcp_now_ns() / 1e9;
}

void bench_xfer_unlink(const struct bench_xfer_ctx *c, const char *name)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", c->dir, name);
	unlink(p);
}

/* 1 when the file at @p path is exactly the @p n bytes at @p p. */
static int same_as_file(const char *path, const uint8_t *p, size_t n)
{
	uint8_t *buf = malloc(CMP_IO);
	int fd = open(path, O_RDONLY | O_CLOEXEC), same = buf && fd >= 0;
	size_t at = 0;

	while (same) {
		ssize_t r = read(fd, buf, CMP_IO);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || at + (size_t)r > n || memcmp(buf, p + at, (size_t)r) != 0)
			break;
		at += (size_t)r;
	}
	same = same && at == n;
	if (fd >= 0)
		close(fd);
	free(buf);
	return same;
}


static void path_of(const struct bench_xfer_ctx *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->dir, name);
}

/* bin_dir/dwcp with @p argv; stdout and stderr to files in our directory
 * (a pipe could fill and stall the child). @return its pid or -1. */
static pid_t spawn_dwcp(const struct bench_xfer_ctx *c, char *const argv[], const char *out_name,
			const char *err_name)
{
	char exe[600], out[128], err[128];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	snprintf(exe, sizeof(exe), "%s/dwcp", c->bin_dir);
	path_of(c, out_name, out, sizeof(out));
	path_of(c, err_name, err, sizeof(err));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc ? -1 : pid;
}

/* Wait for our child @p pid at most @p timeout_ms; past it, or when a
 * signal asked us to stop, kill it (it is ours, by pid).
 * @return its exit status; -ETIMEDOUT or -EINTR after killing it;
 *         -ECHILD when it died by a signal. */
static int wait_child(pid_t pid, unsigned timeout_ms)
{
	uint64_t deadline = dwcp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct timespec ts = { 0, 10000000 };
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -ECHILD;
		if (r < 0 && errno != EINTR)
			return -ECHILD;
		if (bench_xfer_stop || dwcp_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return bench_xfer_stop ? -EINTR : -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
}

static const char *status_text(int rc, char *buf, size_t len)
{
	if (rc == -ETIMEDOUT)
		snprintf(buf, len, "timed out (killed)");
	else if (rc == -EINTR)
		snprintf(buf, len, "interrupted (killed)");
	else if (rc == -ECHILD)
		snprintf(buf, len, "died by a signal");
	else
		snprintf(buf, len, "exit status %d", rc);
	return buf;
}

/* The last @p lines lines of a file of ours, indented, to stderr. */
static void show_tail(const char *path, unsigned lines)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n;
	unsigned seen = 0;

	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (n == sizeof(buf) - 1) {   /* long file: the end is what matters */
		fseek(f, -(long)(sizeof(buf) - 1), SEEK_END);
		n = fread(buf, 1, sizeof(buf) - 1, f);
	}
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	while (n > 0 && seen < lines)
		if (buf[--n] == '\n')
			seen++;
	if (n == 0)
		fprintf(stderr, "    (empty)\n");
	else
		fprintf(stderr, "    | %s\n", buf + (seen == lines ? n + 1 : 0));
}

static void show_failure(const struct bench_xfer_ctx *c, const char *what, int rc,
			 const char *err_name, const char *out_name)
{
	char p[128], st[64];

	fprintf(stderr, "dwcp bench transfer: `%s` failed: %s\n", what, status_text(rc, st, sizeof(st)));
	path_of(c, err_name, p, sizeof(p));
	fprintf(stderr, "  stderr (end):\n");
	show_tail(p, 15);
	path_of(c, out_name, p, sizeof(p));
	fprintf(stderr, "  stdout (end):\n");
	show_tail(p, 5);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The --json object a child printed (the first one in its output). */
static int read_side(const struct bench_xfer_ctx *c, const char *name, const char *bytes_key,
		     struct bench_xfer_side *s)
{
	const cJSON *v;
	char p[128], buf[65536], *brace;
	FILE *f;
	size_t n;
	cJSON *root;

	path_of(c, name, p, sizeof(p));
	f = fopen(p, "re");
	if (!f)
		return -ENOENT;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	brace = strchr(buf, '{');
	root = brace ? cJSON_Parse(brace) : NULL;
	if (!root)
		return -EBADMSG;
	s->bytes = num(root, bytes_key), s->wire = num(root, "bytes_wire");
	s->seconds = num(root, "seconds"), s->chunks = num(root, "chunks");
	s->thread_cpu_s = num(root, "main_thread_cpu_s");
	s->attach_cpu_s = num(root, "attach_cpu_s");
	s->io_cpu_s = num(root, "io_thread_cpu_s");
	s->stage_cpu_s = num(root, "stage_thread_cpu_s");
	s->p50 = num(root, "p50_us"), s->p99 = num(root, "p99_us"), s->p999 = num(root, "p999_us");
	s->raw_resends = num(root, "raw_resends"), s->rejected = num(root, "rejected");
	s->kept_pages = num(root, "kept_pages");
	v = cJSON_GetObjectItemCaseSensitive(root, "codec");
	snprintf(s->codec, sizeof(s->codec), "%s", cJSON_IsString(v) ? v->valuestring : "");
	v = cJSON_GetObjectItemCaseSensitive(root, "codec_chunks");
	s->codec_chunks[0] = num(v, "none"), s->codec_chunks[1] = num(v, "lz4");
	s->codec_chunks[2] = num(v, "zstd");
	v = cJSON_GetObjectItemCaseSensitive(root, "codec_why");
	snprintf(s->codec_why, sizeof(s->codec_why), "%s", cJSON_IsString(v) ? v->valuestring : "");
	cJSON_Delete(root);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000l };

	while (nanosleep(&ts, &ts) && errno == EINTR && !bench_xfer_stop)
		;
}

/* ---- one transfer --------------------------------------------------- */

/* recv in the background, a moment for it to attach (no readiness signal
 * is specified for recv), then send; @return 0 when both exited 0. */
static int send_recv(struct bench_xfer_ctx *c, const char *stream, const char *out,
		     const char *codec, const char *tag, double *wall_s)
{
	char img[128], s_json[48], s_err[48], r_json[48], r_err[48], cmd[640];
	char *sargv[] = { "dwcp", "send", "--instance", c->inst_a, "--stream", (char *)stream,
			  "--file", img, "--to", "b", "--json", codec ? "--codec" : NULL,
			  (char *)codec, NULL };
	unsigned send_ms = 60000u + c->o->size_mb * 500u;
	pid_t rpid, spid;
	int rc;
	double t0;

	snprintf(s_json, sizeof(s_json), "send-%s.json", tag);
	snprintf(s_err, sizeof(s_err), "send-%s.err", tag);
	snprintf(r_json, sizeof(r_json), "recv-%s.json", tag);
	snprintf(r_err, sizeof(r_err), "recv-%s.err", tag);
	path_of(c, "image", img, sizeof(img));
	rpid = spawn_dwcp(c, (char *const[]){ "dwcp", "recv", "--instance", c->inst_b, "--stream",
					      (char *)stream, "--out", (char *)out, "--json", NULL },
			  r_json, r_err);
	snprintf(cmd, sizeof(cmd), "dwcp recv --instance %s --stream %s --out %s --json", c->inst_b,
		 stream, out);
	if (rpid < 0) {
		fprintf(stderr, "dwcp bench transfer: cannot start `%s`\n", cmd);
		return -1;
	}
	sleep_ms(RECV_SETTLE_MS);
	if (waitpid(rpid, &rc, WNOHANG) == rpid) {   /* it gave up: say so rather than send into nothing */
		show_failure(c, cmd, WIFEXITED(rc) ? WEXITSTATUS(rc) : -ECHILD, r_err, r_json);
		return -1;
	}
	t0 = now_s();
	spid = spawn_dwcp(c, sargv, s_json, s_err);
	rc = spid < 0 ? -ECHILD : wait_child(spid, send_ms);
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "dwcp send --instance %s --stream %s --file %s --to b --json%s%s",
			 c->inst_a, stream, img, codec ? " --codec " : "", codec ? codec : "");
		show_failure(c, cmd, rc, s_err, s_json);
		wait_child(rpid, 0);
		return -1;
	}
	rc = wait_child(rpid, 30000);
	*wall_s = now_s() - t0;
	if (rc != 0) {
		show_failure(c, cmd, rc, r_err, r_json);
		return -1;
	}
	return 0;
}

void bench_xfer_run_one(struct bench_xfer_ctx *c, const char *stream, const char *out,
			const char *codec, const char *tag, struct bench_xfer_run *x)
{
	char s_json[48], r_json[48], out_path[128];
	struct bench_xfer_probe *before = calloc(2, sizeof(*before));
	double cpu0 = bench_xfer_children_cpu_s(), prof_cpu0, prof_smp0, prof_cpu1, prof_smp1;

	if (!before) {
		fprintf(stderr, "dwcp bench transfer: out of memory\n");
		return;
	}
	path_of(c, out, out_path, sizeof(out_path));
	bench_xfer_prof_read(c, &prof_cpu0, &prof_smp0);
	bench_xfer_probe_pair(c, &before[0]);
	if (send_recv(c, stream, out_path, codec, tag, &x->wall_s) == 0) {
		bench_xfer_probe_pair(c, &before[1]);
		/* Its samples are added every 2 s: let the last ones in. */
		usleep(2100000);
		bench_xfer_prof_read(c, &prof_cpu1, &prof_smp1);
		x->prof_cpu_s = prof_cpu1 - prof_cpu0;
		x->prof_samples = prof_smp1 - prof_smp0;
		x->client_cpu_s = bench_xfer_children_cpu_s() - cpu0;
		x->node_cpu_s = bench_xfer_probe_cpu_s(&before[0], &before[1]);
		x->simd_workers = before[1].simd_workers;
		x->net_workers = before[1].net_workers;
		x->dcache_bytes = before[1].dcache_bytes;
		snprintf(s_json, sizeof(s_json), "send-%s.json", tag);
		snprintf(r_json, sizeof(r_json), "recv-%s.json", tag);
		if (read_side(c, s_json, "bytes_in", &x->snd) || read_side(c, r_json, "bytes_out", &x->rcv)) {
			fprintf(stderr, "dwcp bench transfer: send or recv printed no JSON object (see below)\n");
			show_failure(c, "dwcp send / recv --json", 0, s_json, r_json);
		} else {
			x->identical = same_as_file(out_path, c->img, c->n);
			x->ok = 1;
			bench_xfer_probe_busiest(&before[0], &before[1], x->snd.thread_cpu_s,
						 x->rcv.thread_cpu_s, x->busiest);
		}
	}
	free(before);
}

/* ---- the nodes ------------------------------------------------------ */

/* A port nobody listens on now (the node binds it a moment later). */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Hugepage memory for a node on the built-in pool and delta cache (the
 * delta row is about the default cache, so it is not sized to the image),
 * and never less than the built-in [supervisor] hugepage_mb. */
static void size_nodes(struct bench_xfer_ctx *c)
{
	struct dwcp_config d;
	struct dwcp_shm_params p;
	unsigned need;

	dwcp_config_defaults(&d);
	p = (struct dwcp_shm_params){
		.n_bufs = d.pool_buffers, .buf_size = d.pool_buf_size, .link_depth = d.link_depth,
		.heartbeat_ms = d.heartbeat_ms, .spin_us = d.spin_us, .poll_mode = d.poll_mode,
		.dcache_size = (uint64_t)d.delta_cache_mb << 20, .instance = "size",
	};
	need = (unsigned)(dwcp_shm_size(&p) >> 20) + HUGE_SLACK_MB;
	c->hugepage_mb = need > d.hugepage_mb ? need : d.hugepage_mb;
}

static void show_node_log(const char *instance)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/%s/supervisor.log", dwcp_attach_run_dir(NULL), instance);
	fprintf(stderr, "  %s (end):\n", p);
	show_tail(p, 15);
}

/* @p net: its [net] and [peers]; @p workers: [simd] workers, 0 for the
 * built-in default. */
static int start_node(struct bench_xfer_ctx *c, const char *instance, const char *net,
		      unsigned workers, unsigned prof_port, int *up)
{
	char extra[1024], simd[160] = "", err[256];
	struct bench_node_cfg nc = { c->hugepage_mb, NODE_SERVICES, extra };

	if (workers)
		snprintf(simd, sizeof(simd), "[simd]\nworkers = %u\n", workers);
	/* The metrics endpoint, so the continuous profile (built-in
	 * sample_hz) runs and its cost can be read (transfer_prof.c). */
	snprintf(simd + strlen(simd), sizeof(simd) - strlen(simd), "[prof]\nlisten = 127.0.0.1:%u\n",
		 prof_port);
	if (c->sample_hz_set)
		snprintf(simd + strlen(simd), sizeof(simd) - strlen(simd), "sample_hz = %u\n", c->sample_hz);
	snprintf(extra, sizeof(extra), "%s[crypto]\nkey_file = %s/key\n[stream]\nindex_dir = %s/index\n%s",
		 net, c->dir, c->dir, simd);
	if (bench_node_start_cfg(c->bin_dir, instance, &nc, err, sizeof(err)) == 0) {
		*up = 1;
		return 0;
	}
	fprintf(stderr, "dwcp bench transfer: %s\n  its config:\n[supervisor]\nhugepage_mb = %u\n%s",
		err, c->hugepage_mb, extra);
	show_node_log(instance);
	/* A failed start may leave the run directory (log, lock) behind. */
	bench_node_stop(c->bin_dir, instance);
	return -1;
}

int bench_xfer_start_pair(struct bench_xfer_ctx *c, unsigned workers)
{
	char net[256], nw[32] = "";
	unsigned port_a = free_port(), port_b = free_port();

	c->prof_port_a = free_port();
	c->prof_port_b = free_port();
	unsigned ports[4] = { port_a, port_b, c->prof_port_a, c->prof_port_b };
	int bad = 0;

	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			bad |= !ports[i] || ports[i] == ports[j];
	if (bad) {
		fprintf(stderr, "dwcp bench transfer: no free loopback port\n");
		return -1;
	}
	if (c->o->net_workers)
		snprintf(nw, sizeof(nw), "workers = %u\n", c->o->net_workers);
	snprintf(net, sizeof(net),
		 "[net]\nlisten = 127.0.0.1:%u\nconnections = %u\n%s[peers]\na = 127.0.0.1:%u\n",
		 port_b, c->o->connections, nw, port_a);
	if (start_node(c, c->inst_b, net, workers, c->prof_port_b, &c->b_up))
		return -1;
	/* A listens too, on a port of its own: two nodes on one host must
	 * not both take a default port. */
	snprintf(net, sizeof(net),
		 "[net]\nlisten = 127.0.0.1:%u\nconnections = %u\n%s[peers]\nb = 127.0.0.1:%u\n",
		 port_a, c->o->connections, nw, port_b);
	if (start_node(c, c->inst_a, net, workers, c->prof_port_a, &c->a_up))
		return -1;
	/* svc-prof's sampler takes in the services (and reads their
	 * symbols, ~0.1 s once) at its next 2 s turn: a startup cost, kept out
	 * of the first transfer's sampling figures. */
	usleep(2500000);
	return 0;
}

void bench_xfer_stop_pair(struct bench_xfer_ctx *c)
{
	if (c->a_up)
		bench_node_stop(c->bin_dir, c->inst_a);
	if (c->b_up)
		bench_node_stop(c->bin_dir, c->inst_b);
	c->a_up = c->b_up = 0;
}

/* `dwcp send --help` works once the send command exists in this build. */
static int send_available(const struct bench_xfer_ctx *c)
{
	pid_t pid = spawn_dwcp(c, (char *const[]){ "dwcp", "send", "--help", NULL }, "probe.out",
			       "probe.out");

	return pid >= 0 && wait_child(pid, 10000) == 0;
}

int bench_xfer_prepare(struct bench_xfer_ctx *c)
{
	char key[128], idx[128];
	pid_t pid;
	int rc;

	if (!send_available(c)) {
		fprintf(stderr, "dwcp bench transfer: `dwcp send --help` fails in this build: "
				"end-to-end figures skipped\n");
		return -1;
	}
	path_of(c, "key", key, sizeof(key));
	path_of(c, "index", idx, sizeof(idx));
	if (mkdir(idx, 0700)) {
		fprintf(stderr, "dwcp bench transfer: cannot create %s: %s\n", idx, strerror(errno));
		return -1;
	}
	pid = spawn_dwcp(c, (char *const[]){ "dwcp", "keygen", key, NULL }, "keygen.out", "keygen.out");
	rc = pid < 0 ? -ECHILD : wait_child(pid, 10000);
	if (rc != 0) {
		show_failure(c, "dwcp keygen", rc, "keygen.out", "keygen.out");
		return -1;
	}
	size_nodes(c);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void bench_xfer_cleanup(struct bench_xfer_ctx *c)
{
	/* --json keeps stdout for the one object. */
	FILE *say = c->o->json ? stderr : stdout;

	if (c->o->keep) {
		if (c->a_up || c->b_up)
			fprintf(say, "\n--keep: nodes left running; stop them with\n"
				"  %s/dwcp-supervisor --instance %s stop; %s/dwcp-supervisor --instance %s stop\n",
				c->bin_dir, c->inst_a, c->bin_dir, c->inst_b);
		fprintf(say, "--keep: files left in %s (remove with rm -r %s)\n", c->dir, c->dir);
		return;
	}
	bench_xfer_stop_pair(c);
	/* Only our own mkdtemp directory, without following links out of it. */
	if (c->dir[0])
		nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
