/* bench/history.c: what `dwcp bench compare` calls moved (beyond the
 * noise each side's own runs show), and the history file it reads. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bench/history.h"

static cJSON *run(double gbs, double p99, double workers_gbs)
{
	char text[256];

	snprintf(text, sizeof(text),
		 "{\"size_mib\":256,\"zstd1\":{\"gbs\":%g,\"send\":{\"p99_us\":%g}},\"scaling\":[{\"gbs\":%g}],\"note\":\"x\"}",
		 gbs, p99, workers_gbs);
	return cJSON_Parse(text);
}

static const struct bench_moved *find(const struct bench_moved *m, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].path, path))
			return &m[i];
	return NULL;
}

Test(bench_compare, a_shift_beyond_both_sides_noise_is_moved_and_a_wobble_is_not)
{
	cJSON *a[3] = { run(0.30, 100, 1.0), run(0.31, 120, 1.1), run(0.32, 110, 0.9) };
	cJSON *b[3] = { run(0.40, 115, 0.95), run(0.41, 105, 1.05), run(0.42, 118, 1.0) };
	struct bench_moved m[16];
	size_t n = bench_compare((const cJSON *const *)a, 3, (const cJSON *const *)b, 3, m, 16);
	const struct bench_moved *g = find(m, n, "zstd1.gbs"), *p = find(m, n, "zstd1.send.p99_us");
	const struct bench_moved *w = find(m, n, "scaling.0.gbs"), *s = find(m, n, "size_mib");

	cr_assert_eq(n, 4, "figures: %zu", n);
	cr_assert_not_null(g);
	cr_expect_eq(g->moved, 1);
	cr_expect_float_eq(g->a_med, 0.31, 1e-9);
	cr_expect_float_eq(g->b_med, 0.41, 1e-9);
	cr_expect_float_eq(g->a_noise, 0.01, 1e-9);
	cr_assert_not_null(p);
	cr_expect_eq(p->moved, 0, "p99 moved within its noise");
	cr_assert_not_null(w);
	cr_expect_eq(w->moved, 0);
	cr_assert_not_null(s);
	cr_expect_eq(s->moved, 0);
	for (int i = 0; i < 3; i++)
		cJSON_Delete(a[i]), cJSON_Delete(b[i]);
}

Test(bench_compare, one_run_a_side_measures_no_noise_and_calls_nothing_moved)
{
	cJSON *a = run(0.3, 100, 1), *b = run(0.9, 900, 9);
	struct bench_moved m[16];
	size_t n = bench_compare((const cJSON *const *)&a, 1, (const cJSON *const *)&b, 1, m, 16);

	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(m[i].moved, 0, "%s", m[i].path);
		cr_expect(isnan(m[i].a_noise));
	}
	cJSON_Delete(a), cJSON_Delete(b);
}

Test(bench_compare, figures_missing_from_a_run_are_left_out)
{
	cJSON *a[2] = { run(0.3, 1, 1), cJSON_Parse("{\"zstd1\":{\"gbs\":0.31}}") };
	cJSON *b[2] = { run(0.5, 1, 1), run(0.51, 1, 1) };
	struct bench_moved m[16];
	size_t n = bench_compare((const cJSON *const *)a, 2, (const cJSON *const *)b, 2, m, 16);

	cr_assert_eq(n, 1, "only zstd1.gbs is in every run");
	cr_expect_str_eq(m[0].path, "zstd1.gbs");
	cr_expect_eq(m[0].moved, 1);
	for (int i = 0; i < 2; i++)
		cJSON_Delete(a[i]), cJSON_Delete(b[i]);
}

Test(bench_compare, history_lines_append_and_compare_reads_them_by_label)
{
	char dir[] = "/tmp/dwcp-hist-XXXXXX", path[128], why[256], line[4096];
	char *argv[] = { "compare", "--history", path, "before", "after", NULL };
	char *argv_bad[] = { "compare", "--history", path, "before", "nosuch", NULL };
	FILE *f;
	unsigned lines = 0;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/history.jsonl", dir);
	for (int i = 0; i < 3; i++) {
		cJSON *r = run(0.3 + 0.01 * i, 100, 1);

		cr_assert_eq(bench_history_append(path, "transfer", "before", r, why, sizeof(why)), 0, "%s", why);
		cJSON_Delete(r);
		r = run(0.5 + 0.01 * i, 100, 1);
		cr_assert_eq(bench_history_append(path, "transfer", "after", r, why, sizeof(why)), 0, "%s", why);
		cJSON_Delete(r);
	}
	f = fopen(path, "re");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		cJSON *o = cJSON_Parse(line);

		cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(o, "result"), "%s", line);
		cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(o, "time"));
		cJSON_Delete(o);
		lines++;
	}
	fclose(f);
	cr_expect_eq(lines, 6);
	cr_expect_eq(dwcp_cli_bench_compare(5, argv), 0);
	cr_expect_eq(dwcp_cli_bench_compare(5, argv_bad), 1, "an unknown label must fail");
	snprintf(line, sizeof(line), "rm -rf '%s'", dir);
	cr_expect_eq(system(line), 0);
}

Test(bench_compare, a_history_that_cannot_be_written_says_where_and_how)
{
	char why[256];
	cJSON *r = run(1, 1, 1);

	cr_expect_neq(bench_history_append("/proc/nope/history.jsonl", "transfer", "x", r, why, sizeof(why)), 0);
	cr_expect(strstr(why, "--history FILE") != NULL, "%s", why);
	cJSON_Delete(r);
}
