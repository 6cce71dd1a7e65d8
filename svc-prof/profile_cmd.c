/* `svc-prof profile` (what `dwcpctl profile` runs): sample a running
 * node's services for a while and write where their CPU time went, as
 * folded stacks (FILE.folded) and an SVG flame graph (FILE), with the
 * hottest functions on stdout.
 *
 * The services' pids come from the supervisor's status (the control
 * socket, ipc/ctl_msg.h); sampling needs no attach to the node, so a
 * profile never disturbs the data path beyond the sampling itself
 * (cpu-clock interrupts at --hz per thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "ipc/attach.h"
#include "ipc/ctl_msg.h"
#include "profile.h"

#define MAX_TARGETS 64u
#define TOP_N       12u

struct targets {
	pid_t pid[MAX_TARGETS];
	char name[MAX_TARGETS][32];
	unsigned n;
};

static const char *name_of(uint32_t pid, void *arg)
{
	const struct targets *t = arg;

	for (unsigned i = 0; i < t->n; i++)
		if ((uint32_t)t->pid[i] == pid)
			return t->name[i];
	return "?";
}

static void usage(FILE *f)
{
	fprintf(f, "usage: svc-prof profile [--instance NAME] [--run-dir DIR] [--seconds N] [--hz HZ]\n"
		   "                        --out FILE.svg SERVICE|all\n"
		   "  samples the call stacks of SERVICE (all its workers) or of every service of\n"
		   "  the running node for N seconds (default 10) at HZ per thread (default 99),\n"
		   "  writes an SVG flame graph to FILE.svg and folded stacks to FILE.folded\n");
}

/* The pids of @p which ("svc-simd": every worker of it; "all") from status. */
static int find_targets(const char *run_dir, const char *instance, const char *which,
			struct targets *t)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	struct dwcp_ctl_req req;
	struct dwcp_err err = { 0 };
	const cJSON *s;
	cJSON *root = NULL;
	int fd, rc = -1;

	if (!buf)
		return -1;
	fd = dwcp_ctl_connect(run_dir, instance, &err);
	if (fd < 0) {
		fprintf(stderr, "svc-prof profile: %s\n", err.msg);
		goto out;
	}
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	rc = dwcp_ctl_call(fd, &req, buf, DWCP_CTL_REPLY_MAX, 10000, &h, &payload, &err);
	close(fd);
	if (rc || h->status || !(root = cJSON_Parse(payload))) {
		fprintf(stderr, "svc-prof profile: no status from %s: %s\n", instance,
			rc ? err.msg : "bad reply");
		rc = -1;
		goto out;
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "services")) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");
		const cJSON *of = cJSON_GetObjectItemCaseSensitive(s, "service");
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(s, "pid");

		if (!cJSON_IsString(nm) || !cJSON_IsNumber(pid) || pid->valuedouble <= 0 ||
		    t->n == MAX_TARGETS)
			continue;
		if (strcmp(which, "all") && strcmp(which, nm->valuestring) &&
		    !(cJSON_IsString(of) && !strcmp(which, of->valuestring)))
			continue;
		t->pid[t->n] = (pid_t)pid->valuedouble;
		snprintf(t->name[t->n], sizeof(t->name[0]), "%s", nm->valuestring);
		t->n++;
	}
	rc = 0;
	if (!t->n) {
		fprintf(stderr, "svc-prof profile: no running service '%s' on %s (dwcpctl status lists them)\n",
			which, instance);
		rc = -1;
	}
out:
	cJSON_Delete(root);
	free(buf);
	return rc;
}

struct leaf {
	const char *name;
	size_t len;
	unsigned long long n;
};

static int by_count(const void *a, const void *b)
{
	const struct leaf *x = a, *y = b;

	return (x->n < y->n) - (x->n > y->n);
}

