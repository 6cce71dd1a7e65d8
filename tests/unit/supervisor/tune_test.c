/* dwcpctl tune tests: value normalization and comparison, reading below a
 * fake /proc/sys (a missing entry is "unavailable", never a failure), the
 * BBR availability note and fix, the exit status, the JSON shape, and the
 * sysctl.d text the table prints.
 *
 * tune.c belongs to the dwcpctl binary, not to a library the Makefile
 * links into tests, so this test includes the source file itself: it
 * tests a binary's internals, through the functions tune.h declares.
 * Each test builds its own fake /proc/sys in a mkdtemp directory; a
 * failing assertion prints the result or output it was looking at. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "svc-supervisor/tune.c"

static char root[64];

static void make_root(void)
{
	snprintf(root, sizeof(root), "/tmp/dwcp-tune-XXXXXX");
	cr_assert_not_null(mkdtemp(root), "mkdtemp: %s", strerror(errno));
}

static void remove_root(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", root);
}

TestSuite(tune, .init = make_root, .fini = remove_root);

/* Write sysctl @p name (dots) with @p text below the fake root. */
static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;
	size_t n = (size_t)snprintf(path, sizeof(path), "%s/%s", root, name);

	cr_assert_lt(n, sizeof(path));
	for (char *p = path + strlen(root) + 1; *p != '\0'; p++) {
		if (*p != '.')
			continue;
		*p = '\0';
		cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path,
			  strerror(errno));
		*p = '/';
	}
	f = fopen(path, "w");
	cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void unput(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	for (char *p = path + strlen(root) + 1; *p != '\0'; p++)
		*p = *p == '.' ? '/' : *p;
	cr_assert_eq(unlink(path), 0, "unlink %s: %s", path, strerror(errno));
}

/* Every setting as recommended, the way the kernel prints it (tabs
 * between fields, a final newline), and bbr loaded. */
static void put_all_recommended(void)
{
	for (size_t i = 0; i < sup_tune_n_settings; i++) {
		char text[SUP_TUNE_VALUE_MAX + 1];
		size_t n = (size_t)snprintf(text, sizeof(text), "%s\n", sup_tune_settings[i].value);

		for (size_t j = 0; j < n; j++)
			text[j] = text[j] == ' ' ? '\t' : text[j];
		put(sup_tune_settings[i].name, text);
	}
	put(CC_AVAIL, "reno cubic bbr\n");
}

static const struct sup_tune_setting *setting(const char *name)
{
	for (size_t i = 0; i < sup_tune_n_settings; i++) {
		if (strcmp(sup_tune_settings[i].name, name) == 0)
			return &sup_tune_settings[i];
	}
	cr_assert_fail("no setting %s in the table", name);
	return NULL;
}

/* Run the whole check into a string; the caller frees *text. */
static int run_to_string(bool json, char **text)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	int rc;

	cr_assert_not_null(f);
	rc = sup_tune_run(root, json, f);
	fclose(f);
	return rc;
}

#define DUMP(r) "result: state %d, current '%s', fix '%s', note '%s'", (int)(r).state, \
	(r).current, (r).fix, (r).note

/* ---- values ---- */

Test(tune, normalize_collapses_whitespace)
{
	char out[SUP_TUNE_VALUE_MAX];

	sup_tune_normalize("4096\t87380  67108864", out, sizeof(out));
	cr_assert_str_eq(out, "4096 87380 67108864");
	sup_tune_normalize(" \t4096\t87380\t67108864\n", out, sizeof(out));
	cr_assert_str_eq(out, "4096 87380 67108864");
	sup_tune_normalize("bbr\n", out, sizeof(out));
	cr_assert_str_eq(out, "bbr");
	sup_tune_normalize(" \n\t", out, sizeof(out));
	cr_assert_str_eq(out, "");
}

/* Cut like snprintf, but never glue two fields together. */
Test(tune, normalize_truncates_to_fit)
{
	char out[8], tiny[4];

	sup_tune_normalize("4096\t87380\t67108864", out, sizeof(out));
	cr_assert_str_eq(out, "4096 87");
	sup_tune_normalize("1234567890", out, sizeof(out));
	cr_assert_str_eq(out, "1234567");
	sup_tune_normalize("ab\tcd", tiny, sizeof(tiny));
	cr_assert_str_eq(tiny, "ab");   /* not "abc" */
}

Test(tune, value_ok_exact_ignores_whitespace)
{
	const struct sup_tune_setting *s = setting("net.ipv4.tcp_rmem");

	cr_assert(sup_tune_value_ok(s, "4096\t87380  67108864\n"));
	cr_assert(!sup_tune_value_ok(s, "4096 87380 6710886"));
	cr_assert(!sup_tune_value_ok(s, "4096 131072 6291456"));
	cr_assert(sup_tune_value_ok(setting(CC_NAME), "bbr\n"));
	cr_assert(!sup_tune_value_ok(setting(CC_NAME), "cubic"));
}

