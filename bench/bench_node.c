/* Starting and stopping a benchmark's own node (bench_node.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/attach.h"
#include "ipc/ctl_msg.h"
#include "bench_node.h"

extern char **environ;

static int run(const char *bin_dir, char *const argv[])
{
	char path[600];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;

	snprintf(path, sizeof(path), "%s/dwcp-supervisor", bin_dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, path, &fa, NULL, argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int bench_node_start(const char *bin_dir, const char *instance, int poll_mode, char *err,
		     size_t err_len)
{
	char cfg[64];
	FILE *f;
	int fd, rc;

	snprintf(cfg, sizeof(cfg), "/tmp/dwcp-bench-XXXXXX");
	fd = mkstemp(cfg);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		snprintf(err, err_len, "cannot write a config file in /tmp");
		return -1;
	}
	fprintf(f, "[supervisor]\nhugepage_mb = 256\n[pool]\nbuffers = 1024\nbuf_size = %u\n"
		   "[runtime]\npoll_mode = %s\n[services]\nenable = svc-simd\n",
		BENCH_BUF_SIZE, poll_mode ? "true" : "false");
	fclose(f);
	rc = run(bin_dir, (char *const[]){ "dwcp-supervisor", "--instance", (char *)instance,
					   "--config", cfg, "start", NULL });
	unlink(cfg);
	if (rc != 0)
		snprintf(err, err_len, "could not start a bench node (instance %s): see %s/%s/supervisor.log",
			 instance, dwcp_attach_run_dir(NULL), instance);
	return rc ? -1 : 0;
}

int bench_node_start_cfg(const char *bin_dir, const char *instance,
			 const struct bench_node_cfg *c, char *err, size_t err_len)
{
	char cfg[64];
	FILE *f;
	int fd, rc;

	snprintf(cfg, sizeof(cfg), "/tmp/dwcp-bench-XXXXXX");
	fd = mkstemp(cfg);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		snprintf(err, err_len, "cannot write a config file in /tmp");
		return -1;
	}
	fprintf(f, "[supervisor]\nhugepage_mb = %u\n", c->hugepage_mb);
	if (c->services)
		fprintf(f, "[services]\nenable = %s\n", c->services);
	fprintf(f, "%s", c->extra ? c->extra : "");
	fclose(f);
	rc = run(bin_dir, (char *const[]){ "dwcp-supervisor", "--instance", (char *)instance,
					   "--config", cfg, "start", NULL });
	unlink(cfg);
	if (rc != 0)
		snprintf(err, err_len, "could not start a bench node (instance %s): see %s/%s/supervisor.log",
			 instance, dwcp_attach_run_dir(NULL), instance);
	return rc ? -1 : 0;
}

/* A bench node is throw-away: after it stops, its run directory (log,
 * lock) goes too, so repeated runs leave nothing in /run. */
static void remove_run_dir(const char *instance)
{
	static const char *const files[] = { "supervisor.log", "supervisor.lock", "attach.lock" };
	char p[300];

	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s/%s", dwcp_attach_run_dir(NULL), instance, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/%s", dwcp_attach_run_dir(NULL), instance);
	rmdir(p);
}

void bench_node_stop(const char *bin_dir, const char *instance)
{
	if (run(bin_dir, (char *const[]){ "dwcp-supervisor", "--instance", (char *)instance, "stop",
					  NULL }) == 0)
		remove_run_dir(instance);
}

cJSON *bench_node_status(const char *instance)
{
	struct dwcp_err err = { 0 };
	struct dwcp_ctl_req req;
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	cJSON *root = NULL;
	int fd = buf ? dwcp_ctl_connect(dwcp_attach_run_dir(NULL), instance, &err) : -1;

	if (fd >= 0) {
		dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
		if (dwcp_ctl_call(fd, &req, buf, DWCP_CTL_REPLY_MAX, 10000, &h, &payload, &err) == 0 &&
		    h->status == 0)
			root = cJSON_Parse(payload);
		close(fd);
	}
	free(buf);
	return root;
}
