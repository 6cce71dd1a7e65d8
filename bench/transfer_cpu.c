/* CPU time of a `dwcp bench transfer` run. The nodes' processes are not
 * our children (the supervisor daemonizes), so their utime+stime comes
 * from /proc/<pid>/stat of every pid the supervisors' status lists
 * (supervisor, services, successors, hot standbys), read before and
 * after the transfer; send and recv are ours, so theirs comes from
 * getrusage(RUSAGE_CHILDREN) once both have been waited for.
 */
#define _GNU_SOURCE
#include <dirent.h>
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

/* utime + stime in seconds from the stat file at @p path (fields 14 and
 * 15, counted after the ")" that ends the name, which may hold spaces),
 * and the name into @p comm (NULL: not wanted); NAN when it is gone. */
static double stat_cpu_s(const char *path, char *comm, size_t comm_len)
{
	char buf[1024], *open_paren, *at, *end;
	unsigned long long ut, st;
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return NAN;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	at = strrchr(buf, ')');
	if (!open_paren || !at || at < open_paren)
		return NAN;
	if (comm)
		snprintf(comm, comm_len, "%.*s", (int)(at - open_paren - 1), open_paren + 1);
	/* Each pass moves @p at to the space before field + 1: before 14 at the end. */
	for (unsigned field = 2; at && field < 14; field++)
		at = strchr(at + 1, ' ');
	if (!at)
		return NAN;
	ut = strtoull(at + 1, &end, 10);
	st = strtoull(end, &end, 10);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu_s(pid_t pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	return stat_cpu_s(p, NULL, 0);
}

/* Thread @p tid of @p pid: its CPU seconds and its name (comm). */
static double thread_cpu_s(pid_t pid, pid_t tid, char *comm, size_t comm_len)
{
	char p[96];

	snprintf(p, sizeof(p), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	return stat_cpu_s(p, comm, comm_len);
}

static void probe_threads(struct bench_xfer_probe *pr, pid_t pid, char node, const char *proc)
{
	char p[64], comm[24];
	struct dirent *d;
	DIR *dir;

	snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
	dir = opendir(p);
	while (dir && (d = readdir(dir)) != NULL && pr->nt < MAX_THREADS) {
		char *end;
		long v = strtol(d->d_name, &end, 10);
		pid_t tid = *end || v <= 0 ? 0 : (pid_t)v;   /* "." and ".." are no thread */
		double s = tid > 0 ? thread_cpu_s(pid, tid, comm, sizeof(comm)) : NAN;

		if (isnan(s))
			continue;
		pr->t[pr->nt].tid = tid;
		pr->t[pr->nt].s = s;
		snprintf(pr->t[pr->nt].name, sizeof(pr->t[pr->nt].name), "%c %s/%s", node, proc, comm);
		pr->nt++;
	}
	if (dir)
		closedir(dir);
}

static void probe_add(struct bench_xfer_probe *pr, double pid, char node, const char *proc)
{
	double s;

	if (!(pid > 0) || pr->n == MAX_PIDS)
		return;
	s = proc_cpu_s((pid_t)pid);
	if (isnan(s))
		return;
	pr->p[pr->n].pid = (pid_t)pid;
	pr->p[pr->n++].s = s;
	probe_threads(pr, (pid_t)pid, node, proc);
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
	const char node = is_a ? 'A' : 'B';
	const cJSON *it;

	if (!root)
		return;
	probe_add(pr, obj_num(cJSON_GetObjectItemCaseSensitive(root, "supervisor"), "pid"), node,
		  "supervisor");
	sv = cJSON_GetObjectItemCaseSensitive(root, "services");
	cJSON_ArrayForEach(it, sv) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "service");
		const cJSON *slot_name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const char *proc = cJSON_IsString(slot_name) ? slot_name->valuestring : "service";

		probe_add(pr, obj_num(it, "pid"), node, proc);
		probe_add(pr, obj_num(it, "successor_pid"), node, proc);
		probe_add(pr, obj_num(it, "hot_standby_pid"), node, proc);
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

static void busy_offer(struct bench_xfer_busy out[BUSIEST], const char *name, double s)
{
	unsigned i = BUSIEST;

	while (i > 0 && out[i - 1].s < s)
		i--;
	if (i == BUSIEST)
		return;
	memmove(&out[i + 1], &out[i], (BUSIEST - 1 - i) * sizeof(out[0]));
	snprintf(out[i].name, sizeof(out[i].name), "%s", name);
	out[i].s = s;
}

void bench_xfer_probe_busiest(const struct bench_xfer_probe *before, const struct bench_xfer_probe *after,
			      double snd_s, double rcv_s, struct bench_xfer_busy out[BUSIEST])
{
	memset(out, 0, BUSIEST * sizeof(out[0]));
	for (unsigned i = 0; i < after->nt; i++) {
		double s = after->t[i].s;

		for (unsigned j = 0; j < before->nt; j++)
			if (before->t[j].tid == after->t[i].tid)
				s -= before->t[j].s;
		busy_offer(out, after->t[i].name, s);
	}
	busy_offer(out, "dwcp send (main thread)", snd_s);
	busy_offer(out, "dwcp recv (main thread)", rcv_s);
}

double bench_xfer_children_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