Test(tune, value_ok_at_least_for_limits)
{
	const struct sup_tune_setting *s = setting("net.core.rmem_max");

	cr_assert_eq(s->cmp, SUP_TUNE_AT_LEAST);
	cr_assert(sup_tune_value_ok(s, "67108864\n"));
	cr_assert(sup_tune_value_ok(s, "134217728"));
	cr_assert(!sup_tune_value_ok(s, "67108863"));
	cr_assert(!sup_tune_value_ok(s, "212992"));
	cr_assert(!sup_tune_value_ok(s, "lots"));
	cr_assert(!sup_tune_value_ok(s, "67108864 1"));
	/* an exact one is not satisfied by more */
	cr_assert(!sup_tune_value_ok(setting("net.ipv4.tcp_notsent_lowat"), "4294967295"));
}

/* ---- checking below a root ---- */

Test(tune, missing_path_is_unavailable)
{
	struct sup_tune_result r;

	sup_tune_check_one(root, setting("net.core.netdev_max_backlog"), &r);
	cr_assert_eq(r.state, SUP_TUNE_UNAVAILABLE, DUMP(r));
	cr_assert_str_eq(r.current, "unavailable");
	cr_assert_str_eq(r.fix, "");
	cr_assert(strstr(r.note, strerror(ENOENT)) != NULL, DUMP(r));

	sup_tune_check_one("/nonexistent/proc/sys", setting("net.core.rmem_max"), &r);
	cr_assert_eq(r.state, SUP_TUNE_UNAVAILABLE, DUMP(r));
}

