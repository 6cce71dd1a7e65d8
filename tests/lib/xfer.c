/* Transfer-test helpers (xfer.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tests/lib/node.h"
#include "tests/lib/util.h"
#include "tests/lib/xfer.h"

#define PAGE 4096u

/* ---- test files ---- */

static void fill_fast_random(uint8_t *p, size_t n, uint64_t *s)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t r = dwcp_test_rand(s);

		memcpy(p + i, &r, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)(dwcp_test_rand(s) >> 32);
}

static int write_all_fd(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A text page: lines of words a memory image might hold (logs, config). */
static void fill_text(uint8_t *p, size_t n, uint64_t *s)
{
	static const char *const words[] = {
		"kernel", "vm42", "migration", "dirty", "page", "qemu", "virtio", "block",
		"memory", "host", "guest", "INFO", "WARN", "=", "0x7f", "ok", "\n", "eth0",
	};
	size_t i = 0;

	while (i < n) {
		const char *w = words[dwcp_test_rand(s) % (sizeof(words) / sizeof(words[0]))];
		size_t l = strlen(w);

		for (size_t j = 0; j < l && i < n; j++)
			p[i++] = (uint8_t)w[j];
		if (i < n)
			p[i++] = ' ';
	}
}

static int write_file(const char *path, uint64_t size, uint64_t seed, bool image)
{
	uint8_t *buf = malloc(1u << 20);
	uint64_t s = seed ? seed : 1, done = 0;
	int fd, rc = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	while (done < size && rc == 0) {
		size_t n = size - done > (1u << 20) ? (1u << 20) : (size_t)(size - done);

		if (!image) {
			fill_fast_random(buf, n, &s);
		} else {
			for (size_t off = 0; off < n; off += PAGE) {
				size_t l = n - off < PAGE ? n - off : PAGE;
				unsigned kind = (unsigned)(dwcp_test_rand(&s) % 10);

				if (kind < 4)
					memset(buf + off, 0, l);
				else if (kind < 7)
					fill_text(buf + off, l, &s);
				else
					fill_fast_random(buf + off, l, &s);
			}
		}
		rc = write_all_fd(fd, buf, n);
		done += n;
	}
	free(buf);
	if (close(fd) && rc == 0)
		rc = -errno;
	return rc;
}

int dwcp_xfer_make_image(const char *path, uint64_t size, uint64_t seed)
{
	return write_file(path, size, seed, true);
}

int dwcp_xfer_make_random(const char *path, uint64_t size, uint64_t seed)
{
	return write_file(path, size, seed, false);
}

int dwcp_xfer_touch_pages(const char *path, unsigned one_in, uint64_t seed, uint64_t *changed)
{
	uint64_t s = seed ? seed : 1, pages, n = 0;
	struct stat st;
	int fd, rc = 0;

	*changed = 0;
	if (one_in == 0)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	pages = (uint64_t)st.st_size / PAGE;   /* whole pages only */
	for (uint64_t g = 0; g + one_in <= pages && rc == 0; g += one_in) {
		uint64_t page = g + dwcp_test_rand(&s) % one_in;
		uint8_t buf[PAGE];

		if (pread(fd, buf, PAGE, (off_t)(page * PAGE)) != (ssize_t)PAGE) {
			rc = -EIO;
			break;
		}
		for (int k = 0; k < 4; k++) {
			uint64_t r = dwcp_test_rand(&s);

			buf[r % PAGE] ^= (uint8_t)(1u + (r >> 32) % 255u);
		}
		if (pwrite(fd, buf, PAGE, (off_t)(page * PAGE)) != (ssize_t)PAGE)
			rc = -EIO;
		n++;
	}
	if (close(fd) && rc == 0)
		rc = -errno;
	*changed = n;
	return rc;
}

int dwcp_xfer_sha256(const char *path, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	uint8_t *buf;
	EVP_MD_CTX *ctx;
	int fd, rc = 0;
	ssize_t r;

	hex[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(1u << 20);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rc = -ENOMEM;
		goto out;
	}
	while ((r = read(fd, buf, 1u << 20)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
	}
	EVP_DigestFinal_ex(ctx, md, &md_len);
	for (unsigned i = 0; i < md_len && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return rc;
}

long long dwcp_xfer_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

long long dwcp_xfer_recv_bytes(pid_t recv_pid, const char *out)
{
	char fd_dir[64], dir[PATH_MAX], link[PATH_MAX], p[PATH_MAX + 64];
	const char *slash = strrchr(out, '/');
	long long best = -1;
	struct dirent *d;
	struct stat st;
	size_t dlen;
	DIR *fds;

	snprintf(dir, sizeof(dir), "%.*s/", slash ? (int)(slash - out) : 1, slash ? out : ".");
	dlen = strlen(dir);
	snprintf(fd_dir, sizeof(fd_dir), "/proc/%d/fd", (int)recv_pid);
	fds = opendir(fd_dir);
	while (fds && (d = readdir(fds)) != NULL) {
		ssize_t n;

		snprintf(p, sizeof(p), "%s/%s", fd_dir, d->d_name);
		n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		/* The output's temporary: a regular file in --out's directory
		 * (an O_TMPFILE shows as "DIR/#INODE (deleted)"), not --out
		 * itself (the previous copy a resend reads). */
		if (strncmp(link, dir, dlen) == 0 && strcmp(link + dlen, slash ? slash + 1 : out) != 0 &&
		    stat(p, &st) == 0 && S_ISREG(st.st_mode) && (long long)st.st_size > best)
			best = (long long)st.st_size;
	}
	if (fds)
		closedir(fds);
	return best >= 0 ? best : dwcp_xfer_file_size(out);
}

/* ---- commands in the background ---- */

static unsigned proc_counter;

int dwcp_xfer_spawn(struct dwcp_xfer_proc *p, const char *what, const char *netns,
		    char *const argv[])
{
	int o, e, nsfd = -1;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	snprintf(p->what, sizeof(p->what), "%s", what);
	proc_counter++;
	snprintf(p->out_path, sizeof(p->out_path), "/tmp/dwcp-xfer-%d-%u.out", (int)getpid(),
		 proc_counter);
	snprintf(p->err_path, sizeof(p->err_path), "/tmp/dwcp-xfer-%d-%u.err", (int)getpid(),
		 proc_counter);
	if (netns) {
		char nsp[128];

		snprintf(nsp, sizeof(nsp), "/run/netns/%s", netns);
		nsfd = open(nsp, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			return -errno;
	}
	o = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	e = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (o < 0 || e < 0) {
		int rc = -errno;

		if (o >= 0)
			close(o);
		if (e >= 0)
			close(e);
		if (nsfd >= 0)
			close(nsfd);
		return rc;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET)) {
			dprintf(e, "setns %s: %s\n", netns, strerror(errno));
			_exit(126);
		}
		dup2(nul, 0);
		dup2(o, 1);
		dup2(e, 2);
		close_range(3, ~0u, 0);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(o);
	close(e);
	if (nsfd >= 0)
		close(nsfd);
	if (pid < 0)
		return -errno;
	p->pid = pid;
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;
	size_t got;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0)
		n = 0;
	buf = malloc((size_t)n + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	got = fread(buf, 1, (size_t)n, f);
	buf[got] = '\0';
	fclose(f);
	return buf;
}

static void reaped(struct dwcp_xfer_proc *p, int st)
{
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	p->done = true;
	p->pid = 0;
}

bool dwcp_xfer_running(struct dwcp_xfer_proc *p)
{
	int st;

	if (p->done || p->pid <= 0)
		return false;
	if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
		reaped(p, st);
		return false;
	}
	return true;
}

int dwcp_xfer_wait(struct dwcp_xfer_proc *p, unsigned timeout_ms)
{
	uint64_t deadline = dwcp_test_now_ms() + timeout_ms;

	while (dwcp_xfer_running(p)) {
		if (dwcp_test_now_ms() > deadline) {
			int st;

			fprintf(stderr, "%s (pid %d) did not finish within %u ms (hang guard): killed\n",
				p->what, (int)p->pid, timeout_ms);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			p->pid = 0;
			p->done = true;
			p->status = -ETIMEDOUT;
			break;
		}
		dwcp_test_sleep_ms(20);
	}
	free(p->out);
	free(p->err);
	p->out = slurp(p->out_path);
	p->err = slurp(p->err_path);
	return p->status;
}

void dwcp_xfer_print(const struct dwcp_xfer_proc *p)
{
	fprintf(stderr, "---- %s: %s %d\nstdout:\n%s\nstderr:\n%s\n----\n", p->what,
		!p->done ? "still running, pid" : p->status == -ETIMEDOUT ? "hang guard, status" :
								  "exit status",
		p->done ? p->status : (int)p->pid, p->out ? p->out : "(not read)",
		p->err ? p->err : "(not read)");
}

void dwcp_xfer_proc_free(struct dwcp_xfer_proc *p)
{
	if (p->pid > 0 && !p->done) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
		p->done = true;
	}
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
	if (p->out_path[0])
		unlink(p->out_path);
	if (p->err_path[0])
		unlink(p->err_path);
	p->out_path[0] = p->err_path[0] = '\0';
}

/* Every thread of @p pid stopped (or gone): SIGSTOP is delivered to each
 * thread in turn, and one still running could write and acknowledge. */
static bool all_threads_stopped(pid_t pid)
{
	char dir[64], path[64 + 256 + 8], buf[512];
	struct dirent *e;
	bool all = true;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d)
		return true;
	while (all && (e = readdir(d)) != NULL) {
		const char *state;
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			continue;   /* the thread just exited */
		buf[n] = '\0';
		/* "TID (COMM) S ...": COMM may hold ')' itself. */
		state = strrchr(buf, ')');
		if (state && state[1] == ' ' && !strchr("TtZX", state[2]))
			all = false;
	}
	closedir(d);
	return all;
}

