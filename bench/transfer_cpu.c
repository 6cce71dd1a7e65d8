/* CPU time of a `dwcp bench transfer` run. The nodes' processes are not
 * our children (the supervisor daemonizes), so their utime+stime comes
 * from /proc/<pid>/stat of every pid the supervisors' status lists
 * (supervisor, services, successors, hot standbys), read before and
 * after the transfer; send and recv are ours, so theirs comes from
 * getrusage(RUSAGE_CHILDREN) once both have been waited for.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench_node.h"
#include "transfer_pvt.h"

/* utime + stime of @p pid in seconds (fields 14 and 15 of its stat,
 * counted after the ")" that ends its name, which may hold spaces);
 * NAN when it is gone. */
static double proc_cpu_s(pid_t pid)
{
	char p[64], buf[1024], *at, *end;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return NAN;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	at = strrchr(buf, ')');
	/* Each pass moves @p at to the space before field + 1: before 14 at the end. */
	for (unsigned field = 2; at && field < 14; field++)
		at = strchr(at + 1, ' ');
	if (!at)
		return NAN;
	ut = strtoull(at + 1, &end, 10);
	st = strtoull(end, &end, 10);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void probe_add(struct bench_xfer_probe *pr, double pid)
{
	double s;

	if (!(pid > 0) || pr->n == MAX_PIDS)
		return;
	s = proc_cpu_s((pid_t)pid);
	if (isnan(s))
		return;
	pr->p[pr->n].pid = (pid_t)pid;
	pr->p[pr->n++].s = s;
}

static double obj_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Every pid @p instance's supervisor lists: itself, each service, and
 * a successor or hot standby where one runs (they spin and count too). */
static void probe_node(const char *instance, int is_a, struct bench_xfer_probe *pr)
{
	cJSON *root = bench_node_status(instance), *sv;
	const cJSON *it;

	if (!root)
		return;
	probe_add(pr, obj_num(cJSON_GetObjectItemCaseSensitive(root, "supervisor"), "pid"));
	sv = cJSON_GetObjectItemCaseSensitive(root, "services");
	cJSON_ArrayForEach(it, sv) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "service");

		probe_add(pr, obj_num(it, "pid"));
		probe_add(pr, obj_num(it, "successor_pid"));
		probe_add(pr, obj_num(it, "hot_standby_pid"));
		if (is_a && obj_num(it, "pid") > 0 && cJSON_IsString(name)) {
			pr->simd_workers += strcmp(name->valuestring, "svc-simd") == 0;
			pr->net_workers += strcmp(name->valuestring, "svc-net") == 0;
		}
	}
	if (!is_a)
		pr->dcache_bytes = obj_num(cJSON_GetObjectItemCaseSensitive(root, "delta_cache"), "bytes");
	cJSON_Delete(root);
}

void bench_xfer_probe_nodes(const char *inst_a, const char *inst_b, struct bench_xfer_probe *pr)
{
	memset(pr, 0, sizeof(*pr));
	probe_node(inst_a, 1, pr);
	probe_node(inst_b, 0, pr);
}

void bench_xfer_probe_pair(const struct bench_xfer_ctx *c, struct bench_xfer_probe *pr)
{
	bench_xfer_probe_nodes(c->inst_a, c->inst_b, pr);
}

double bench_xfer_probe_cpu_s(const struct bench_xfer_probe *before,
			      const struct bench_xfer_probe *after)
{
	double sum = 0;

	for (unsigned i = 0; i < after->n; i++) {
		double s = after->p[i].s;

		for (unsigned j = 0; j < before->n; j++)
			if (before->p[j].pid == after->p[i].pid)
				s -= before->p[j].s;
		sum += s;
	}
	return sum;
}

double bench_xfer_children_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