/* The functions samples ended in, most first. */
static void print_top(const char *folded, unsigned long long total)
{
	struct leaf *v = NULL;
	size_t n = 0;

	for (const char *line = folded; *line;) {
		const char *eol = strchr(line, '\n'), *sp, *semi;

		if (!eol)
			break;
		sp = eol;
		while (sp > line && sp[-1] != ' ')
			sp--;
		semi = sp - 1;
		while (semi > line && semi[-1] != ';')
			semi--;
		size_t len = (size_t)(sp - 1 - semi);
		size_t i;

		for (i = 0; i < n; i++)
			if (v[i].len == len && !memcmp(v[i].name, semi, len))
				break;
		if (i == n) {
			struct leaf *t = realloc(v, (n + 1) * sizeof(*v));

			if (!t)
				break;
			v = t;
			v[n++] = (struct leaf){ semi, len, 0 };
		}
		v[i].n += strtoull(sp, NULL, 10);
		line = eol + 1;
	}
	qsort(v, n, sizeof(*v), by_count);
	for (size_t i = 0; i < n && i < TOP_N; i++)
		printf("  %5.1f%%  %.*s\n", 100.0 * (double)v[i].n / (double)total, (int)v[i].len, v[i].name);
	free(v);
}

static int write_file(const char *path, const char *folded, const char *title, bool svg)
{
	FILE *f = fopen(path, "we");
	int rc;

	if (!f) {
		fprintf(stderr, "svc-prof profile: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = svg ? dwcp_prof_flame_svg(folded, title, f) : (fputs(folded, f) < 0 ? -1 : 0);
	if (fclose(f) || rc) {
		fprintf(stderr, "svc-prof profile: writing %s failed\n", path);
		return -1;
	}
	return 0;
}

int dwcp_prof_cli(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' }, { "hz", required_argument, NULL, 'z' },
		{ "out", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *instance = DWCP_DEFAULT_INSTANCE, *run_dir = NULL, *out = NULL;
	unsigned long seconds = 10, hz = 99;
	struct dwcp_prof_samples smp = { 0 };
	struct dwcp_prof_symbols *S = NULL;
	struct targets t = { .n = 0 };
	char why[256], folded_path[4096], title[256], *end, *folded = NULL;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': instance = optarg; break;
		case 'r': run_dir = optarg; break;
		case 'o': out = optarg; break;
		case 's':
			seconds = strtoul(optarg, &end, 10);
			if (*end || !seconds || seconds > 3600) {
				fprintf(stderr, "svc-prof profile: --seconds '%s': give 1..3600\n", optarg);
				return 2;
			}
			break;
		case 'z':
			hz = strtoul(optarg, &end, 10);
			if (*end || !hz || hz > 10000) {
				fprintf(stderr, "svc-prof profile: --hz '%s': give 1..10000 samples per second\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc || !out) {
		fprintf(stderr, "svc-prof profile: %s\n", !out ? "--out FILE.svg is required" :
			"name one SERVICE (svc-simd, svc-simd.1, ...) or all");
		usage(stderr);
		return 2;
	}
	snprintf(folded_path, sizeof(folded_path), "%.*s.folded",
		 (int)(strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".svg") ? strlen(out) - 4 : strlen(out)),
		 out);
	if (find_targets(dwcp_attach_run_dir(run_dir), instance, argv[optind], &t))
		return 1;
	printf("sampling %u process(es) of %s for %lu s at %lu Hz per thread ...\n", t.n, instance,
	       seconds, hz);
	fflush(stdout);
	if (dwcp_prof_sample(t.pid, t.n, (unsigned)hz, (unsigned)seconds, &smp, why, sizeof(why))) {
		fprintf(stderr, "svc-prof profile: %s\n", why);
		goto done;
	}
	S = dwcp_prof_symbols_new();
	folded = S ? dwcp_prof_fold(&smp, S, name_of, &t) : NULL;
	if (!folded) {
		fprintf(stderr, "svc-prof profile: out of memory\n");
		goto done;
	}
	snprintf(title, sizeof(title), "dwcp %s: %s, %zu samples over %lu s at %lu Hz (cpu-clock)",
		 instance, argv[optind], smp.n, seconds, hz);
	if (write_file(out, folded, title, true) || write_file(folded_path, folded, title, false))
		goto done;
	printf("%zu samples from %u threads (%llu lost, %llu over the bound); flame graph %s, folded stacks %s\n",
	       smp.n, smp.threads, (unsigned long long)smp.lost, (unsigned long long)smp.dropped, out,
	       folded_path);
	if (smp.n) {
		printf("where the samples ended:\n");
		print_top(folded, smp.n);
	} else {
		printf("no samples: the services were idle (a sleeping thread is not sampled)\n");
	}
	rc = 0;
done:
	free(folded);
	dwcp_prof_symbols_free(S);
	dwcp_prof_samples_free(&smp);
	return rc;
}