long long dwcp_xfer_hold_recv_at(struct dwcp_xfer_proc *rcv, struct dwcp_xfer_proc *other,
				 const char *out, uint64_t at, unsigned guard_ms)
{
	uint64_t end = dwcp_test_now_ms() + guard_ms;

	while (dwcp_xfer_running(rcv) && (!other || dwcp_xfer_running(other)) &&
	       dwcp_test_now_ms() < end) {
		long long seen;

		if (kill(rcv->pid, SIGSTOP))
			break;
		for (unsigned i = 0; i < 20000 && !all_threads_stopped(rcv->pid); i++)
			usleep(100);
		seen = dwcp_xfer_recv_bytes(rcv->pid, out);
		if (seen >= (long long)at)
			return seen;
		kill(rcv->pid, SIGCONT);
		usleep(2000);
	}
	return -1;
}

void dwcp_xfer_release(struct dwcp_xfer_proc *p)
{
	if (p->pid > 0 && !p->done)
		kill(p->pid, SIGCONT);
}

/* ---- dwcp send / recv ---- */

const char *dwcp_xfer_cli(void)
{
	static char path[PATH_MAX];

	if (!path[0])
		snprintf(path, sizeof(path), "%s/dwcp", dwcp_test_bin_dir());
	return path;
}