Test(tune, read_maps_dots_to_directories)
{
	char out[SUP_TUNE_VALUE_MAX];

	put("net.ipv4.tcp_wmem", "4096\t16384\t4194304\n");
	cr_assert_eq(sup_tune_read(root, "net.ipv4.tcp_wmem", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "4096 16384 4194304");
	cr_assert_eq(sup_tune_read(root, "net.ipv4.nope", out, sizeof(out)), -ENOENT);
	cr_assert_eq(sup_tune_read(root, "net/ipv4/tcp_wmem", out, sizeof(out)), -EINVAL);
}

Test(tune, change_has_sysctl_fix_quoted_when_needed)
{
	struct sup_tune_result r;

	put("net.ipv4.tcp_rmem", "4096\t131072\t6291456\n");
	sup_tune_check_one(root, setting("net.ipv4.tcp_rmem"), &r);
	cr_assert_eq(r.state, SUP_TUNE_CHANGE, DUMP(r));
	cr_assert_str_eq(r.current, "4096 131072 6291456");
	cr_assert_str_eq(r.fix, "sysctl -w net.ipv4.tcp_rmem=\"4096 87380 67108864\"");

	put("net.core.somaxconn", "128\n");
	sup_tune_check_one(root, setting("net.core.somaxconn"), &r);
	cr_assert_eq(r.state, SUP_TUNE_CHANGE, DUMP(r));
	cr_assert_str_eq(r.fix, "sysctl -w net.core.somaxconn=4096");

	put("net.core.somaxconn", "8192\n");
	sup_tune_check_one(root, setting("net.core.somaxconn"), &r);
	cr_assert_eq(r.state, SUP_TUNE_OK, DUMP(r));
	cr_assert_str_eq(r.fix, "");
}

Test(tune, bbr_not_loaded_needs_modprobe)
{
	struct sup_tune_result r;

	put(CC_NAME, "cubic\n");
	put(CC_AVAIL, "reno cubic\n");
	sup_tune_check_one(root, setting(CC_NAME), &r);
	cr_assert_eq(r.state, SUP_TUNE_CHANGE, DUMP(r));
	cr_assert_str_eq(r.fix, "modprobe tcp_bbr && sysctl -w net.ipv4.tcp_congestion_control=bbr");
	cr_assert(strstr(r.note, "bbr is not available") && strstr(r.note, "reno cubic") &&
		  strstr(r.note, "modprobe tcp_bbr"), DUMP(r));

	put(CC_AVAIL, "reno cubic bbr2\n");   /* a longer name is not bbr */
	sup_tune_check_one(root, setting(CC_NAME), &r);
	cr_assert(strstr(r.fix, "modprobe tcp_bbr") != NULL, DUMP(r));
}

Test(tune, bbr_loaded_needs_sysctl_only)
{
	struct sup_tune_result r;

	put(CC_NAME, "cubic\n");
	put(CC_AVAIL, "reno bbr cubic\n");
	sup_tune_check_one(root, setting(CC_NAME), &r);
	cr_assert_eq(r.state, SUP_TUNE_CHANGE, DUMP(r));
	cr_assert_str_eq(r.fix, "sysctl -w net.ipv4.tcp_congestion_control=bbr");
	cr_assert(strstr(r.note, "bbr is available") != NULL, DUMP(r));

	put(CC_NAME, "bbr\n");
	sup_tune_check_one(root, setting(CC_NAME), &r);
	cr_assert_eq(r.state, SUP_TUNE_OK, DUMP(r));
	cr_assert_str_eq(r.fix, "");
}

/* ---- the whole check ---- */

Test(tune, all_recommended_exits_0)
{
	char *text = NULL, want[64];
	int rc;

	put_all_recommended();
	rc = run_to_string(false, &text);
	cr_assert_eq(rc, 0, "exit %d; output:\n%s", rc, text);
	snprintf(want, sizeof(want), "all %zu available settings are as recommended",
		 sup_tune_n_settings);
	cr_assert(strstr(text, want) != NULL, "no '%s' in:\n%s", want, text);
	cr_assert(strstr(text, "CHANGE") == NULL && strstr(text, "sysctl -w") == NULL, "%s", text);
	free(text);
}

Test(tune, one_change_exits_1_with_fix_and_permanent_line)
{
	char *text = NULL;
	int rc;

	put_all_recommended();
	put("net.ipv4.tcp_slow_start_after_idle", "1\n");
	rc = run_to_string(false, &text);
	cr_assert_eq(rc, 1, "exit %d; output:\n%s", rc, text);
	cr_assert(strstr(text, "1 of ") && strstr(text, " settings need a change"), "%s", text);
	cr_assert(strstr(text, "  sysctl -w net.ipv4.tcp_slow_start_after_idle=0\n") != NULL, "%s",
		  text);
	cr_assert(strstr(text, "to make it permanent: cp deploy/sysctl.d/90-dwcp-net.conf /etc/sysctl.d/ && sysctl --system") != NULL,
		  "%s", text);
	free(text);
}

Test(tune, unavailable_are_listed_not_counted)
{
	FILE *null = fopen("/dev/null", "w");
	char *text = NULL;
	int rc;

	cr_assert_not_null(null);
	put_all_recommended();
	unput("net.core.netdev_max_backlog");
	rc = run_to_string(false, &text);
	cr_assert_eq(rc, 0, "exit %d; output:\n%s", rc, text);
	cr_assert(strstr(text, "net.core.netdev_max_backlog") && strstr(text, "unavailable"), "%s",
		  text);
	cr_assert(strstr(text, "1 setting(s) unavailable here") != NULL, "%s", text);
	free(text);

	rc = sup_tune_run("/nonexistent/proc/sys", true, null);
	fclose(null);
	cr_assert_eq(rc, 0, "an empty /proc/sys needs no change, exit %d", rc);
}

static void expect_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	cr_assert(cJSON_IsString(v), "\"%s\" missing or not a string in the entry for %s", key,
		  cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name")));
}

Test(tune, json_shape)
{
	char *text = NULL;
	cJSON *arr, *o;
	size_t i = 0;
	int rc;

	put_all_recommended();
	put("net.core.rmem_max", "212992\n");
	unput("net.ipv4.tcp_fastopen");
	rc = run_to_string(true, &text);
	cr_assert_eq(rc, 1, "exit %d", rc);
	arr = cJSON_Parse(text);
	cr_assert(cJSON_IsArray(arr), "not a JSON array:\n%s", text);
	cr_assert_eq((size_t)cJSON_GetArraySize(arr), sup_tune_n_settings);
	cJSON_ArrayForEach(o, arr) {
		const struct sup_tune_setting *s = &sup_tune_settings[i++];
		const char *name = cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring;
		const char *status;
		bool ok;

		for (const char *const *k = (const char *const[]){ "name", "current", "recommended",
				"compare", "status", "fix", "note", NULL }; *k; k++)
			expect_string(o, *k);
		cr_assert(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "ok")), "ok not a bool");
		cr_assert_str_eq(name, s->name);
		cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "recommended")->valuestring,
				 s->value);
		ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
		status = cJSON_GetObjectItemCaseSensitive(o, "status")->valuestring;
		if (strcmp(name, "net.core.rmem_max") == 0) {
			cr_assert(!ok && strcmp(status, "change") == 0, "%s", status);
			cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "fix")->valuestring,
					 "sysctl -w net.core.rmem_max=67108864");
			cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "current")->valuestring,
					 "212992");
		} else if (strcmp(name, "net.ipv4.tcp_fastopen") == 0) {
			cr_assert(!ok && strcmp(status, "unavailable") == 0, "%s", status);
			cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "current")->valuestring,
					 "unavailable");
		} else {
			cr_assert(ok && strcmp(status, "ok") == 0, "%s: %s", name, status);
		}
	}
	cJSON_Delete(arr);
	free(text);
}

/* ---- the sysctl.d text ---- */

Test(tune, print_conf_has_each_setting_under_its_reason)
{
	char *text = NULL, want[512];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	sup_tune_print_conf(f);
	fclose(f);
	cr_assert(strncmp(text, "# dwcp: ", 8) == 0, "header: %.80s", text);
	for (size_t i = 0; i < sup_tune_n_settings; i++) {
		const struct sup_tune_setting *s = &sup_tune_settings[i];

		cr_assert(strchr(s->why, '\n') == NULL, "%s: reason spans lines", s->name);
		cr_assert(strchr(s->value, '\t') == NULL && strstr(s->value, "  ") == NULL,
			  "%s: value '%s' not normalized", s->name, s->value);
		snprintf(want, sizeof(want), "\n# %s\n%s = %s\n", s->why, s->name, s->value);
		cr_assert(strstr(text, want) != NULL, "missing block:\n%s", want);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(sup_tune_settings[j].name, s->name, "listed twice");
	}
	free(text);
}
