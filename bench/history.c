/* Bench history and `dwcp bench compare` (history.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/paths.h"
#include "history.h"

#define MAX_RUNS   256u
#define MAX_FIGS   512u
#define LINE_MAX_B (1u << 20)

const char *bench_history_path(const char *opt)
{
	const char *env = getenv("DWCP_BENCH_HISTORY");

	return opt ? opt : env && *env ? env : BENCH_HISTORY_DEFAULT;
}

void bench_history_label(const char *opt, char *out, size_t n)
{
	struct stat st;
	struct tm tm;

	if (opt) {
		snprintf(out, n, "%s", opt);
		return;
	}
	if (stat("/proc/self/exe", &st) || !gmtime_r(&st.st_mtime, &tm)) {
		snprintf(out, n, "build-unknown");
		return;
	}
	strftime(out, n, "build-%Y%m%dT%H%M%S", &tm);
}

int bench_history_append(const char *path, const char *bench, const char *label,
			 const cJSON *result, char *why, size_t why_n)
{
	cJSON *o = cJSON_CreateObject();
	char host[256] = "", when[32];
	time_t now = time(NULL);
	struct tm tm;
	char *line = NULL;
	int rc = 0, fd = -1;

	gethostname(host, sizeof(host) - 1);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!o || !cJSON_AddStringToObject(o, "bench", bench) ||
	    !cJSON_AddStringToObject(o, "label", label) || !cJSON_AddStringToObject(o, "time", when) ||
	    !cJSON_AddStringToObject(o, "host", host) ||
	    !cJSON_AddNumberToObject(o, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN)) ||
	    !cJSON_AddItemToObject(o, "result", cJSON_Duplicate(result, 1)) ||
	    !(line = cJSON_PrintUnformatted(o))) {
		rc = -ENOMEM;
		snprintf(why, why_n, "out of memory");
		goto out;
	}
	rc = dwcp_mkdir_parents(path, 0755);
	if (!rc && (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		rc = -errno;
	/* One write of the whole line: concurrent runs never interleave. */
	if (!rc) {
		size_t len = strlen(line);

		line[len] = '\n';
		if (write(fd, line, len + 1) != (ssize_t)(len + 1))
			rc = errno ? -errno : -EIO;
		line[len] = '\0';
	}
	if (rc)
		snprintf(why, why_n, "cannot append to %s: %s (--history FILE or $DWCP_BENCH_HISTORY names another)",
			 path, strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	free(line);
	cJSON_Delete(o);
	return rc;
}

/* ---- comparing ------------------------------------------------------- */

struct fig {
	char path[160];
	double a[MAX_RUNS], b[MAX_RUNS];
	unsigned na, nb;
};

struct figs {
	struct fig *v;
	size_t n;
};

static struct fig *fig_of(struct figs *f, const char *path)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].path, path))
			return &f->v[i];
	if (f->n == MAX_FIGS)
		return NULL;
	memset(&f->v[f->n], 0, sizeof(f->v[0]));
	snprintf(f->v[f->n].path, sizeof(f->v[0].path), "%s", path);
	return &f->v[f->n++];
}

/* Numeric leaves of @p o under @p prefix; arrays index as "scaling.0.gbs". */
static void collect(struct figs *f, const cJSON *o, const char *prefix, int side)
{
	const cJSON *c;
	unsigned i = 0;
	char p[160];

	cJSON_ArrayForEach(c, o) {
		if (cJSON_IsArray(o))
			snprintf(p, sizeof(p), "%s%s%u", prefix, *prefix ? "." : "", i++);
		else
			snprintf(p, sizeof(p), "%s%s%s", prefix, *prefix ? "." : "", c->string);
		if (cJSON_IsNumber(c)) {
			struct fig *g = fig_of(f, p);

			if (g && side == 0 && g->na < MAX_RUNS)
				g->a[g->na++] = c->valuedouble;
			else if (g && side == 1 && g->nb < MAX_RUNS)
				g->b[g->nb++] = c->valuedouble;
		} else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
			collect(f, c, p, side);
		}
	}
}