int dwcp_xfer_recv_start(struct dwcp_xfer_proc *p, const char *netns, const char *instance,
			 const char *stream, const char *out, unsigned timeout_s)
{
	return dwcp_xfer_recv_start_extra(p, netns, instance, stream, out, timeout_s, NULL);
}

int dwcp_xfer_recv_start_extra(struct dwcp_xfer_proc *p, const char *netns, const char *instance,
			       const char *stream, const char *out, unsigned timeout_s,
			       const char *const *extra)
{
	char t[16], *argv[32];
	unsigned n = 0;
	int rc;

	snprintf(t, sizeof(t), "%u", timeout_s);
	argv[n++] = (char *)dwcp_xfer_cli();
	argv[n++] = "recv";
	argv[n++] = "--instance";
	argv[n++] = (char *)instance;
	argv[n++] = "--stream";
	argv[n++] = (char *)stream;
	argv[n++] = "--out";
	argv[n++] = (char *)out;
	argv[n++] = "--json";
	argv[n++] = "--timeout";
	argv[n++] = t;
	for (; extra && *extra && n < 31; extra++)
		argv[n++] = (char *)*extra;
	argv[n] = NULL;
	rc = dwcp_xfer_spawn(p, "dwcp recv", netns, argv);
	/* A send started before the receiver registered gets its first chunks
	 * answered "no receiver" and resent later: correct, but it hides what
	 * a test aims at (a tampered frame never reaches the pipeline). So
	 * wait until the node lists the stream (hang guard 30 s), or recv
	 * ended. */
	for (unsigned waited = 0; rc == 0 && waited < 30000 && dwcp_xfer_running(p); waited += 10) {
		cJSON *st = dwcp_test_status(instance, NULL);
		const cJSON *e, *list = st ? cJSON_GetObjectItemCaseSensitive(st, "streams") : NULL;
		bool found = false;

		cJSON_ArrayForEach(e, list) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
			const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "role");

			found |= cJSON_IsString(n) && strcmp(n->valuestring, stream) == 0 &&
				 cJSON_IsString(r) && strcmp(r->valuestring, "recv") == 0;
		}
		cJSON_Delete(st);
		if (found)
			break;
		dwcp_test_sleep_ms(10);
	}
	return rc;
}

int dwcp_xfer_send_start(struct dwcp_xfer_proc *p, const char *instance, const char *stream,
			 const char *file, const char *to, unsigned timeout_s,
			 const char *const *extra)
{
	char t[16], *argv[32];
	unsigned n = 0;

	snprintf(t, sizeof(t), "%u", timeout_s);
	argv[n++] = (char *)dwcp_xfer_cli();
	argv[n++] = "send";
	argv[n++] = "--instance";
	argv[n++] = (char *)instance;
	argv[n++] = "--stream";
	argv[n++] = (char *)stream;
	argv[n++] = "--file";
	argv[n++] = (char *)file;
	argv[n++] = "--to";
	argv[n++] = (char *)to;
	argv[n++] = "--json";
	argv[n++] = "--timeout";
	argv[n++] = t;
	for (; extra && *extra && n < 31; extra++)
		argv[n++] = (char *)*extra;
	argv[n] = NULL;
	return dwcp_xfer_spawn(p, "dwcp send", NULL, argv);
}

cJSON *dwcp_xfer_json(const char *text)
{
	const char *p = text ? strchr(text, '{') : NULL;

	for (; p; p = strchr(p + 1, '{')) {
		cJSON *j = cJSON_ParseWithOpts(p, NULL, false);

		if (cJSON_IsObject(j))
			return j;
		cJSON_Delete(j);
	}
	return NULL;
}

double dwcp_xfer_json_num(const char *text, const char *field)
{
	cJSON *j = dwcp_xfer_json(text);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;

	cJSON_Delete(j);
	return d;
}

/* ---- ports, keys, shell ---- */