static int cmp_d(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static void stats(double *v, unsigned n, double *med, double *noise)
{
	qsort(v, n, sizeof(v[0]), cmp_d);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*noise = n >= 2 ? (v[n - 1] - v[0]) / 2 : NAN;
}

static int by_path(const void *x, const void *y)
{
	return strcmp(((const struct bench_moved *)x)->path, ((const struct bench_moved *)y)->path);
}

size_t bench_compare(const cJSON *const *a, unsigned na, const cJSON *const *b, unsigned nb,
		     struct bench_moved *out, size_t max)
{
	struct figs f = { .v = calloc(MAX_FIGS, sizeof(struct fig)) };
	size_t k = 0;

	if (!f.v)
		return 0;
	for (unsigned i = 0; i < na && i < MAX_RUNS; i++)
		collect(&f, a[i], "", 0);
	for (unsigned i = 0; i < nb && i < MAX_RUNS; i++)
		collect(&f, b[i], "", 1);
	for (size_t i = 0; i < f.n && k < max; i++) {
		struct fig *g = &f.v[i];
		struct bench_moved *m = &out[k];

		/* Only figures every run of both sides has. */
		if (g->na != na || g->nb != nb || !na || !nb)
			continue;
		snprintf(m->path, sizeof(m->path), "%s", g->path);
		m->a_n = g->na, m->b_n = g->nb;
		stats(g->a, g->na, &m->a_med, &m->a_noise);
		stats(g->b, g->nb, &m->b_med, &m->b_noise);
		m->moved = 0;
		if (!isnan(m->a_noise) && !isnan(m->b_noise) &&
		    fabs(m->b_med - m->a_med) > m->a_noise + m->b_noise)
			m->moved = m->b_med > m->a_med ? 1 : -1;
		k++;
	}
	free(f.v);
	qsort(out, k, sizeof(out[0]), by_path);
	return k;
}

/* The "result" objects of @p bench's runs labelled @p label. */
static unsigned load(const char *path, const char *bench, const char *label, cJSON **runs,
		     cJSON **keep, unsigned *n_keep)
{
	FILE *f = fopen(path, "re");
	char *line = malloc(LINE_MAX_B);
	unsigned n = 0;

	while (f && line && fgets(line, LINE_MAX_B, f) && n < MAX_RUNS && *n_keep < 2 * MAX_RUNS) {
		cJSON *o = cJSON_Parse(line);
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bench");
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "label");
		cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "result");

		if (cJSON_IsString(b) && cJSON_IsString(l) && cJSON_IsObject(r) &&
		    !strcmp(b->valuestring, bench) && !strcmp(l->valuestring, label)) {
			runs[n++] = r;
			keep[(*n_keep)++] = o;
		} else {
			cJSON_Delete(o);
		}
	}
	if (f)
		fclose(f);
	free(line);
	return n;
}

int dwcp_cli_bench_compare(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "history", required_argument, NULL, 'H' }, { "bench", required_argument, NULL, 'b' },
		{ "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 },
	};
	const char *hist = NULL, *bench = "transfer";
	cJSON **a = calloc(MAX_RUNS, sizeof(*a)), **b = calloc(MAX_RUNS, sizeof(*b));
	cJSON **keep = calloc(2 * MAX_RUNS, sizeof(*keep));
	struct bench_moved *m = calloc(MAX_FIGS, sizeof(*m));
	unsigned na, nb, n_keep = 0, moved = 0;
	int c, all = 0, rc = 2;
	size_t k;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'H')
			hist = optarg;
		else if (c == 'b')
			bench = optarg;
		else if (c == 'a')
			all = 1;
		else
			goto usage;
	}
	if (optind + 2 != argc || !a || !b || !keep || !m)
		goto usage;
	hist = bench_history_path(hist);
	na = load(hist, bench, argv[optind], (cJSON **)a, keep, &n_keep);
	nb = load(hist, bench, argv[optind + 1], (cJSON **)b, keep, &n_keep);
	if (!na || !nb) {
		fprintf(stderr, "dwcp bench compare: no '%s' runs labelled '%s' in %s (labels come from --label, or the build: see the \"label\" of each line)\n",
			bench, !na ? argv[optind] : argv[optind + 1], hist);
		rc = 1;
		goto out;
	}
	k = bench_compare((const cJSON *const *)a, na, (const cJSON *const *)b, nb, m, MAX_FIGS);
	printf("dwcp bench compare: %s, %u run(s) labelled %s beside %u labelled %s (%s)\n", bench, na,
	       argv[optind], nb, argv[optind + 1], hist);
	if (na < 2 || nb < 2)
		printf("noise not measured: run each side at least twice (3+ is better); medians only, nothing is called moved\n");
	printf("%-44s %14s %10s %14s %10s %8s  %s\n", "figure", "A median", "A noise", "B median",
	       "B noise", "B/A", "");
	for (size_t i = 0; i < k; i++) {
		if (m[i].moved)
			moved++;
		if (!all && !m[i].moved && !(na < 2 || nb < 2))
			continue;
		printf("%-44s %14.6g %10.3g %14.6g %10.3g %8.3f  %s\n", m[i].path, m[i].a_med,
		       m[i].a_noise, m[i].b_med, m[i].b_noise,
		       m[i].a_med ? m[i].b_med / m[i].a_med : NAN,
		       m[i].moved > 0 ? "UP beyond noise" : m[i].moved < 0 ? "DOWN beyond noise" : "");
	}
	printf("%u of %zu figures moved beyond the noise (noise = half the range of each side's runs)\n",
	       moved, k);
	rc = 0;
	goto out;
usage:
	fprintf(stderr, "usage: dwcp bench compare [--history FILE] [--bench transfer] [--all] LABEL_A LABEL_B\n");
out:
	for (unsigned i = 0; i < n_keep; i++)
		cJSON_Delete(keep[i]);
	free(keep), free(a), free(b), free(m);
	return rc;
}