static bool port_free(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

void dwcp_xfer_ports(int *ports, unsigned n)
{
	int p = 20000 + (int)(getpid() % 20000);

	for (unsigned i = 0; i < n; i++) {
		while (!port_free(p))
			p = p + 1 >= 65000 ? 20000 : p + 1;
		ports[i] = p;
		p = p + 1 >= 65000 ? 20000 : p + 1;
	}
}

int dwcp_xfer_keygen(const char *path)
{
	char out[1024], err[1024];
	int rc;

	unlink(path);
	rc = dwcp_test_run((char *const[]){ (char *)dwcp_xfer_cli(), "keygen", (char *)path, NULL },
			   out, sizeof(out), err, sizeof(err), 30000);
	if (rc)
		fprintf(stderr, "dwcp keygen %s: exit %d\n%s%s\n", path, rc, out, err);
	return rc;
}

int dwcp_xfer_sh(char *out, size_t out_n, const char *fmt, ...)
{
	char cmd[2048], full[2200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "PATH=/usr/sbin:/usr/bin:/sbin:/bin; exec 2>&1; %s", cmd);
	return dwcp_test_run((char *const[]){ "/bin/sh", "-c", full, NULL }, out, out_n, NULL, 0,
			     60000);
}

/* ---- guardian ---- */

int dwcp_xfer_guard_start(struct dwcp_xfer_guard *g, const char *cleanup)
{
	int p[2];
	pid_t pid;

	memset(g, 0, sizeof(*g));
	snprintf(g->cleanup, sizeof(g->cleanup), "%s", cleanup);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char c;
		ssize_t r;

		setsid();
		close(p[1]);
		if (p[0] > 3)
			close_range(3, (unsigned)p[0] - 1, 0);
		close_range((unsigned)p[0] + 1, ~0u, 0);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		do
			r = read(p[0], &c, 1);
		while (r < 0 && errno == EINTR);
		if (r == 1)
			_exit(0);
		fprintf(stderr, "guardian: the test process ended without cleaning up: %s\n",
			g->cleanup);
		dwcp_xfer_sh(NULL, 0, "%s", g->cleanup);
		_exit(0);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return -errno;
	}
	g->pid = pid;
	g->fd = p[1];
	return 0;
}

void dwcp_xfer_guard_release(struct dwcp_xfer_guard *g)
{
	char out[2048];
	void (*old)(int);

	if (!g->pid)
		return;
	if (dwcp_xfer_sh(out, sizeof(out), "%s", g->cleanup))
		fprintf(stderr, "cleanup '%s': %s\n", g->cleanup, out);
	old = signal(SIGPIPE, SIG_IGN);
	if (write(g->fd, "d", 1) != 1) {
		/* it is gone already */
	}
	signal(SIGPIPE, old);
	close(g->fd);
	waitpid(g->pid, NULL, 0);
	g->pid = 0;
}

/* ---- network namespaces ---- */

int dwcp_xfer_netns_create(struct dwcp_xfer_netns *n)
{
	unsigned pid = (unsigned)getpid();
	unsigned x = 100 + (pid >> 8) % 100, y = pid & 0xff;
	char out[2048], cleanup[512];
	int rc;

	memset(n, 0, sizeof(*n));
	snprintf(n->ns, sizeof(n->ns), "dwcpN%u", pid);
	snprintf(n->veth_a, sizeof(n->veth_a), "dwA%u", pid % 100000000u);
	snprintf(n->veth_b, sizeof(n->veth_b), "dwB%u", pid % 100000000u);
	snprintf(n->ip_a, sizeof(n->ip_a), "10.%u.%u.1", x, y);
	snprintf(n->ip_b, sizeof(n->ip_b), "10.%u.%u.2", x, y);
	snprintf(cleanup, sizeof(cleanup), "ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null; true",
		 n->veth_a, n->ns);
	rc = dwcp_xfer_guard_start(&n->guard, cleanup);
	if (rc)
		return rc;
	n->created = true;
	rc = dwcp_xfer_sh(out, sizeof(out),
			  "set -e; ip netns add %s; ip link add %s type veth peer name %s;"
			  " ip link set %s netns %s;"
			  " ip addr add %s/30 dev %s; ip link set %s up;"
			  " ip -n %s addr add %s/30 dev %s; ip -n %s link set %s up;"
			  " ip -n %s link set lo up",
			  n->ns, n->veth_a, n->veth_b, n->veth_b, n->ns, n->ip_a, n->veth_a,
			  n->veth_a, n->ns, n->ip_b, n->veth_b, n->ns, n->veth_b, n->ns);
	if (rc)
		fprintf(stderr, "netns/veth setup failed (exit %d):\n%s\n", rc, out);
	return rc;
}

void dwcp_xfer_netns_destroy(struct dwcp_xfer_netns *n)
{
	if (!n->created)
		return;
	n->created = false;
	dwcp_xfer_guard_release(&n->guard);
}

static int saved_netns = -1;

int dwcp_xfer_netns_enter(const char *ns)
{
	char p[128];
	int fd, rc = 0;

	if (saved_netns < 0) {
		saved_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (saved_netns < 0)
			return -errno;
	}
	snprintf(p, sizeof(p), "/run/netns/%s", ns);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		rc = -errno;
	close(fd);
	return rc;
}

int dwcp_xfer_netns_leave(void)
{
	int rc = 0;

	if (saved_netns < 0)
		return 0;
	if (setns(saved_netns, CLONE_NEWNET))
		rc = -errno;
	close(saved_netns);
	saved_netns = -1;
	return rc;
}

/* ---- two nodes ---- */

static const char *or_default(const char *s, const char *d)
{
	return s ? s : d;
}

int dwcp_xfer_pair_start(struct dwcp_xfer_pair *p, const struct dwcp_xfer_pair_cfg *c)
{
	enum { MAXO = 40 };
	char la[96], lb[96], pa[96], pb[96], ka[300], kb[300], hp[64], cm[64], cmb[64], cn[64], name[32];
	const char *oa[MAXO], *ob[MAXO];
	/* The built-in chunks, window and pool (tests/lib/node.c's small pool
	 * would otherwise apply) in the built-in hugepage memory. */
	const char *common[] = { "net.resend_ms = 2000", "pool.buf_size = 266240",
				 "pool.buffers = 1024", hp, cn, NULL };
	unsigned na = 0, nb = 0;
	int ports[3], rc;

	memset(p, 0, sizeof(*p));
	dwcp_xfer_ports(ports, 3);
	p->port_a = ports[0];
	p->port_b = ports[1];
	p->port_extra = ports[2];
	snprintf(p->addr_b, sizeof(p->addr_b), "%s:%d", or_default(c->host_b, "127.0.0.1"),
		 p->port_b);
	snprintf(p->netns_b, sizeof(p->netns_b), "%s", c->netns_b ? c->netns_b : "");
	snprintf(hp, sizeof(hp), "supervisor.hugepage_mb = %u", c->hugepage_mb ? c->hugepage_mb : 512);
	snprintf(cn, sizeof(cn), "net.connections = %u", c->connections ? c->connections : 4);
	snprintf(la, sizeof(la), "net.listen = %s:%d", or_default(c->host_a, "127.0.0.1"), p->port_a);
	snprintf(lb, sizeof(lb), "net.listen = %s", p->addr_b);
	if (c->via_extra_port)
		snprintf(pa, sizeof(pa), "peers.nodeb = 127.0.0.1:%d", p->port_extra);
	else
		snprintf(pa, sizeof(pa), "peers.nodeb = %s", p->addr_b);
	snprintf(pb, sizeof(pb), "peers.nodea = %s:%d", or_default(c->host_a, "127.0.0.1"),
		 p->port_a);
	for (const char *const *o = common; *o; o++) {
		oa[na++] = *o;
		ob[nb++] = *o;
	}
	if (c->cache_mb) {
		snprintf(cm, sizeof(cm), "mem.delta_cache_mb = %u", c->cache_mb);
		oa[na++] = cm;
		ob[nb++] = cm;
	}
	if (c->cache_mb_b) {
		snprintf(cmb, sizeof(cmb), "mem.delta_cache_mb = %u", c->cache_mb_b);
		ob[nb++] = cmb;   /* the later key wins */
	}
	oa[na++] = la;
	oa[na++] = pa;
	ob[nb++] = lb;
	ob[nb++] = pb;
	if (c->key_a) {
		snprintf(ka, sizeof(ka), "crypto.key_file = %s", c->key_a);
		oa[na++] = ka;
	}
	if (c->key_b) {
		snprintf(kb, sizeof(kb), "crypto.key_file = %s", c->key_b);
		ob[nb++] = kb;
	}
	for (const char *const *o = c->extra; o && *o && na < MAXO - 1; o++) {
		oa[na++] = *o;
		ob[nb++] = *o;
	}
	for (const char *const *o = c->extra_a; o && *o && na < MAXO - 1; o++)
		oa[na++] = *o;
	for (const char *const *o = c->extra_b; o && *o && nb < MAXO - 1; o++)
		ob[nb++] = *o;
	oa[na] = NULL;
	ob[nb] = NULL;

	if (!c->no_b) {
		snprintf(name, sizeof(name), "xb-%s", c->tag);
		if (c->netns_b && (rc = dwcp_xfer_netns_enter(c->netns_b)) != 0) {
			fprintf(stderr, "cannot enter netns %s: %s\n", c->netns_b, strerror(-rc));
			return 'B';
		}
		rc = dwcp_test_node_start(&p->b, name, ob);
		if (c->netns_b)
			dwcp_xfer_netns_leave();
		if (rc)
			return 'B';
	}
	snprintf(name, sizeof(name), "xa-%s", c->tag);
	if (dwcp_test_node_start(&p->a, name, oa))
		return 'A';
	return 0;
}

void dwcp_xfer_pair_stop(struct dwcp_xfer_pair *p)
{
	dwcp_test_node_stop(&p->a);
	dwcp_test_node_stop(&p->b);
}

void dwcp_xfer_pair_dump(const struct dwcp_xfer_pair *p, const char *why)
{
	if (p->a.instance[0])
		dwcp_test_dump(p->a.instance, why);
	if (p->b.instance[0])
		dwcp_test_dump(p->b.instance, why);
}

void dwcp_xfer_pair_save_logs(const struct dwcp_xfer_pair *p, const char *dest)
{
	const struct dwcp_test_node *n[2] = { &p->a, &p->b };

	for (unsigned i = 0; i < 2; i++)
		if (n[i]->instance[0] && n[i]->inst_dir[0])
			dwcp_xfer_sh(NULL, 0, "mkdir -p '%s/%s' && cp -p '%s'/*.log '%s/%s/' 2>/dev/null; true",
				     dest, n[i]->instance, n[i]->inst_dir, dest, n[i]->instance);
}

/* ---- comparing files ---- */

static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int dwcp_xfer_first_diff(const char *a, const char *b, uint64_t block, long long *first,
			 uint64_t *blocks)
{
	uint8_t *ba = NULL, *bb = NULL;
	int fa, fb, rc = 0;
	uint64_t off = 0;

	*first = -1;
	*blocks = 0;
	if (!block)
		return -EINVAL;
	fa = open(a, O_RDONLY | O_CLOEXEC);
	fb = open(b, O_RDONLY | O_CLOEXEC);
	ba = malloc(block);
	bb = malloc(block);
	if (fa < 0 || fb < 0 || !ba || !bb) {
		rc = fa < 0 || fb < 0 ? -errno : -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t ra = read_full(fa, ba, block), rb = read_full(fb, bb, block);
		size_t common;

		if (ra < 0 || rb < 0) {
			rc = ra < 0 ? (int)ra : (int)rb;
			goto out;
		}
		if (ra == 0 && rb == 0)
			break;
		common = (size_t)(ra < rb ? ra : rb);
		if (ra != rb || memcmp(ba, bb, common)) {
			(*blocks)++;
			if (*first < 0) {
				size_t k = 0;

				while (k < common && ba[k] == bb[k])
					k++;
				*first = (long long)(off + k);
			}
		}
		off += block;
	}
	rc = *blocks ? 1 : 0;
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(ba);
	free(bb);
	return rc;
}

void dwcp_xfer_rmdir(char *dir)
{
	char cmd[160];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	dir[0] = '\0';
}
